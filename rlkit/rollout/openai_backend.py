"""Rollouts from any OpenAI-compatible endpoint (a served policy, a judge model) via the `openai` client.

Chat prompts go to /chat/completions as `with_tool_list(messages, tools, style)` messages: the tool
list is rendered into the system turn by rlkit, never passed as `tools=`, so every server sees the
exact text the trainer sees. Token-id prompts go to /completions (vLLM accepts id lists; other
servers get the ids decoded to text, which needs the tokenizer).

Requests run in a thread pool (`max_concurrency`), each with a timeout and retries with
exponential backoff on connection errors, timeouts, 429 and 5xx. The API key is read from the
environment variable named by `api_key_env` and never logged.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

from tqdm.auto import tqdm

from rlkit.chat import ToolStyle, render_prompt, with_tool_list
from rlkit.rollout.base import ChatPrompt, Completion, Prompt, RolloutStats, SamplingParams

log = logging.getLogger(__name__)

# Finish reasons servers report, mapped onto rlkit's two: the turn ended, or max_tokens was hit.
FINISH_REASONS = {"stop": "stop", "eos": "stop", "tool_calls": "stop", "function_call": "stop", "length": "length"}


def map_finish_reason(reason: str | None) -> str:
    """rlkit's finish reason for a server's (`tool_calls` means the turn ended: "stop")."""
    if reason not in FINISH_REASONS:
        raise ValueError(f"server returned an unknown finish_reason {reason!r} (expected one of {sorted(FINISH_REASONS)})")
    return FINISH_REASONS[reason]


def to_openai_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages in the OpenAI wire format: tool-call arguments as JSON strings, results linked by call id."""
    out, pending_ids = [], []
    for k, message in enumerate(messages):
        message = dict(message)
        if message.get("tool_calls"):
            calls = []
            for j, call in enumerate(message["tool_calls"]):
                function = call.get("function", call)
                arguments = function.get("arguments") or {}
                call_id = call.get("id") or f"call_{k}_{j}"
                pending_ids.append(call_id)
                calls.append({"id": call_id, "type": "function", "function": {
                    "name": function["name"],
                    "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments),
                }})
            message["tool_calls"] = calls
        elif message.get("role") == "tool" and "tool_call_id" not in message:
            # Results answer the preceding calls in order; a surplus result gets a fresh id.
            message["tool_call_id"] = pending_ids.pop(0) if pending_ids else f"call_{k}"
        out.append(message)
    return out


def backoff_seconds(attempt: int, base: float, cap: float = 30.0) -> float:
    """Exponential backoff with jitter: base·2^attempt, at most `cap`, scaled by a random 0.5–1."""
    return min(cap, base * 2**attempt) * (0.5 + random.random() / 2)


