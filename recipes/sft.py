"""python recipes/sft.py [--config recipes/configs/sft.yaml] [section.key=value ...]

Narrow SFT: TRL's SFTTrainer on tool-calling conversations, loss on assistant turns only.

1. Load the model (default: the embedded tiny LFM2) and rows from an env generator, a distil JSONL
   file or a BFCL question file (`data:` section).
2. Render each conversation with the `lfm2_v2_training` template, the tool list in the system turn
   in the configured `tool_style`, and keep the template's assistant mask: the loss covers the
   assistant's text, its tool calls and its end-of-turn token, nothing from system/user/tool turns.
3. Train (full weights, or LoRA on LFM2's attention/MLP/short-conv projections), then save a plain
   HF model to `<output_dir>/model` (LoRA merged in), with the resolved config beside it.

Resuming: with `train.save_steps > 0`, a rerun continues from the newest checkpoint in output_dir.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch
from trl import SFTConfig, SFTTrainer

from rlkit.chat import ToolStyle
from rlkit.chat_format import ChatFormat
from rlkit.train.checkpoint import ManifestCallback, resumable_trainer_checkpoint
from rlkit.train.tracking import TrackingSettings, log_metrics, tracked_run
from rlkit.config import ConfigError, parse_cli, save_config
from rlkit.train.distributed import close_processes
from rlkit.train.lora import LoraSettings, fit_fused_lm_head, peft_config, save_merged
from rlkit.model import load_model_and_tokenizer
from rlkit.sft.data import build_sft_dataset
from rlkit.sft.trainer import DirectLossSFTTrainer, embedding_lr_optimizer, use_direct_loss
from rlkit.data.sources import TaskSource, load_task_rows

log = logging.getLogger("recipes.sft")
DEFAULT_CONFIG = Path(__file__).parent / "configs" / "sft.yaml"


@dataclass
class SFTTrainSettings:
    """The `train:` section."""

    max_steps: int = 600
    batch_size: int = 8
    grad_accum: int = 1
    learning_rate: float = 2e-3
    embedding_learning_rate: float = 0.0  # full weights only: the embedding rows' own rate (0 = learning_rate); new tokens need more
    lr_scheduler: str = "cosine"
    warmup_steps: int = 20
    weight_decay: float = 0.0
    max_length: int = 1024  # longer conversations are skipped (and counted), never truncated
    packing: bool = False
    logging_steps: int = 20
    save_steps: int = 0  # 0 = no intermediate checkpoints
    seed: int = 0
    num_threads: int = 1  # torch CPU threads (the dev machine is shared); 0 = torch's default
    bf16: bool = False  # bf16 autocast, weights stay fp32 (GPU; on CPU cores with AVX512-BF16 1.9x faster: benchmarks/results/sft_smollm2.md)
    fused_lm_head: bool | None = None  # TRL's tiled LM head; None = on CUDA only (on CPU it halves the speed)
    report_to: str = "wandb"  # "none" to disable; wandb runs offline unless WANDB_MODE says otherwise


@dataclass
class SFTRecipeConfig:
    """Everything `recipes/sft.py` reads."""

    model: str = "tiny-lfm2"
    tool_style: ToolStyle = "compact"
    chat_format: ChatFormat = "auto"  # auto | lfm2 | native: how a template that drops tool calls is handled (rlkit.chat_format)
    output_dir: str = "runs/sft"
    data: TaskSource = field(default_factory=lambda: TaskSource(kind="episode", num_rows=3000))
    train: SFTTrainSettings = field(default_factory=SFTTrainSettings)
    lora: LoraSettings = field(default_factory=LoraSettings)
    tracking: TrackingSettings = field(default_factory=TrackingSettings)  # used when train.report_to is wandb


def main(config: SFTRecipeConfig) -> Path:
    """Train and return the folder of the saved (merged) model."""
    os.environ.setdefault("WANDB_MODE", "offline")
    if config.train.num_threads:
        torch.set_num_threads(config.train.num_threads)
    output_dir = Path(config.output_dir)
    save_config(config, output_dir / "config.yaml")

    model, tokenizer = load_model_and_tokenizer(config.model, chat_format=config.chat_format)
    if config.train.packing and model.config.model_type == "lfm2" and importlib.util.find_spec("causal_conv1d") is None:
        # transformers would fail at the first step: the short-conv layers cannot keep packed
        # sequences apart without the causal_conv1d kernel (a CUDA package).
        raise ConfigError("train.packing: LFM2 needs the causal_conv1d kernel (CUDA) to train on packed sequences")
    rows = load_task_rows(config.data)
    train_set, report = build_sft_dataset(rows, tokenizer, config.tool_style, config.train.max_length)
    log.info("SFT on %d conversations (%d skipped) from %s", report.kept, sum(report.skipped.values()), config.data.source)

    train = config.train
    args = SFTConfig(
        output_dir=str(output_dir),
        max_steps=train.max_steps,
        per_device_train_batch_size=train.batch_size,
        gradient_accumulation_steps=train.grad_accum,
        learning_rate=train.learning_rate,
        lr_scheduler_type=train.lr_scheduler,
        warmup_steps=train.warmup_steps,
        weight_decay=train.weight_decay,
        max_length=train.max_length,
        packing=train.packing,
        logging_steps=train.logging_steps,
        save_strategy="steps" if train.save_steps else "no",
        save_steps=train.save_steps or 500,
        seed=train.seed,
        report_to=train.report_to,
        run_name=output_dir.name,
        bf16=train.bf16,
        gradient_checkpointing=False,  # TRL turns it on by default; on tiny CPU models it only costs time
        use_cpu=not torch.cuda.is_available(),
    )
    trainer_class = DirectLossSFTTrainer if use_direct_loss(train.fused_lm_head) else SFTTrainer
    optimizer = None
    if train.embedding_learning_rate:
        if config.lora.enabled:
            raise ConfigError("train.embedding_learning_rate is for full-weight SFT; with LoRA the token rows train in the adapter")
        optimizer = embedding_lr_optimizer(model, train.learning_rate, train.embedding_learning_rate, train.weight_decay)
    trainer = trainer_class(
        optimizers=(optimizer, None),
        model=model,
        args=args,
        train_dataset=train_set,
        processing_class=tokenizer,
        peft_config=peft_config(config.lora, model, tokenizer),
        callbacks=[ManifestCallback()],  # seals each checkpoint-N so a half-written one is never resumed
    )
    fit_fused_lm_head(trainer.model)  # LoRA's trainable tool-token rows under TRL's fused LM head
    checkpoint = resumable_trainer_checkpoint(output_dir) if train.save_steps else None
    if checkpoint:
        log.info("resuming SFT from %s", checkpoint)
    # The Trainer's wandb callback logs into this run (redacted config) instead of opening its own.
    with tracked_run(config.tracking, config, output_dir, enabled=train.report_to == "wandb") as run:
        log_metrics(run, {"conversations": report.kept, "skipped": sum(report.skipped.values())}, prefix="sft_data/")
        trainer.train(resume_from_checkpoint=checkpoint)

    (output_dir / "log_history.json").write_text(json.dumps(trainer.state.log_history, indent=1))
    model_dir = save_merged(trainer.model, tokenizer, output_dir / "model")
    log.info("SFT model saved to %s", model_dir)
    return model_dir


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    main(parse_cli(SFTRecipeConfig, sys.argv[1:], DEFAULT_CONFIG))
    close_processes()
