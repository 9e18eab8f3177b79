"""The validation funnel after parsing: schema, code-like content, test leaks, near-duplicates.

Rows go through in request order (so results do not depend on which reply arrived first); each is
kept or dropped with exactly one reason, the first check it fails. Overlap checks compare user
text, word n-grams, Jaccard (overlap.py): a row too close to a named test example is a leak; one
too close to a seed or to an earlier kept row is a near-duplicate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterator

from rlkit.synth.conversation import Conversation
from rlkit.synth.overlap import NgramIndex
from rlkit.synth.reasons import (
    CODE_LIKE_TEXT,
    INVALID_CALL,
    LEAKED_TEST_EXAMPLE,
    NEAR_DUPLICATE,
    NEAR_DUPLICATE_SEED,
    UNKNOWN_TOOL,
    Drop,
)
from rlkit.toolcall import WRONG_FUNCTION, validate_call

# Code and shell fragments that no user of a narrow assistant says; the teacher (or whoever feeds
# it) must not smuggle them into training data. Narrow on purpose: ordinary speech must not match.
_CODE_PATTERNS = re.compile(
    r"__\w+__"  # dunder names: __import__, __class__
    r"|\b(?:eval|exec|compile|getattr|setattr|open|system|popen|spawn|import_module)\s*\("
    r"|\b(?:os|sys|subprocess|shutil|builtins)\s*\.\s*\w+"
    r"|\brm\s+-[rf]+\b|\b(?:curl|wget)\s+https?://|\$\(|`[^`]*`"
    r"|<\s*script\b|\bDROP\s+TABLE\b",
    re.IGNORECASE,
)


@dataclass
class FilterSettings:
    """Thresholds of the content checks (overlaps are Jaccard of word n-grams, 0..1; >= drops)."""

    drop_code_like_text: bool = True
    ngram_size: int = 3
    seed_overlap: float = 0.8
    duplicate_overlap: float = 0.8
    leak_overlap: float = 0.6


def schema_problem(conversation: Conversation, tools: list[dict]) -> Drop | None:
    """unknown_tool / invalid_call for the first call (earlier turns, then next_call) that breaks the tools."""
    calls = [(f"turn call {i}", call) for i, call in enumerate(conversation.history_calls())]
    calls.append(("next_call", conversation.next_call))
    for where, call in calls:
        verdict = validate_call(call, tools)
        if not verdict.ok:
            reason = UNKNOWN_TOOL if verdict.reason == WRONG_FUNCTION else INVALID_CALL
            return Drop(reason, f"{where}: {verdict.reason}: {verdict.detail}")
    return None


def code_like_fragment(conversation: Conversation) -> str | None:
    """The first code- or shell-like fragment in user/tool text or any string argument value, if any."""
    for text in _all_strings(conversation):
        match = _CODE_PATTERNS.search(text)
        if match:
            return match.group(0)
    return None


def _all_strings(conversation: Conversation) -> Iterator[str]:
    for message in conversation.messages:
        if message["role"] in ("user", "tool"):
            yield message["content"]
    for call in [*conversation.history_calls(), conversation.next_call]:
        yield from _strings_in(call.arguments)


def _strings_in(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings_in(item)


class Funnel:
    """Keeps or drops conversations one at a time; remembers kept rows for the duplicate check."""

    def __init__(
        self,
        tools: list[dict],
        seeds: list[Conversation],
        test_examples: list[Conversation],
        settings: FilterSettings,
    ) -> None:
        self.tools = tools
        self.settings = settings
        self.seed_index = _index(seeds, "seed", settings.ngram_size)
        self.test_index = _index(test_examples, "test", settings.ngram_size)
        self.kept_index = NgramIndex(settings.ngram_size)

    def admit(self, row_id: str, conversation: Conversation) -> Drop | None:
        """None when the row is kept (and remembered), else the Drop with its reason."""
        drop = schema_problem(conversation, self.tools)
        if drop is not None:
            return drop
        if self.settings.drop_code_like_text and (fragment := code_like_fragment(conversation)) is not None:
            return Drop(CODE_LIKE_TEXT, f"found {fragment[:60]!r}")
        text = conversation.user_text()
        checks = (
            (self.test_index, self.settings.leak_overlap, LEAKED_TEST_EXAMPLE),
            (self.seed_index, self.settings.seed_overlap, NEAR_DUPLICATE_SEED),
            (self.kept_index, self.settings.duplicate_overlap, NEAR_DUPLICATE),
        )
        for index, threshold, reason in checks:
            match = index.closest(text)
            if match is not None and match.overlap >= threshold:
                return Drop(reason, f"overlap {match.overlap:.2f} >= {threshold} with {match.key}")
        self.kept_index.add(row_id, text)
        return None


def _index(conversations: list[Conversation], prefix: str, n: int) -> NgramIndex:
    index = NgramIndex(n)
    for i, conversation in enumerate(conversations):
        index.add(f"{prefix} #{i}", conversation.user_text())
    return index