class OpenAIRollout:
    """Generate through an OpenAI-compatible HTTP endpoint."""

    def __init__(
        self,
        base_url: str,
        model: str,
        tokenizer: Any = None,
        tool_style: ToolStyle = "compact",
        *,
        api_key_env: str = "OPENAI_API_KEY",
        max_concurrency: int = 8,
        timeout: float = 120.0,
        max_retries: int = 3,
        backoff_base: float = 0.5,
        token_id_prompts: bool = False,
        native_n: bool = False,
        render_chat_locally: bool = False,
        extra_body: dict[str, Any] | None = None,
    ):
        """`token_id_prompts`/`native_n`: the server takes id-list prompts / `n>1` (vLLM does).

        `render_chat_locally`: render chat prompts with the tokenizer's template here and send them
        to /completions, so the server sees exactly the trainer's prompt: as token ids when the server
        takes them (`token_id_prompts`), else as the rendered text (needs the tokenizer).
        """
        import openai

        self.base_url = base_url
        self.model = model
        self.tokenizer = tokenizer
        self.tool_style = tool_style
        self.max_concurrency = max_concurrency
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.token_id_prompts = token_id_prompts
        self.native_n = native_n
        self.extra_body = dict(extra_body or {})
        if render_chat_locally and tokenizer is None:
            raise ValueError("render_chat_locally needs a tokenizer")
        self.render_chat_locally = render_chat_locally
        self.stats = RolloutStats()
        # Loopback servers take any key; real endpoints get theirs from the environment only.
        api_key = os.environ.get(api_key_env) or "EMPTY"
        # Retries are ours (counted, logged, with backoff), so the client's own are off.
        self.client = openai.OpenAI(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=0)
        self._retryable = (
            openai.APIConnectionError,  # includes APITimeoutError
            openai.RateLimitError,
            openai.InternalServerError,
        )

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[list[Completion]]:
        """For each prompt, `params.n` completions; requests run concurrently, results in prompt order."""
        # One request per (prompt, sample) unless the server samples n itself; seeds differ per sample.
        jobs = []
        greedy = params.temperature <= 0
        for i, prompt in enumerate(prompts):
            if greedy:  # identical samples: ask once, copy below (vLLM rejects greedy n>1)
                jobs.append((i, prompt, 1, params.seed))
            elif self.native_n or params.n == 1:
                jobs.append((i, prompt, params.n, params.seed))
            else:
                for j in range(params.n):
                    jobs.append((i, prompt, 1, None if params.seed is None else params.seed + j))
        results: list[list[Completion]] = [[] for _ in prompts]
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=self.max_concurrency) as pool:
            futures = [pool.submit(self._request, prompt, params, n, seed) for _, prompt, n, seed in jobs]
            for (i, *_), future in zip(jobs, tqdm(futures, desc="requests", disable=len(futures) < 16, leave=False)):
                group = future.result()
                results[i].extend([copy.deepcopy(group[0]) for _ in range(params.n)] if greedy else group)
        elapsed = time.perf_counter() - start
        self.stats.record(f"openai ({self.base_url})", results, elapsed)
        return results

    def _with_retries(self, call, what: str):
        for attempt in range(self.max_retries + 1):
            try:
                return call()
            except self._retryable as error:
                if attempt == self.max_retries:
                    raise RuntimeError(f"{what} failed after {attempt + 1} attempts: {type(error).__name__}: {error}") from error
                delay = backoff_seconds(attempt, self.backoff_base)
                self.stats.extra["retries"] = self.stats.extra.get("retries", 0) + 1
                log.warning("%s: %s, retry %d/%d in %.1fs", what, type(error).__name__, attempt + 1, self.max_retries, delay)
                time.sleep(delay)

    def _sampling_kwargs(self, params: SamplingParams, n: int, seed: int | None) -> dict[str, Any]:
        greedy = params.temperature <= 0
        kwargs: dict[str, Any] = {
            "model": self.model,
            "max_tokens": params.max_tokens,
            "temperature": 0.0 if greedy else params.temperature,
            "n": n,
        }
        if not greedy and params.top_p < 1.0:
            kwargs["top_p"] = params.top_p
        if seed is not None:
            kwargs["seed"] = seed
        extra = dict(self.extra_body)
        # Not in the OpenAI schema; vLLM and others read them from the body, so send only when set.
        if not greedy and params.top_k:
            extra["top_k"] = params.top_k
        if params.repetition_penalty != 1.0:
            extra["repetition_penalty"] = params.repetition_penalty
        if extra:
            kwargs["extra_body"] = extra
        return kwargs

    def _request(self, prompt: Prompt, params: SamplingParams, n: int, seed: int | None) -> list[Completion]:
        kwargs = self._sampling_kwargs(params, n, seed)
        if isinstance(prompt, ChatPrompt) and self.render_chat_locally:
            text = render_prompt(self.tokenizer, prompt.messages, prompt.tools, self.tool_style)
            prompt = self.tokenizer(text, add_special_tokens=False).input_ids
        if isinstance(prompt, ChatPrompt):
            messages = to_openai_messages(with_tool_list(prompt.messages, prompt.tools, self.tool_style))
            if params.logprobs:
                kwargs.update(logprobs=True, top_logprobs=0)
            response = self._with_retries(
                lambda: self.client.chat.completions.create(messages=messages, **kwargs), "chat completion"
            )
            return [self._completion(c.message.content or "", c.finish_reason, c, chat=True) for c in response.choices]
        if self.token_id_prompts:
            body: Any = list(prompt)
        elif self.tokenizer is not None:
            body = self.tokenizer.decode(list(prompt), skip_special_tokens=False)
        else:
            raise ValueError("token-id prompts need a server that accepts id lists (token_id_prompts=True) or a tokenizer")
        if params.logprobs:
            kwargs["logprobs"] = 0
        response = self._with_retries(lambda: self.client.completions.create(prompt=body, **kwargs), "completion")
        return [self._completion(c.text or "", c.finish_reason, c, chat=False) for c in response.choices]

    def _completion(self, text: str, reason: str | None, choice: Any, chat: bool) -> Completion:
        finish = map_finish_reason(reason)
        token_ids = getattr(choice, "token_ids", None) or (choice.model_extra or {}).get("token_ids")
        stop_id = self._stop_id()
        if token_ids is None and self.tokenizer is not None:
            # The server gave text only: re-tokenize it (exact for text the tokenizer round-trips).
            token_ids = self.tokenizer(text, add_special_tokens=False).input_ids
        token_ids = list(token_ids or [])
        # Same convention as the other backends: a finished turn's ids end with the stop token.
        if finish == "stop" and stop_id is not None and (not token_ids or token_ids[-1] != stop_id):
            token_ids.append(stop_id)
        logprobs = None
        if choice.logprobs is not None:
            if chat:
                logprobs = [entry.logprob for entry in (choice.logprobs.content or [])]
            else:
                logprobs = list(choice.logprobs.token_logprobs or [])
        return Completion(text=text, token_ids=token_ids, finish_reason=finish, logprobs=logprobs)

    def _stop_id(self) -> int | None:
        if self.tokenizer is None:
            return None
        from rlkit.model import end_of_turn_id

        return end_of_turn_id(self.tokenizer)
