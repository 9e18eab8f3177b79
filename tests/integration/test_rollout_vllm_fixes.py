"""The vLLM CPU-build defects that `rlkit.rollout.vllm_cpu_fixes` works around, checked at kernel level.

Each "defect" test fails when vLLM fixes the defect (then drop the workaround and raise
`LAST_CHECKED_VERSION`); each "workaround" test fails when the workaround stops working. The
engine-level checks (weight push, re-pack, TRL's sync) are in test_rollout_vllm.py, which shares
one engine.
"""

import json

import pytest
import torch

from rlkit.rollout.vllm_engine import vllm_available
from tests.integration.servers import SKIP_NO_VLLM

pytestmark = [pytest.mark.integration, pytest.mark.skipif(not vllm_available(), reason=SKIP_NO_VLLM)]

HEADS, KV_HEADS, HEAD_DIM, TOKENS = 4, 2, 32, 10


@pytest.fixture(scope="module")
def rope_case():
    """A CPU rotary embedding shaped like tiny-lfm2's, with random 3-D q/k and the exact reference."""
    from vllm.config import VllmConfig, set_current_vllm_config
    from vllm.model_executor.layers.rotary_embedding import get_rope

    from rlkit.rollout.vllm_cpu_fixes import cpu_fixes_apply

    if not cpu_fixes_apply():
        pytest.skip("not vLLM's CPU platform at a checked version: the CPU workarounds are off")
    with set_current_vllm_config(VllmConfig()):
        rope = get_rope(HEAD_DIM, max_position=64, rope_parameters={"rope_type": "default", "rope_theta": 1e6},
                        is_neox_style=True, dtype=torch.float32)
        generator = torch.Generator().manual_seed(0)
        q = torch.randn(TOKENS, HEADS, HEAD_DIM, generator=generator)
        k = torch.randn(TOKENS, KV_HEADS, HEAD_DIM, generator=generator)
        positions = torch.arange(TOKENS)
        ref_q, ref_k = rope.forward_native(positions, q.clone(), k.clone())  # plain PyTorch math
        yield rope, positions, q, k, ref_q, ref_k


def _unpatched_forward_cpu():
    from vllm.model_executor.layers.rotary_embedding.base import RotaryEmbedding

    method = RotaryEmbedding.forward_cpu
    return getattr(method, "__wrapped__", method)


def test_defect_cpu_rotary_kernel_is_wrong_on_3d_query_key(rope_case):
    rope, positions, q, k, ref_q, ref_k = rope_case
    out_q, out_k = _unpatched_forward_cpu()(rope, positions, q.clone(), k.clone())
    assert (out_q - ref_q).abs().max() > 0.1, "vLLM fixed its 3-D rotary kernel: drop patch_rotary_for_3d_inputs"
    flat_q, _ = _unpatched_forward_cpu()(rope, positions, q.clone().reshape(TOKENS, -1), k.clone().reshape(TOKENS, -1))
    assert torch.allclose(flat_q.reshape(q.shape), ref_q, atol=1e-5)  # the 2-D layout the fix relies on


def test_workaround_flattened_rotary_is_exact_and_keeps_shapes(rope_case):
    from rlkit.rollout.vllm_cpu_fixes import patch_rotary_for_3d_inputs

    rope, positions, q, k, ref_q, ref_k = rope_case
    assert patch_rotary_for_3d_inputs() and patch_rotary_for_3d_inputs()  # idempotent
    out_q, out_k = rope.forward_cpu(positions, q.clone(), k.clone())
    assert out_q.shape == q.shape and out_k.shape == k.shape
    assert torch.allclose(out_q, ref_q, atol=1e-5) and torch.allclose(out_k, ref_k, atol=1e-5)


def test_defect_auto_dtype_downcasts_fp32_checkpoints():
    from vllm.config.model import _resolve_auto_dtype

    resolved = _resolve_auto_dtype("lfm2", torch.float32, is_pooling_model=False)
    assert resolved != torch.float32, "vLLM keeps fp32 with dtype='auto' now: drop engine_dtype's override"


def test_workaround_fp32_checkpoint_gets_explicit_float32(tmp_path):
    from rlkit.rollout.vllm_cpu_fixes import engine_dtype

    (tmp_path / "config.json").write_text(json.dumps({"dtype": "float32"}))
    assert engine_dtype(tmp_path) == "float32"
    assert engine_dtype(tmp_path, requested="bfloat16") == "bfloat16"  # an explicit choice wins
    (tmp_path / "config.json").write_text(json.dumps({"torch_dtype": "bfloat16"}))
    assert engine_dtype(tmp_path) == "auto"


def test_defect_cpu_generators_refuse_the_offset_rewind_vllm_does_for_chunked_prefill():
    import inspect

    from vllm.v1.worker.gpu_model_runner import GPUModelRunner

    assert "set_offset" in inspect.getsource(GPUModelRunner._bookkeeping_sync), "vLLM no longer rewinds generators"
    with pytest.raises(RuntimeError, match="does not use offset"):
        torch.Generator().get_offset()


def test_workaround_engine_arguments_turn_chunked_prefill_off_with_a_whole_prompt_budget():
    from rlkit.rollout.vllm_cpu_fixes import engine_kwargs, server_args

    kwargs = engine_kwargs(max_model_len=8192)
    assert kwargs["enable_chunked_prefill"] is False and kwargs["max_num_batched_tokens"] == 8192
    assert engine_kwargs(max_model_len=512)["max_num_batched_tokens"] >= 512
    assert "--no-enable-chunked-prefill" in server_args(512)


def test_workaround_keeps_prefix_caching_for_attention_only_models(tmp_path):
    from rlkit.rollout.vllm_cpu_fixes import engine_kwargs, is_hybrid_model, server_args

    (tmp_path / "llama").mkdir()
    (tmp_path / "llama" / "config.json").write_text('{"model_type": "llama"}')
    (tmp_path / "lfm2").mkdir()
    (tmp_path / "lfm2" / "config.json").write_text('{"model_type": "lfm2"}')
    assert not is_hybrid_model(tmp_path / "llama") and is_hybrid_model(tmp_path / "lfm2")
    assert is_hybrid_model(tmp_path / "missing")  # unknown: the safe setting
    assert engine_kwargs(512, hybrid=False)["enable_prefix_caching"] is True
    assert engine_kwargs(512, hybrid=True)["enable_prefix_caching"] is False
    assert "--enable-prefix-caching" in server_args(512, hybrid=False)
