"""LoRA for LFM2: default targets cover attention, MLP and short-conv projections; merge to plain HF.

LFM2 layer modules (transformers `Lfm2*`): attention `q_proj k_proj v_proj out_proj`, short conv
`in_proj out_proj` (the depthwise `conv` itself is left alone: it has a handful of weights per
channel), MLP `w1 w2 w3`. PEFT matches target names as module-name suffixes, so `out_proj`
covers both the attention and the conv output projections.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlkit.model import add_vllm_config_fields

log = logging.getLogger(__name__)

LFM2_TARGET_MODULES = ["q_proj", "k_proj", "v_proj", "out_proj", "in_proj", "w1", "w2", "w3"]


@dataclass
class LoraSettings:
    """The `lora:` config section of a recipe; `enabled: false` trains all weights."""

    enabled: bool = False
    r: int = 16
    alpha: int = 32
    dropout: float = 0.0
    target_modules: list[str] = field(default_factory=lambda: list(LFM2_TARGET_MODULES))


def peft_config(settings: LoraSettings) -> Any:
    """A `peft.LoraConfig` for a causal LM from the recipe's settings (None when LoRA is off)."""
    if not settings.enabled:
        return None
    from peft import LoraConfig

    return LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=list(settings.target_modules),
        task_type="CAUSAL_LM",
    )


def lora_target_names(model: Any) -> list[str]:
    """Names of the modules a PEFT-wrapped model put LoRA adapters on (for checks and logs)."""
    return sorted(name for name, module in model.named_modules() if hasattr(module, "lora_A") and module.lora_A)


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
