"""Length-normalized DPO with TRL: settings, the `DPOConfig`, and the trainer for one round of pairs.

The loss is TRL's `sigmoid_norm` (Tulu 3's `dpo_norm`):
    loss = -log σ(β · [ (1/|y_w|)·log πθ/πref(y_w) - (1/|y_l|)·log πθ/πref(y_l) ])
where |y| counts completion tokens. Normalizing by length matters here: rejected doom loops are
long, and plain DPO would mostly learn "shorter is better" from their summed log-ratios.

`sft_weight > 0` adds TRL's `sft` loss (the chosen completions' token-mean NLL) with that weight, as
in RPO (Pang et al., 2024): preference losses can lower the chosen answers' likelihood along with
the rejected ones', and on tool calls that costs accuracy; the NLL term anchors the chosen calls.
TRL averages that term over the tokens of each process's batch, so under data parallelism the
processes' token means are averaged (equal weight per process, not per token).

The reference model is the policy at the start of the round (TRL reloads it from the policy's
folder when none is given), which is what semi-online DPO wants.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from datasets import Dataset
from trl import DPOConfig, DPOTrainer

TRL_COLUMNS = ("prompt", "chosen", "rejected")


@dataclass
class DPOSettings:
    """The `train:` section of the anti-loop recipe (per round)."""

    steps_per_round: int = 30
    batch_size: int = 8
    grad_accum: int = 1
    learning_rate: float = 5e-5
    beta: float = 5.0  # Tulu 3's value for the length-normalized loss
    sft_weight: float = 1.0  # weight of the chosen-NLL term (RPO); 0 = pure sigmoid_norm
    max_length: int = 1024
    warmup_steps: int = 0
    logging_steps: int = 5
    seed: int = 0
    num_threads: int = 1  # torch CPU threads (the dev machine is shared); 0 = torch's default
    bf16: bool = False  # bf16 autocast (weights stay fp32); on CPU cores with AVX512-BF16 about 1.9x faster
    report_to: str = "none"  # "wandb" to log (offline unless WANDB_MODE says otherwise)


def dpo_config(settings: DPOSettings, output_dir: str, run_name: str = "dpo") -> DPOConfig:
    """TRL's DPOConfig for one round: length-normalized sigmoid loss (+ chosen NLL), fixed steps, no checkpoints."""
    return DPOConfig(
        output_dir=output_dir,
        loss_type=["sigmoid_norm", "sft"] if settings.sft_weight > 0 else ["sigmoid_norm"],
        loss_weights=[1.0, settings.sft_weight] if settings.sft_weight > 0 else None,
        beta=settings.beta,
        max_steps=settings.steps_per_round,
        per_device_train_batch_size=settings.batch_size,
        gradient_accumulation_steps=settings.grad_accum,
        learning_rate=settings.learning_rate,
        lr_scheduler_type="constant_with_warmup",
        warmup_steps=settings.warmup_steps,
        max_length=settings.max_length,
        logging_steps=settings.logging_steps,
        save_strategy="no",  # the recipe saves each round's model itself (round state)
        seed=settings.seed,
        report_to=settings.report_to,
        run_name=run_name,
        bf16=settings.bf16,
        gradient_checkpointing=False,  # costs time, saves nothing on tiny CPU models
        use_cpu=not torch.cuda.is_available(),
        dataset_num_proc=None,
    )


def trl_pairs(pairs: Dataset) -> Dataset:
    """Only the columns TRL trains on (the audit columns stay in the saved round data)."""
    missing = [c for c in TRL_COLUMNS if c not in pairs.column_names]
    if missing:
        raise ValueError(f"pair dataset lacks column(s) {missing}; has {pairs.column_names}")
    return pairs.select_columns(list(TRL_COLUMNS))


def make_dpo_trainer(
    model: Any, tokenizer: Any, pairs: Dataset, settings: DPOSettings, output_dir: str, ref_model: Any = None
) -> DPOTrainer:
    """A DPOTrainer (sigmoid_norm) on the prompt/chosen/rejected columns of `pairs`."""
    return DPOTrainer(
        model=model,
        ref_model=ref_model,
        args=dpo_config(settings, output_dir, run_name=output_dir.rstrip("/").split("/")[-1]),
        train_dataset=trl_pairs(pairs),
        processing_class=tokenizer,
    )
