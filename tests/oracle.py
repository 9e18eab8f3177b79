"""Reference-answering rollout engines that test the scoring path, not generation.

`OracleRollout` answers each prompt with its reference: the reference calls (first non-empty
acceptable values) rendered with `render_calls`, or the reference reply text. With a
`Perturbation` it damages every `period`-th answer in a known way — one of the checker's
perturbations (rlkit.toolcall.perturb: wrong name, dropped required argument, wrong value, ...),
a broken call block, or a text loop to the token limit — and records the verdict reason each
answer must get (`predicted`), so a test can require the scores to drop exactly as predicted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from rlkit.chat import normalize_messages
from rlkit.rollout.base import ChatPrompt, Completion, Prompt, RolloutStats, SamplingParams
from rlkit.toolcall import OK, PARSE_ERROR, NO_CALL, expected_from_answer, load_tools, render_calls
from rlkit.toolcall.perturb import PERTURBATIONS, reference_calls

BREAK_SYNTAX = "break_syntax"  # the call block loses its closing parenthesis -> parse_error
TEXT_LOOP = "loop"  # a repeated phrase running to the token limit -> no_call, and a loop
KINDS = (*PERTURBATIONS, BREAK_SYNTAX, TEXT_LOOP)
LOOP_TEXT = "let me check that for you "


@dataclass
class Perturbation:
    """Damage the answers to prompts number offset, offset + period, ... (0-based, engine lifetime)."""

    kind: str
    period: int = 2
    offset: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown perturbation {self.kind!r}; known: {', '.join(KINDS)}")
        if self.period < 1:
            raise ValueError("perturbation period must be >= 1")

    def hits(self, index: int) -> bool:
        """Whether the answer to the `index`-th prompt is damaged."""
        return index >= self.offset and (index - self.offset) % self.period == 0


@dataclass
class Reference:
    """What the oracle answers for one conversation prefix: calls (with answer + tools) or a reply."""

    answer: Any = None  # answer column value (reference or BFCL form); None for a reply
    tools: Any = None
    reply: str = ""

    def text(self) -> str:
        """The undamaged completion."""
        return self.reply if self.answer is None else render_calls(reference_calls(expected_from_answer(self.answer), "given"))


@dataclass
class Prediction:
    """The outcome a damaged (or intact) answer must get."""

    kind: str  # "call" or "reply"
    reason: str  # verdict reason for calls; "ok" for replies
    looped: bool


def prompt_key(messages: list[dict[str, Any]]) -> str:
    """Exact key of a conversation prefix."""
    return json.dumps(normalize_messages(messages), sort_keys=True, ensure_ascii=False)


def position_key(messages: list[dict[str, Any]]) -> str:
    """Looser key: system text, user messages so far, and assistant messages since the last user turn.

    In own-history episodes a damaged answer changes the later history; this key still finds the
    reference answer of the same turn and step.
    """
    users = [m.get("content") or "" for m in messages if m["role"] == "user"]
    system = next((m.get("content") or "" for m in messages if m["role"] == "system"), "")
    last_user = max((i for i, m in enumerate(messages) if m["role"] == "user"), default=-1)
    steps = sum(1 for m in messages[last_user + 1 :] if m["role"] == "assistant")
    return json.dumps([system, users, steps], ensure_ascii=False)


class OracleRollout:
    """A RolloutEngine that answers with references (optionally damaged); it never generates."""

    def __init__(self, references: Iterable[tuple[list[dict[str, Any]], Reference]], perturbation: Perturbation | None = None):
        self.exact: dict[str, Reference] = {}
        self.by_position: dict[str, Reference] = {}
        for messages, reference in references:
            self.exact[prompt_key(messages)] = reference
            self.by_position.setdefault(position_key(messages), reference)
        self.perturbation = perturbation
        self.predicted: list[Prediction] = []
        self.vocabulary: dict[str, int] = {}
        self.stats = RolloutStats()

    @classmethod
    def for_examples(cls, examples: Sequence[Any], episodes: Sequence[Any] = (), perturbation: Perturbation | None = None):
        """An oracle for EvalExamples (calls or replies) and env episodes (every step of every turn)."""
        pairs = [
            (ex.messages, Reference(answer=ex.answer, tools=ex.tools) if ex.kind == "call" else Reference(reply=ex.reply))
            for ex in examples
        ]
        for episode in episodes:
            for task in episode.tasks():
                step = task.step
                answer = [{"name": c.name, "arguments": c.arguments} for c in step.calls]
                reference = Reference(answer=answer, tools=episode.tools) if step.is_call else Reference(reply=step.reply)
                pairs.append((task.messages(), reference))
        return cls(pairs, perturbation)

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[list[Completion]]:
        """The reference answer for each prompt (damaged every `period`-th time), `params.n` copies."""
        out = []
        for prompt in prompts:
            if not isinstance(prompt, ChatPrompt):
                raise TypeError("OracleRollout answers chat prompts only")
            reference = self.exact.get(prompt_key(prompt.messages)) or self.by_position.get(position_key(prompt.messages))
            if reference is None:
                raise KeyError(f"no reference for a prompt ending {prompt.messages[-1]!r}")
            damage = self.perturbation is not None and self.perturbation.hits(len(self.predicted))
            text, prediction = self._answer(reference, damage, params.max_tokens)
            self.predicted.append(prediction)
            out.append([self._completion(text, params) for _ in range(params.n)])
            self.stats.prompts += 1
            self.stats.completions += params.n
        return out

    def _answer(self, reference: Reference, damage: bool, max_tokens: int) -> tuple[str, Prediction]:
        kind = "reply" if reference.answer is None else "call"
        if not damage:
            return reference.text(), Prediction(kind, OK, False)
        if self.perturbation.kind == TEXT_LOOP:
            words = max_tokens // len(LOOP_TEXT.split()) + 2
            return LOOP_TEXT * words, Prediction(kind, NO_CALL if kind == "call" else OK, True)
        if kind == "reply":
            return reference.text(), Prediction(kind, OK, False)  # call perturbations leave replies alone
        if self.perturbation.kind == BREAK_SYNTAX:
            return reference.text().replace(")]<|tool_call_end|>", "]<|tool_call_end|>"), Prediction(kind, PARSE_ERROR, False)
        expected = expected_from_answer(reference.answer)
        gold = reference_calls(expected, "given")
        changed = PERTURBATIONS[self.perturbation.kind](gold, expected, load_tools(reference.tools)) if gold else None
        if changed is None:  # the perturbation does not apply to this answer: it stays correct
            return render_calls(gold), Prediction(kind, OK, False)
        calls, reason = changed
        return render_calls(calls) if calls else "", Prediction(kind, reason, False)

    def _completion(self, text: str, params: SamplingParams) -> Completion:
        # One "token" per space-separated word: a repeated phrase repeats its ids, as real tokens would.
        words = text.split(" ")
        ids = [self.vocabulary.setdefault(word, len(self.vocabulary) + 1) for word in words]
        if len(ids) > params.max_tokens:
            return Completion(" ".join(words[: params.max_tokens]), ids[: params.max_tokens], "length")
        return Completion(text=text, token_ids=ids, finish_reason="stop")
