"""Deployable outputs: merge LoRA adapters, write GGUF files (F32/F16/Q8_0/Q4_0) for llama.cpp.

    rlkit export merge --adapter runs/x/adapter --out runs/x/merged
    rlkit export gguf --model runs/x/merged --out runs/x/model-q8_0.gguf --type q8_0

(also `python -m rlkit.export ...`). Why rlkit writes GGUF itself: see `rlkit.export.gguf_lfm2`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from rlkit.export.gguf_lfm2 import export_float_gguf
from rlkit.export.quantize import QUANT_FTYPES, quantize_gguf

GGUF_TYPES = ("f32", "f16", *QUANT_FTYPES)


def export_gguf(model_dir: str | Path, out_path: str | Path, gguf_type: str = "f16") -> Path:
    """Write `model_dir` as a GGUF of `gguf_type` (f32 | f16 | q8_0 | q4_0) at `out_path`."""
    if gguf_type not in GGUF_TYPES:
        raise ValueError(f"--type must be one of {', '.join(GGUF_TYPES)}, got {gguf_type!r}")
    if gguf_type in ("f32", "f16"):
        return export_float_gguf(model_dir, out_path, gguf_type)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    # Quantize from F32, so the only rounding is the quantizer's own.
    with tempfile.TemporaryDirectory(dir=out_path.parent, prefix=".gguf-f32-") as tmp:
        f32 = export_float_gguf(model_dir, Path(tmp) / "model-f32.gguf", "f32")
        return quantize_gguf(f32, out_path, gguf_type)


__all__ = ["GGUF_TYPES", "export_gguf", "export_float_gguf", "quantize_gguf"]
