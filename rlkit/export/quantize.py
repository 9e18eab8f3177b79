"""Quantized GGUF files (Q8_0, Q4_0) made by llama.cpp's own quantizer from an F32 GGUF.

The quantizer is llama.cpp's C function `llama_model_quantize`, reached through llama-cpp-python's
low-level bindings (the package ships no CLI tools). Quantizing is llama.cpp's job: its block
formats are what its kernels read, so rlkit does not re-implement them.

Only legacy block types are offered: k-quants (Q4_K_M, ...) need row widths divisible by 256, and
the tiny model's are 128, so llama.cpp would silently fall back to other types for many tensors.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)

# llama.cpp's `llama_ftype` values (include/llama.h): LLAMA_FTYPE_MOSTLY_Q4_0 = 2, _Q8_0 = 7.
QUANT_FTYPES = {"q8_0": 7, "q4_0": 2}


def llama_cpp_missing_message(what: str) -> str:
    """The error text when llama-cpp-python is needed but not installed."""
    return f"{what} needs llama-cpp-python: pip install -e '.[gguf]' (it builds llama.cpp from source, ~5 min)"


def quantize_gguf(src: str | Path, dst: str | Path, quant_type: str, threads: int = 1) -> Path:
    """Write `dst`, the `quant_type` ("q8_0" | "q4_0") quantization of the F32/F16 GGUF `src`."""
    if quant_type not in QUANT_FTYPES:
        raise ValueError(f"quantized type must be one of {sorted(QUANT_FTYPES)}, got {quant_type!r}")
    src, dst = Path(src), Path(dst)
    if not src.is_file():
        raise FileNotFoundError(f"{src}: GGUF file to quantize not found")
    try:
        import llama_cpp
    except ImportError as error:
        raise ImportError(llama_cpp_missing_message(f"quantizing to {quant_type}")) from error
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = QUANT_FTYPES[quant_type]
    params.nthread = threads
    dst.parent.mkdir(parents=True, exist_ok=True)
    status = llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), params)
    if status != 0 or not dst.is_file():
        raise RuntimeError(f"llama.cpp failed to quantize {src} to {quant_type} (status {status}); see its log above")
    log.info("quantized %s -> %s (%s, %.1f MB)", src, dst, quant_type, dst.stat().st_size / 1e6)
    return dst
