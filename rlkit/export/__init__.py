"""Deployable outputs: merge LoRA adapters, write GGUF files (F32/F16/Q8_0/Q4_0) for llama.cpp.

    rlkit export merge --adapter runs/x/adapter --out runs/x/merged
    rlkit export gguf --model runs/x/merged --out runs/x/model-q8_0.gguf --type q8_0

(also `python -m rlkit.export ...`). Why rlkit writes GGUF itself: see `rlkit.export.gguf_lfm2`.
LFM2 and Llama checkpoints (`model_type` in config.json picks the writer: gguf_lfm2 / gguf_llama).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Callable

from rlkit.export.gguf_lfm2 import export_float_gguf
from rlkit.export.gguf_llama import export_llama_gguf
from rlkit.export.quantize import QUANT_FTYPES, quantize_gguf

GGUF_TYPES = ("f32", "f16", *QUANT_FTYPES)


def export_gguf(model_dir: str | Path, out_path: str | Path, gguf_type: str = "f16") -> Path:
    """Write `model_dir` as a GGUF of `gguf_type` (f32 | f16 | q8_0 | q4_0) at `out_path`."""
    if gguf_type not in GGUF_TYPES:
        raise ValueError(f"--type must be one of {', '.join(GGUF_TYPES)}, got {gguf_type!r}")
    export_float = float_exporter(model_dir)
    if gguf_type in ("f32", "f16"):
        return export_float(model_dir, out_path, gguf_type)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    # Quantize from F32, so the only rounding is the quantizer's own.
    with tempfile.TemporaryDirectory(dir=out_path.parent, prefix=".gguf-f32-") as tmp:
        f32 = export_float(model_dir, Path(tmp) / "model-f32.gguf", "f32")
        return quantize_gguf(f32, out_path, gguf_type)


def float_exporter(model_dir: str | Path) -> Callable[..., Path]:
    """The F32/F16 writer for the checkpoint's `model_type`: Llama's, else LFM2's (which names what it refuses)."""
    config = Path(model_dir) / "config.json"
    model_type = json.loads(config.read_text()).get("model_type") if config.is_file() else None
    return export_llama_gguf if model_type == "llama" else export_float_gguf


__all__ = ["GGUF_TYPES", "export_gguf", "export_float_gguf", "export_llama_gguf", "float_exporter", "quantize_gguf"]
