"""Worker extension for vLLM servers started by `rlkit.rollout.serve.start_vllm_server`.

vLLM mixes this class into its worker (`--worker-extension-cls`), so its methods can be called
through the server's dev endpoint `POST /collective_rpc`. Importing this module in the server's
engine process is also what applies the CPU rotary fix there (before the model is built).
"""

from __future__ import annotations

from pathlib import Path

from rlkit.rollout.vllm_cpu_fixes import cpu_fixes_apply, patch_rotary_for_3d_inputs, repack_embedding_gemm

# The server process never runs rlkit code otherwise; the worker imports this module before it
# loads the model, which is when the patched rotary kernel must already be in place.
patch_rotary_for_3d_inputs()


class RlkitWeightSync:
    """Methods added to the vLLM worker: reload weights from a safetensors folder the trainer wrote."""

    def rlkit_reload_weights(self, weights_dir: str) -> int:
        """Load every `*.safetensors` in `weights_dir` (HF names) in place; returns the tensor count."""
        from safetensors.torch import load_file

        tensors = []
        for path in sorted(Path(weights_dir).glob("*.safetensors")):
            tensors.extend(load_file(str(path)).items())
        if not tensors:
            raise FileNotFoundError(f"no *.safetensors files in {weights_dir}")
        self.model_runner.reload_weights(weights_iterator=tensors, is_checkpoint_format=True)
        if cpu_fixes_apply():
            repack_embedding_gemm(self)
        return len(tensors)
