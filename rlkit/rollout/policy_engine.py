"""`PolicyEngine`: a rollout engine that follows a policy which changes between rounds.

Semi-online stages (the anti-loop DPO rounds) sample from a new policy every round. Each
`refresh(policy_dir, model)` returns an engine generating with exactly that policy:

- `hf`: HF generate on `model` itself.
- `vllm`: an in-process vLLM engine built once (from the first policy folder), then given each
  new policy's weights in place (`sync_weights`) — the engine start (~20 s on CPU) is paid once.
- `vllm_server`: a running vLLM server (started by `rlkit.rollout.serve.start_vllm_server`), whose
  weights are pushed over loopback each round.
- `llamacpp`: the policy folder exported to GGUF (`rlkit.export.export_gguf`: LFM2, Llama) and a fresh
  llama.cpp engine on that file: llama.cpp has no in-place weight update.
- `openai`: any OpenAI-compatible endpoint. It cannot receive weights, so it samples the served
  model whatever the round: that is logged as a warning every round (off-policy after round 0).

Engines with in-process or server-side weights (vllm, vllm_server) are checked with `verify_sync`
after every push: a push that silently missed weights raises `SyncError` instead of sampling from a
stale policy.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Sequence

from rlkit.chat import ToolStyle
from rlkit.rollout.base import RolloutEngine
from rlkit.rollout.sync import verify_sync

log = logging.getLogger(__name__)

POLICY_BACKENDS = ("hf", "vllm", "vllm_server", "openai", "llamacpp")


class PolicyEngine:
    """Hands out a rollout engine for the current policy; see the module docstring for each backend."""

    def __init__(
        self,
        backend: str,
        tokenizer: Any,
        tool_style: ToolStyle = "compact",
        *,
        batch_size: int = 16,
        base_url: str = "",
        served_model: str = "",
        gguf_type: str = "f32",
        gguf_dir: str | Path | None = None,
        sync_tol: float = 1e-3,
        vllm_options: dict[str, Any] | None = None,
    ):
        """`backend` is one of POLICY_BACKENDS (the error names `rollout.backend`, the config key)."""
        if backend not in POLICY_BACKENDS:
            raise ValueError(f"rollout.backend must be one of {', '.join(POLICY_BACKENDS)}, got {backend!r}")
        if backend in ("vllm_server", "openai") and not (base_url and served_model):
            raise ValueError(f"rollout.backend={backend} needs rollout.base_url and rollout.served_model")
        if backend == "llamacpp" and gguf_dir is None:
            raise ValueError("rollout.backend=llamacpp needs a folder for the exported GGUF files (gguf_dir)")
        self.backend = backend
        self.tokenizer = tokenizer
        self.tool_style = tool_style
        self.batch_size = batch_size
        self.base_url = base_url
        self.served_model = served_model
        self.gguf_type = gguf_type
        self.gguf_dir = Path(gguf_dir) if gguf_dir else None
        self.sync_tol = sync_tol
        self.vllm_options = dict(vllm_options or {})
        self.engine: Any = None
        self.last: dict[str, Any] = {}  # what the last refresh did: seconds, sync gap, GGUF path

    def refresh(self, policy_dir: str | Path, model: Any, probe: Sequence[Sequence[int]] = ()) -> RolloutEngine:
        """An engine generating with the policy in `policy_dir` (whose weights `model` holds).

        `probe`: token-id sequences (>= 2 tokens each) scored by trainer and engine after a push.
        """
        start = time.perf_counter()
        self.last = {"backend": self.backend, "policy": str(policy_dir)}
        if self.backend == "hf":
            from rlkit.rollout.hf import HFRollout

            self.engine = HFRollout(model, self.tokenizer, self.tool_style, batch_size=self.batch_size)
        elif self.backend == "vllm":
            self._refresh_vllm(policy_dir, model, probe)
        elif self.backend == "vllm_server":
            if self.engine is None:
                from rlkit.rollout.vllm_server import VLLMServerRollout

                self.engine = VLLMServerRollout(self.base_url, self.served_model, self.tokenizer, self.tool_style)
            self._push(model, probe)
        elif self.backend == "llamacpp":
            self._refresh_llamacpp(policy_dir)
        else:
            if self.engine is None:
                from rlkit.rollout.openai_backend import OpenAIRollout

                self.engine = OpenAIRollout(self.base_url, self.served_model, self.tokenizer, self.tool_style,
                                            render_chat_locally=True)
            log.warning("rollout.backend=openai cannot receive weights: candidates come from the served model %r, "
                        "not from %s", self.served_model, policy_dir)
            self.last["off_policy"] = True
        self.last["refresh_s"] = time.perf_counter() - start
        log.info("rollout engine for %s: %s", policy_dir, {k: v for k, v in self.last.items() if k != "policy"})
        return self.engine

    def _refresh_vllm(self, policy_dir: str | Path, model: Any, probe: Sequence[Sequence[int]]) -> None:
        if self.engine is None:
            from rlkit.rollout.vllm_engine import VLLMRollout

            # Built from the first folder; later policies arrive as weight pushes (the push also
            # covers a first policy whose in-memory weights differ from its folder).
            self.engine = VLLMRollout(policy_dir, self.tokenizer, self.tool_style, **self.vllm_options)
            self.last["engine_start_s"] = self.engine.stats.extra["engine_start_s"]
        self._push(model, probe)

    def _push(self, model: Any, probe: Sequence[Sequence[int]]) -> None:
        self.last["sync_s"] = self.engine.sync_weights(model)
        if probe:
            self.last["sync_gap"] = verify_sync(model, self.engine, probe, tol=self.sync_tol)
        else:
            log.warning("rollout engine weights pushed without a check (no probe sequences given)")

    def _refresh_llamacpp(self, policy_dir: str | Path) -> None:
        from rlkit.export import export_gguf
        from rlkit.rollout.llamacpp import LlamaCppRollout

        self.close()
        assert self.gguf_dir is not None  # checked in __init__
        # Named after the folder and its parent (round_1/model -> round_1-model): one file per policy.
        path = self.gguf_dir / f"{'-'.join(Path(policy_dir).parts[-2:])}-{self.gguf_type}.gguf"
        export_gguf(policy_dir, path, self.gguf_type)
        self.last["gguf"] = str(path)
        self.engine = LlamaCppRollout(path, self.tokenizer, self.tool_style)

    def close(self) -> None:
        """Release the current engine's native resources (llama.cpp contexts); vLLM engines are kept."""
        if self.backend == "llamacpp" and self.engine is not None:
            self.engine.close()
            self.engine = None
