"""LoRA: default targets by architecture, trainable tool-format token rows, merge to plain HF.

LFM2 layer modules (transformers `Lfm2*`): attention `q_proj k_proj v_proj out_proj`, short conv
`in_proj out_proj` (the depthwise `conv` itself is left alone: it has a handful of weights per
channel), MLP `w1 w2 w3`. PEFT matches target names as module-name suffixes, so `out_proj`
covers both the attention and the conv output projections. Llama-style models (Llama, SmolLM2,
Qwen, Gemma, Mistral) name theirs `q_proj k_proj v_proj o_proj` and `gate_proj up_proj down_proj`.

A target that matches no module of the model is an error, not a silently smaller adapter.

Tool-format tokens: a model given the LFM2 format by rlkit.chat_format starts its new token rows
at the mean embedding. LoRA alone leaves embedding rows frozen, so such a model never learns to
write `<|tool_call_start|>` (a LoRA SFT of SmolLM2-135M wrote an ordinary token in its place). With `train_format_tokens` the rows of those
markers are trained too (PEFT `trainable_token_indices`, on the input embeddings and, when not tied
to them, the LM head) and merged back by `save_merged`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rlkit.chat_format import tool_format_token_ids
from rlkit.model import add_vllm_config_fields

log = logging.getLogger(__name__)

LFM2_TARGET_MODULES = ["q_proj", "k_proj", "v_proj", "out_proj", "in_proj", "w1", "w2", "w3"]
LLAMA_STYLE_TARGET_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
# transformers' `config.model_type` -> the projections LoRA adapts by default.
DEFAULT_TARGET_MODULES = {
    "lfm2": LFM2_TARGET_MODULES,
    **{model_type: LLAMA_STYLE_TARGET_MODULES
       for model_type in ("llama", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text", "mistral")},
}


@dataclass
class LoraSettings:
    """The `lora:` config section of a recipe; `enabled: false` trains all weights."""

    enabled: bool = False
    r: int = 16
    alpha: int = 32
    dropout: float = 0.0
    target_modules: list[str] | Literal["auto"] = "auto"  # auto: by model type (DEFAULT_TARGET_MODULES)
    train_format_tokens: bool = True  # also train the rows of the tool-format tokens (see module doc)


def resolve_target_modules(target_modules: list[str] | str, model: Any) -> list[str]:
    """The module names LoRA adapts on `model`: the model type's defaults for "auto"; each must match a module."""
    model_type = model.config.model_type
    if target_modules == "auto":
        if model_type not in DEFAULT_TARGET_MODULES:
            raise ValueError(
                f"lora.target_modules: no default targets for model type {model_type!r} "
                f"(known: {sorted(DEFAULT_TARGET_MODULES)}); set lora.target_modules to its projection names "
                f"(its linear layers: {_linear_leaf_names(model)})"
            )
        defaults = DEFAULT_TARGET_MODULES[model_type]
        # A variant may lack some (a conv-only LFM2 has no attention): keep those it has.
        target_modules = [t for t in defaults if _matches(t, model)] or defaults
    unmatched = [t for t in target_modules if not _matches(t, model)]
    if unmatched or not target_modules:
        raise ValueError(
            f"lora.target_modules: {unmatched or list(target_modules)} match no module of this {model_type!r} model "
            f"(its linear layers: {_linear_leaf_names(model)})"
        )
    return list(target_modules)


def _matches(target: str, model: Any) -> bool:
    # PEFT's own rule: a target matches a module whose name is it or ends with "." + it.
    return any(name == target or name.endswith("." + target) for name, _ in model.named_modules())


def _linear_leaf_names(model: Any) -> list[str]:
    import torch
    from transformers.pytorch_utils import Conv1D  # GPT-2-style models' linear layers

    linear = (torch.nn.Linear, Conv1D)
    return sorted({name.rsplit(".", 1)[-1] for name, module in model.named_modules() if isinstance(module, linear)})


def format_token_rows(model: Any, tokenizer: Any) -> list[int] | dict[str, list[int]] | None:
    """PEFT `trainable_token_indices` for the tool-format tokens: a list when the LM head is tied, else per layer."""
    ids = tool_format_token_ids(tokenizer)
    if not ids:
        return None
    if getattr(model.config.get_text_config(), "tie_word_embeddings", False):
        return ids  # PEFT ties the LM head's rows to the embedding's adapter itself
    modules = {id(module): name for name, module in model.named_modules()}
    # Both sides: the input rows let the model read the markers, the LM-head rows let it write them.
    return {modules[id(model.get_input_embeddings())]: ids, modules[id(model.get_output_embeddings())]: ids}


def peft_config(settings: LoraSettings, model: Any = None, tokenizer: Any = None) -> Any:
    """A `peft.LoraConfig` for `model` from the recipe's settings (None when LoRA is off)."""
    if not settings.enabled:
        return None
    from peft import LoraConfig

    if model is None:
        raise ValueError("peft_config: LoRA needs the model to resolve lora.target_modules against")
    token_rows = format_token_rows(model, tokenizer) if settings.train_format_tokens and tokenizer is not None else None
    targets = resolve_target_modules(settings.target_modules, model)
    log.info("LoRA on %s of %s; trainable token rows: %s", targets, model.config.model_type, token_rows)
    return LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=targets,
        trainable_token_indices=token_rows,
        task_type="CAUSAL_LM",
    )


def fit_fused_lm_head(model: Any) -> Any:
    """Let TRL's fused LM head read a LoRA model whose LM head has trainable token rows; returns the model.

    TRL's GRPO (always) and SFT (on CUDA) trainers compute log-probabilities from `lm_head.weight` and
    `lm_head.bias` themselves. PEFT's TrainableTokensWrapper forwards `weight` (merged with the
    trained rows, so gradients reach them) but not `bias`, and the first step fails with
    AttributeError. The wrapper gets the base layer's bias as a plain attribute (not a parameter,
    so nothing is counted or saved twice).
    """
    from peft.utils.other import TrainableTokensWrapper

    head = model.get_output_embeddings()
    if isinstance(head, TrainableTokensWrapper) and "bias" not in vars(head):
        object.__setattr__(head, "bias", head.original_module.bias)
    return model


def save_merged(model: Any, tokenizer: Any, out_dir: str | Path) -> Path:
    """Save a plain HF model (servable by vLLM): LoRA adapters folded into the base weights if any."""
    out_dir = Path(out_dir)
    if hasattr(model, "merge_and_unload"):
        log.info("merging LoRA adapters into the base weights")
        model = model.merge_and_unload()
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    add_vllm_config_fields(out_dir)
    return out_dir
