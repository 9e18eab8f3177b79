"""A remote vLLM server as the rollout engine: OpenAI API for generation, weight sync over loopback.

Generation goes through `OpenAIRollout` with vLLM's extensions (token-id prompts, `n` samples per
request, token ids and special tokens in replies); chat prompts are rendered here and sent as token
ids, so the server sees exactly the trainer's tokens. Weight sync writes the trainer's parameters as
safetensors into a folder the server can read and asks it to reload them through the dev endpoint
`/collective_rpc` (method `rlkit_reload_weights` from `vllm_worker_ext`), so the server must be
started by `rlkit.rollout.serve.start_vllm_server` (or with the same `--worker-extension-cls` and
`VLLM_SERVER_DEV_MODE=1`) on a machine sharing that folder.
"""

from __future__ import annotations

import json
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, Sequence

from rlkit.chat import ToolStyle
from rlkit.model import end_of_turn_id
from rlkit.rollout.base import Completion, Prompt, RolloutStats, SamplingParams
from rlkit.rollout.openai_backend import OpenAIRollout

VLLM_EXTRA_BODY = {"skip_special_tokens": False, "return_token_ids": True}


def _post_json(url: str, payload: dict[str, Any] | None, timeout: float) -> Any:
    data = json.dumps(payload or {}).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body = response.read()
    return json.loads(body) if body else None


class VLLMServerRollout:
    """Generate with, score with, and push weights to a vLLM OpenAI server."""

    def __init__(
        self,
        base_url: str,
        model: str,
        tokenizer: Any,
        tool_style: ToolStyle = "compact",
        *,
        weights_dir: str | Path | None = None,
        sync_timeout: float = 300.0,
        **openai_options: Any,
    ):
        self.client = OpenAIRollout(
            base_url,
            model,
            tokenizer,
            tool_style,
            token_id_prompts=True,
            native_n=True,
            render_chat_locally=True,
            extra_body={**VLLM_EXTRA_BODY, "stop_token_ids": [end_of_turn_id(tokenizer)]},
            **openai_options,
        )
        self.tokenizer = tokenizer
        self.root_url = base_url.rstrip("/").removesuffix("/v1")
        self.weights_dir = Path(weights_dir or tempfile.mkdtemp(prefix="rlkit-sync-"))
        self.sync_timeout = sync_timeout

    @property
    def stats(self) -> RolloutStats:
        """Counters of the underlying OpenAI client."""
        return self.client.stats

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[list[Completion]]:
        """For each prompt, `params.n` completions from the server."""
        return self.client.generate(prompts, params)

    def score(self, sequences: Sequence[Sequence[int]]) -> list[list[float]]:
        """Logprob of tokens 1..L-1 of each sequence given its prefix, via vLLM's `prompt_logprobs`."""
        scores = []
        for ids in sequences:
            response = self.client.client.completions.create(
                model=self.client.model,
                prompt=list(ids),
                max_tokens=1,
                temperature=0.0,
                extra_body={"prompt_logprobs": 0},
            )
            entries = response.choices[0].model_extra["prompt_logprobs"]
            # entries[0] is None; each later entry maps token-id strings to {"logprob": ...}.
            scores.append([entries[i][str(ids[i])]["logprob"] for i in range(1, len(ids))])
        return scores

    def sync_weights(self, model: Any) -> float:
        """Write the trainer's parameters to `weights_dir` and have the server reload them; seconds taken."""
        from safetensors.torch import save_file

        start = time.perf_counter()
        self.weights_dir.mkdir(parents=True, exist_ok=True)
        tensors = {name: p.detach().cpu().contiguous() for name, p in model.named_parameters()}
        path = self.weights_dir / "model.safetensors"
        tmp = path.with_suffix(".tmp")
        save_file(tensors, str(tmp))
        tmp.replace(path)  # the server never reads a half-written file
        result = _post_json(
            f"{self.root_url}/collective_rpc",
            {"method": "rlkit_reload_weights", "kwargs": {"weights_dir": str(self.weights_dir)}},
            self.sync_timeout,
        )
        loaded = (result or {}).get("results", [None])[0]
        if str(loaded) != str(len(tensors)):  # the endpoint returns non-JSON results as strings
            raise RuntimeError(f"server reloaded {loaded!r} tensors, expected {len(tensors)}: {result!r}")
        _post_json(f"{self.root_url}/reset_prefix_cache", None, self.sync_timeout)
        return time.perf_counter() - start
