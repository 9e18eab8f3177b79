"""The rollout interface every backend implements: prompts in, N completions per prompt out.

A prompt is either a chat (`ChatPrompt`: messages + tool schemas, rendered with the LFM2 template
and the configured tool style) or raw token ids. Every stage that generates (pair builder, GRPO,
eval, LLM judges) talks to this interface, so backends are interchangeable.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, Sequence, Union

log = logging.getLogger(__name__)

FinishReason = Literal["stop", "length"]


@dataclass
class ChatPrompt:
    """A conversation to continue with an assistant turn; `tools` as schemas or their JSON string."""

    messages: list[dict[str, Any]]
    tools: str | list[dict[str, Any]] | None = None


Prompt = Union[ChatPrompt, Sequence[int]]


@dataclass(kw_only=True)
class Decoding:
    """The decoding knobs, declared once for every config that samples (pairs, GRPO, eval, engines)."""

    temperature: float = 1.0  # 0 = greedy
    top_k: int = 0  # 0 = off
    top_p: float = 1.0
    repetition_penalty: float = 1.0

    def sampling_params(self, max_tokens: int, **kwargs: Any) -> "SamplingParams":
        """These knobs as an engine's SamplingParams (`n`, `seed`, `logprobs` through kwargs)."""
        knobs = {f.name: getattr(self, f.name) for f in dataclasses.fields(Decoding)}
        return SamplingParams(**knobs, max_tokens=max_tokens, **kwargs)


@dataclass(kw_only=True)
class SamplingParams(Decoding):
    """Generation settings passed through to the backend. `temperature=0` means greedy."""

    max_tokens: int = 256
    n: int = 1
    seed: int | None = None
    logprobs: bool = False

    @classmethod
    def greedy(cls, max_tokens: int = 256, **kwargs: Any) -> "SamplingParams":
        """Deterministic decoding."""
        return cls(temperature=0.0, max_tokens=max_tokens, **kwargs)

    @classmethod
    def lfm2_recommended(cls, max_tokens: int = 256, **kwargs: Any) -> "SamplingParams":
        """The LFM2 model cards' tool-use settings: temperature 0.1, top-k 50, repetition penalty 1.05."""
        return cls(temperature=0.1, top_k=50, repetition_penalty=1.05, max_tokens=max_tokens, **kwargs)


@dataclass
class Completion:
    """One generated continuation. `finish_reason` is "stop" (end-of-turn token) or "length"."""

    text: str
    token_ids: list[int]
    finish_reason: FinishReason
    logprobs: list[float] | None = None


@dataclass
class RolloutStats:
    """Counters a backend keeps across calls (tokens/s is logged from these)."""

    prompts: int = 0
    completions: int = 0
    tokens: int = 0
    seconds: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)

    def record(self, backend: str, results: list[list["Completion"]], seconds: float) -> None:
        """Count one `generate` call's prompts, completions and tokens, and log its tokens/s."""
        generated = sum(len(c.token_ids) for group in results for c in group)
        self.prompts += len(results)
        self.completions += sum(len(group) for group in results)
        self.tokens += generated
        self.seconds += seconds
        if generated:
            log.info("%s rollout: %d tokens in %.1fs (%.0f tok/s)", backend, generated, seconds, generated / seconds)


class RolloutEngine(Protocol):
    """What every backend provides."""

    stats: RolloutStats

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[list[Completion]]:
        """For each prompt, `params.n` completions (in prompt order)."""
        ...
