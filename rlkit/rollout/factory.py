"""`make_rollout_engine`: the one place recipes turn a backend name into a rollout engine."""

from __future__ import annotations

from typing import Any

from rlkit.rollout.base import RolloutEngine

BACKENDS = ("hf", "vllm", "vllm_server", "openai", "llamacpp")


def make_rollout_engine(backend: str, model: Any, tokenizer: Any, **options: Any) -> RolloutEngine:
    """A rollout engine for `backend` ("hf" | "vllm" | "vllm_server" | "openai" | "llamacpp").

    - "hf": `model` is the (training) transformers model; generates with it directly.
    - "vllm": `model` is the training model or a checkpoint folder; an in-process engine is built
      from the folder (`model.name_or_path` for a model) and, for a model, synced to its current
      weights at once. Options go to `VLLMRollout` (`enforce_eager`, `dtype`, ...).
    - "vllm_server": `model` is the training model or None; `base_url` and `served_model` options
      name the server (see `rlkit.rollout.serve.start_vllm_server`); the model's weights are pushed at once.
    - "openai": `model` is the served model's name; `base_url` option required.
    - "llamacpp": `model` is a GGUF file (`rlkit.export.export_gguf` writes one for LFM2).
    """
    if backend == "hf":
        from rlkit.rollout.hf import HFRollout

        return HFRollout(model, tokenizer, **options)
    if backend == "vllm":
        from rlkit.rollout.vllm_engine import VLLMRollout

        path = model if isinstance(model, str) else getattr(model, "name_or_path", None)
        path = options.pop("model_path", path)
        if not path:
            raise ValueError("backend 'vllm' needs a checkpoint folder: pass model_path=... or a model with name_or_path")
        engine = VLLMRollout(path, tokenizer, **options)
        if not isinstance(model, str):
            engine.sync_weights(model)
        return engine
    if backend == "vllm_server":
        from rlkit.rollout.vllm_server import VLLMServerRollout

        base_url, served_model = _endpoint(backend, options)
        engine = VLLMServerRollout(base_url, served_model, tokenizer, **options)
        if model is not None and not isinstance(model, str):
            engine.sync_weights(model)
        return engine
    if backend == "openai":
        from rlkit.rollout.openai_backend import OpenAIRollout

        options.setdefault("served_model", model)
        base_url, served_model = _endpoint(backend, options)
        return OpenAIRollout(base_url, served_model, tokenizer, **options)
    if backend == "llamacpp":
        from rlkit.rollout.llamacpp import LlamaCppRollout

        return LlamaCppRollout(model, tokenizer, **options)
    raise ValueError(f"unknown rollout backend {backend!r}; expected one of {', '.join(BACKENDS)}")


def _endpoint(backend: str, options: dict[str, Any]) -> tuple[str, str]:
    base_url = options.pop("base_url", None)
    served_model = options.pop("served_model", None)
    if not base_url or not served_model:
        raise ValueError(f"backend {backend!r} needs base_url=... and served_model=... (got {base_url!r}, {served_model!r})")
    return base_url, served_model
