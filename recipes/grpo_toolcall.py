"""python recipes/grpo_toolcall.py [--config recipes/configs/grpo_toolcall.yaml] [section.key=value ...]

GRPO with verifiable tool-call rewards: TRL's GRPOTrainer (via rlkit.grpo.ToolCallGRPOTrainer,
which adds rollout metrics and dynamic sampling) on env tasks, distil JSONL or BFCL rows.

1. Load the policy `model` (default: the DPO recipe's output folder; a missing folder is an error
   naming the command that makes it).
2. Tasks. `task: single_turn`: each row's conversation up to the next assistant call, rendered as
   text with rlkit.chat.render_prompt (tool list in the system turn in `tool_style`, exactly as SFT
   and eval render it); rewards compare the completion's calls with the row's reference `answer`.
   `task: multi_turn`: whole env episodes (the model's calls run in the simulated env until it
   answers in text, `rollout.max_turns` or `rollout.max_episode_tokens`): with `rollout.backend: hf`
   TRL's own tool loop and the env adapter (rlkit/envs/trl_adapter.py) play them; with any rlkit
   engine, rlkit's token-in/token-out episode runner (rlkit.rollout.episodes via
   rlkit.grpo.rollout.EpisodeRolloutFunc: only the model's tokens train, no re-tokenization).
3. Rewards (TRL contract, rlkit.rewards): tool-call correctness (multi-turn: the env's final-state
   replay), n-gram repetition penalty, format; `rewards.*` are their weights (TRL's `reward_weights`).
   For rlkit-engine episodes the text rewards read the model's own turns only.
4. Rollouts: TRL's HF generate (`rollout.backend: hf`, the CPU default), or an rlkit engine:
   HF generate (`rlkit_hf`), vLLM colocated (`vllm_colocate`) or behind a server (`vllm_server`),
   which gets the policy's weights every step and checks the first push against the trainer's logprobs.
5. Train with `train.loss_type` (TRL's: dapo (default), grpo, dr_grpo, bnpo, ...), then save a plain
   HF model to `<output_dir>/model` (LoRA merged).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
from trl import GRPOConfig

from rlkit.chat import ToolStyle, render_prompt
from rlkit.chat_format import ChatFormat
from rlkit.train.checkpoint import ManifestCallback, resumable_trainer_checkpoint
from rlkit.config import parse_cli, save_config
from rlkit.train.distributed import close_processes
from rlkit.grpo.trainer import ToolCallGRPOTrainer
from rlkit.grpo.rollout import EngineRolloutFunc, EpisodeRolloutFunc, OnModelTurns, episode_reward, unique_prompt_rows
from rlkit.train.lora import LoraSettings, fit_fused_lm_head, peft_config, save_merged
from rlkit.model import end_of_turn_id, load_model_and_tokenizer, require_stage_input
from rlkit.rollout import make_rollout_engine
from rlkit.rollout.base import Decoding
from rlkit.rollout.episodes import EpisodeLimits
from rlkit.rewards import NgramRepetitionPenalty, format_reward, tool_call_reward
from rlkit.data.sources import TaskSource, load_task_rows
from rlkit.train.tracking import TrackingSettings, tracked_run

log = logging.getLogger("recipes.grpo_toolcall")
DEFAULT_CONFIG = Path(__file__).parent / "configs" / "grpo_toolcall.yaml"


@dataclass
class RewardWeights:
    """The `rewards:` section: one weight per reward function (0 switches a reward off)."""

    tool_call: float = 1.0
    repetition: float = 0.5
    format: float = 0.1
    repetition_n: int = 4  # n of the n-gram repetition penalty (word n-grams)


@dataclass
class RolloutSettings(Decoding):
    """The `rollout:` section: backend and sampling of the GRPO groups."""

    # hf: TRL's own HF generate (default). vllm_colocate / vllm_server: rlkit's vLLM engines with
    # verified weight sync (rlkit.grpo.rollout). rlkit_hf: the same engine path with HF generate
    # (tests the glue on machines without vLLM).
    backend: Literal["hf", "rlkit_hf", "vllm_colocate", "vllm_server"] = "hf"
    server_url: str = "http://127.0.0.1:8000/v1"  # vllm_server only
    served_model: str = ""  # vllm_server only: the name the server serves the policy under
    num_generations: int = 8
    max_completion_length: int = 64  # tokens per generation
    max_turns: int = 4  # multi_turn with an rlkit engine: model generations per episode
    max_episode_tokens: int = 256  # multi_turn with an rlkit engine: model + tool tokens after the prompt


@dataclass
class DynamicSamplingSettings:
    """The `dynamic_sampling:` section: drop zero-variance groups, refill from further prompts."""

    enabled: bool = True
    max_refills: int = 2  # extra generation rounds per step at most


@dataclass
class GRPOTrainSettings:
    """The `train:` section."""

    max_steps: int = 60
    prompts_per_step: int = 4  # the batch is prompts_per_step × rollout.num_generations completions
    # Completions per forward/backward pass (0: the whole batch in one). The batch is still generated
    # and scored at once; only the loss is accumulated over micro-batches. Activations grow with
    # rows x sequence length: 16 rows of ~1,170 tokens through SmolLM2-135M outgrew 24 GiB.
    micro_batch_size: int = 0
    learning_rate: float = 2e-4
    lr_scheduler: str = "constant"
    loss_type: str = "dapo"  # TRL's loss types: dapo, grpo, dr_grpo, bnpo, cispo, sapo
    beta: float = 0.0  # KL coefficient (0: no reference model, TRL's default)
    scale_rewards: str = "group"  # group | batch | none (dr_grpo's recommendation)
    logging_steps: int = 5
    save_steps: int = 0
    seed: int = 0
    num_threads: int = 1
    bf16: bool = False  # bf16 autocast (~1.9x on AVX512-BF16 CPUs); the engines sample in fp32, the loss is computed in bf16
    report_to: str = "wandb"
    log_completions: bool = False


@dataclass
class GRPORecipeConfig:
    """Everything `recipes/grpo_toolcall.py` reads."""

    model: str = "runs/dpo_antiloop/model"  # the DPO recipe's default output
    tool_style: ToolStyle = "compact"
    chat_format: ChatFormat = "auto"  # auto | lfm2 | native: how a template that drops tool calls is handled (rlkit.chat_format)
    output_dir: str = "runs/grpo"
    task: Literal["single_turn", "multi_turn"] = "single_turn"
    data: TaskSource = field(default_factory=lambda: TaskSource(kind="next_call", num_rows=1000, seed=1))
    rewards: RewardWeights = field(default_factory=RewardWeights)
    rollout: RolloutSettings = field(default_factory=RolloutSettings)
    dynamic_sampling: DynamicSamplingSettings = field(default_factory=DynamicSamplingSettings)
    train: GRPOTrainSettings = field(default_factory=GRPOTrainSettings)
    lora: LoraSettings = field(default_factory=LoraSettings)
    tracking: TrackingSettings = field(default_factory=TrackingSettings)  # used when train.report_to is wandb


def tasks_and_rewards(config: GRPORecipeConfig, tokenizer):
    """The prompt rows, the reward functions with their weights (same order), and the env factory.

    Single-turn prompts are rendered exactly as SFT and eval render them; the rows' answer/tools
    columns go to the rewards. Multi-turn rollouts run in the env adapter, whose own final-state
    reward TRL adds after these (with weight 1, so the adapter applies `rewards.tool_call` itself).
    """
    weights = config.rewards
    rewards = [(NgramRepetitionPenalty(n=weights.repetition_n), weights.repetition), (format_reward, weights.format)]
    if config.task == "single_turn":
        rows = load_task_rows(config.data).map(
            lambda row: {"prompt": render_prompt(tokenizer, row["messages"], row["tools"], config.tool_style)},
            remove_columns=["messages"],
        )
        return rows, [(tool_call_reward, weights.tool_call), *rewards], None
    if config.data.source == "bfcl":  # BFCL multi-turn: each row is one turn, played on the simulated APIs
        if config.rollout.backend != "hf":
            raise ValueError("task: multi_turn with data.source: bfcl runs with rollout.backend: hf (TRL's tool loop)")
        from rlkit.envs.bfcl_grpo import environment_factories, grpo_dataset as bfcl_turns

        rows = bfcl_turns(config.data.path.removeprefix("bfcl:") or "multi_turn_base", limit=config.data.num_rows)
        return rows, rewards, environment_factories(rows, reward_weight=weights.tool_call)
    if config.data.source != "env":
        raise ValueError("task: multi_turn needs data.source: env or bfcl (the env runs the calls)")
    from rlkit.envs.trl_adapter import environment_factory, grpo_dataset

    data = config.data
    rows = grpo_dataset(data.env, data.split, data.num_rows, data.seed)
    if config.rollout.backend == "hf":
        return rows, rewards, environment_factory(data.env, reward_weight=weights.tool_call)
    # rlkit's episode runner plays the env itself; the rollout function finds each row by its prompt.
    rows, dropped = unique_prompt_rows(rows)
    if dropped:
        log.warning("multi_turn: dropped %d of %d rows whose prompt repeats an earlier row's", dropped, dropped + len(rows))
    on_model = [(OnModelTurns(func), weight) for func, weight in rewards]
    return rows, [(episode_reward, weights.tool_call), *on_model], None


def engine_rollout_func(config: GRPORecipeConfig, model, tokenizer, rows) -> EngineRolloutFunc | None:
    """None for TRL's own HF generate; else an rlkit engine that receives the policy's weights every step."""
    rollout = config.rollout
    if rollout.backend == "hf":
        return None
    if config.lora.enabled and rollout.backend.startswith("vllm"):
        raise ValueError("lora.enabled with rollout.backend vllm_*: adapters are not synced to vLLM; train full weights or use rollout.backend=hf")
    engine_backend = {"rlkit_hf": "hf", "vllm_colocate": "vllm", "vllm_server": "vllm_server"}[rollout.backend]
    options = {"base_url": rollout.server_url, "served_model": rollout.served_model} if engine_backend == "vllm_server" else {}
    engine = make_rollout_engine(engine_backend, model, tokenizer, tool_style=config.tool_style, **options)
    if config.task == "single_turn":
        return EngineRolloutFunc(engine, tokenizer, rollout.sampling_params(rollout.max_completion_length))
    # Sampling logprobs are free from vLLM; HF would keep every step's logits for them.
    params = rollout.sampling_params(rollout.max_completion_length, logprobs=engine_backend != "hf")
    limits = EpisodeLimits(max_turns=rollout.max_turns, max_completion_tokens=rollout.max_episode_tokens)
    return EpisodeRolloutFunc(engine, tokenizer, params, rows, limits, config.tool_style)


def grpo_args(config: GRPORecipeConfig, reward_weights: list[float]) -> GRPOConfig:
    """TRL's GRPOConfig from the recipe's rollout and train sections."""
    rollout, train, output_dir = config.rollout, config.train, Path(config.output_dir)
    batch = train.prompts_per_step * rollout.num_generations
    micro = train.micro_batch_size or batch
    if micro < 0 or batch % micro:
        raise ValueError(f"train.micro_batch_size ({micro}) must divide the batch of "
                         f"train.prompts_per_step x rollout.num_generations = {batch} completions")
    return GRPOConfig(
        output_dir=str(output_dir),
        max_steps=train.max_steps,
        per_device_train_batch_size=micro,
        gradient_accumulation_steps=batch // micro,  # TRL then generates the whole batch once per step
        num_generations=rollout.num_generations,
        max_completion_length=rollout.max_completion_length,
        temperature=rollout.temperature,
        top_k=rollout.top_k,
        top_p=rollout.top_p,
        repetition_penalty=rollout.repetition_penalty,
        learning_rate=train.learning_rate,
        lr_scheduler_type=train.lr_scheduler,
        loss_type=train.loss_type,
        beta=train.beta,
        scale_rewards=train.scale_rewards,
        reward_weights=reward_weights,
        logging_steps=train.logging_steps,
        save_strategy="steps" if train.save_steps else "no",
        save_steps=train.save_steps or 500,
        seed=train.seed,
        report_to=train.report_to,
        run_name=output_dir.name,
        log_completions=train.log_completions,
        bf16=train.bf16,
        gradient_checkpointing=False,
        use_cpu=not torch.cuda.is_available(),
    )


def main(config: GRPORecipeConfig) -> Path:
    """Train and return the folder of the saved (merged) policy."""
    os.environ.setdefault("WANDB_MODE", "offline")
    if config.train.num_threads:
        torch.set_num_threads(config.train.num_threads)
    output_dir = Path(config.output_dir)
    require_stage_input(config.model, made_by="accelerate launch recipes/dpo_antiloop.py")
    save_config(config, output_dir / "config.yaml")
    model, tokenizer = load_model_and_tokenizer(config.model, chat_format=config.chat_format)

    rows, rewards, environment_factory = tasks_and_rewards(config, tokenizer)
    trainer = ToolCallGRPOTrainer(
        model=model,
        reward_funcs=[func for func, _ in rewards],
        args=grpo_args(config, [weight for _, weight in rewards]),
        train_dataset=rows,
        processing_class=tokenizer,
        peft_config=peft_config(config.lora, model, tokenizer),
        environment_factory=environment_factory,
        rollout_func=engine_rollout_func(config, model, tokenizer, rows),
        dynamic_sampling=config.dynamic_sampling.enabled,
        max_refills=config.dynamic_sampling.max_refills,
        end_of_turn_id=end_of_turn_id(tokenizer),
        tool_style=config.tool_style,
        callbacks=[ManifestCallback()],  # seals each checkpoint-N so a half-written one is never resumed
    )
    fit_fused_lm_head(trainer.model)  # LoRA's trainable tool-token rows under TRL's fused LM head
    checkpoint = resumable_trainer_checkpoint(output_dir) if config.train.save_steps else None
    if checkpoint:
        log.info("resuming GRPO from %s", checkpoint)
    with tracked_run(config.tracking, config, output_dir, enabled=config.train.report_to == "wandb"):
        trainer.train(resume_from_checkpoint=checkpoint)

    (output_dir / "log_history.json").write_text(json.dumps(trainer.state.log_history, indent=1))
    model_dir = save_merged(trainer.model, tokenizer, output_dir / "model")
    log.info("GRPO policy saved to %s", model_dir)
    return model_dir


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    main(parse_cli(GRPORecipeConfig, sys.argv[1:], DEFAULT_CONFIG))
    close_processes()
