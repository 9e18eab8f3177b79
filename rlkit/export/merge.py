"""Fold LoRA adapters into their base model and save a plain HF checkpoint (for GGUF export, vLLM)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from rlkit.train.lora import save_merged

log = logging.getLogger(__name__)


def adapter_base_model(adapter_dir: str | Path) -> str:
    """The base model an adapter folder was trained on (`base_model_name_or_path` of adapter_config.json)."""
    path = Path(adapter_dir) / "adapter_config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found; --adapter must be a PEFT adapter folder")
    base = json.loads(path.read_text()).get("base_model_name_or_path")
    if not base:
        raise ValueError(f"{path}: no base_model_name_or_path; pass the base model explicitly (--base)")
    return base


def merge_adapter(adapter_dir: str | Path, out_dir: str | Path, base_model: str | None = None) -> Path:
    """Load base + adapter, merge, and save the plain model and tokenizer into `out_dir`."""
    from peft import PeftModel

    from rlkit.model import load_model_and_tokenizer

    adapter_dir = Path(adapter_dir)
    base = base_model or adapter_base_model(adapter_dir)
    model, tokenizer = load_model_and_tokenizer(base, dtype=torch.float32)
    if (adapter_dir / "tokenizer.json").is_file():  # the trainer saves its tokenizer beside the adapter
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(adapter_dir))
    model = PeftModel.from_pretrained(model, str(adapter_dir))
    log.info("merging adapter %s into %s", adapter_dir, base)
    return save_merged(model, tokenizer, out_dir)
