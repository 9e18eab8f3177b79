"""Reference-answering rollout engines that test the scoring path, not generation.

`OracleRollout` answers each prompt with its reference: the reference calls rendered with
`render_calls`, or the reference reply text. With a `Perturbation` it damages every `period`-th
answer in a known way, so a scorer must lose exactly those examples, for the predicted reason.
Use them to check that a loader, the checker and the metrics agree before trusting a model's score.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from rlkit.chat import normalize_messages
from rlkit.rollout.base import ChatPrompt, Completion, Prompt, RolloutStats, SamplingParams
from rlkit.toolcall import ToolCall, expected_from_answer, render_calls

# Perturbation kinds and the verdict reason each one must produce.
PERTURBATION_REASONS = {
    "wrong_name": "wrong_function",  # first call's function renamed to a name not in the tools
    "extra_argument": "unexpected_argument",  # an argument the schema does not have, on the first call
    "drop_call": "no_call|wrong_count",  # last call removed (no_call when it was the only one)
    "break_syntax": "parse_error",  # the call block is cut before its closing bracket
    "loop": "no_call",  # a repeating text cycle that runs to the token limit
}


@dataclass
class Perturbation:
    """Damage every `period`-th answered prompt (counting from `offset`) with `kind`."""

    kind: str
    period: int = 2
    offset: int = 0

    def __post_init__(self) -> None:
        if self.kind not in PERTURBATION_REASONS:
            raise ValueError(f"unknown perturbation {self.kind!r}; known: {', '.join(PERTURBATION_REASONS)}")
        if self.period < 1:
            raise ValueError("perturbation period must be >= 1")

    def hits(self, index: int) -> bool:
        """Whether the answer to the `index`-th prompt (0-based, over the engine's life) is damaged."""
        return index >= self.offset and (index - self.offset) % self.period == 0


def concrete_value(acceptable: Any) -> Any:
    """One concrete value from an acceptable-value form (first non-omitted choice, nested dicts too)."""
    if isinstance(acceptable, dict):
        out = {}
        for key, choices in acceptable.items():
            value = _first_choice(choices) if isinstance(choices, list) else choices
            if value is not _OMIT:
                out[key] = concrete_value(value)
        return out
    if isinstance(acceptable, list):
        return [concrete_value(item) if isinstance(item, dict) else item for item in acceptable]
    return acceptable


_OMIT = object()


def _first_choice(choices: list) -> Any:
    for choice in choices:
        if choice != "":
            return choice
    return _OMIT


def reference_calls(answer: str | list | dict) -> list[ToolCall]:
    """Concrete calls for an `answer` value (reference or BFCL form: the first acceptable values)."""
    calls = []
    for expected in expected_from_answer(answer):
        arguments = {}
        for name, choices in expected.arguments.items():
            value = _first_choice(choices)
            if value is not _OMIT:
                arguments[name] = concrete_value(value)
        calls.append(ToolCall(expected.name, arguments))
    return calls


def perturb_calls(calls: list[ToolCall], kind: str) -> str:
    """The damaged completion text for reference `calls` (see PERTURBATION_REASONS)."""
    calls = [ToolCall(c.name, dict(c.arguments)) for c in calls]
    if kind == "wrong_name" and calls:
        calls[0].name += "_unknown"
    elif kind == "extra_argument" and calls:
        calls[0].arguments["unexpected_extra_argument"] = 1
    elif kind == "drop_call" and calls:
        calls.pop()
        if not calls:
            return "I can't help with that."
    elif kind == "break_syntax":
        return render_calls(calls).replace("]<|tool_call_end|>", "<|tool_call_end|>").rsplit(")", 1)[0] + "<|tool_call_end|>"
    elif kind == "loop":
        return "let me check that for you " * 40
    return render_calls(calls)


def prompt_key(messages: list[dict[str, Any]]) -> str:
    """Exact key of a conversation prefix."""
    return json.dumps(normalize_messages(messages), sort_keys=True, ensure_ascii=False)


def position_key(messages: list[dict[str, Any]]) -> str:
    """Looser key: system text, user messages so far, and assistant messages since the last user turn.

    In own-history episodes a damaged answer changes later history; this key still finds the
    reference answer of the same turn and step.
    """
    users = [m.get("content") or "" for m in messages if m["role"] == "user"]
    system = next((m.get("content") or "" for m in messages if m["role"] == "system"), "")
    last_user = max((i for i, m in enumerate(messages) if m["role"] == "user"), default=-1)
    steps = sum(1 for m in messages[last_user + 1 :] if m["role"] == "assistant")
    return json.dumps([system, users, steps], ensure_ascii=False)


class OracleRollout:
    """A RolloutEngine that answers with references (optionally damaged); it never generates."""

    def __init__(self, references: Iterable[tuple[list[dict[str, Any]], str]], perturbation: Perturbation | None = None):
        """`references`: (conversation prefix, reference completion text) pairs."""
        self.exact: dict[str, str] = {}
        self.by_position: dict[str, str] = {}
        for messages, text in references:
            self.exact[prompt_key(messages)] = text
            self.by_position.setdefault(position_key(messages), text)
        self.perturbation = perturbation
        self.answered = 0
        self.vocabulary: dict[str, int] = {}
        self.stats = RolloutStats()

    @classmethod
    def for_examples(cls, examples: Sequence[Any], episodes: Sequence[Any] = (), perturbation: Perturbation | None = None):
        """An oracle for EvalExamples (calls or replies) and env episodes (every step of every turn)."""
        pairs = []
        for example in examples:
            text = render_calls(reference_calls(example.answer)) if example.kind == "call" else example.reply
            pairs.append((example.messages, text))
        for episode in episodes:
            for task in episode.tasks():
                step = task.step
                pairs.append((task.messages(), render_calls(step.calls) if step.is_call else step.reply))
        return cls(pairs, perturbation)

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[list[Completion]]:
        """The reference answer for each prompt (damaged every `period`-th time), `params.n` copies."""
        out = []
        for prompt in prompts:
            if not isinstance(prompt, ChatPrompt):
                raise TypeError("OracleRollout answers chat prompts only")
            text = self.exact.get(prompt_key(prompt.messages)) or self.by_position.get(position_key(prompt.messages))
            if text is None:
                raise KeyError(f"no reference for prompt ending {prompt.messages[-1]!r}")
            if self.perturbation and self.perturbation.hits(self.answered):
                text = self._damage(text)
            self.answered += 1
            out.append([self._completion(text, params) for _ in range(params.n)])
            self.stats.prompts += 1
            self.stats.completions += params.n
        return out

    def _damage(self, text: str) -> str:
        from rlkit.toolcall import parse_tool_calls

        return perturb_calls(parse_tool_calls(text).calls, self.perturbation.kind)

    def _completion(self, text: str, params: SamplingParams) -> Completion:
        # One "token" per whitespace-separated word: a repeated phrase repeats its ids, as real tokens would.
        words = text.split(" ")
        ids = [self.vocabulary.setdefault(word, len(self.vocabulary) + 1) for word in words]
        if len(ids) > params.max_tokens:
            return Completion(" ".join(words[: params.max_tokens]), ids[: params.max_tokens], "length")
        return Completion(text=text, token_ids=ids, finish_reason="stop")
