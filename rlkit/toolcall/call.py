"""The tool-call value types shared by parsers, checkers, rewards, envs and judges."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ToolCall:
    """One function call: a (possibly dotted) name and its keyword arguments."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)

    def to_openai(self) -> dict[str, Any]:
        """The OpenAI/chat-template form: `{"type": "function", "function": {name, arguments}}`."""
        return {"type": "function", "function": {"name": self.name, "arguments": dict(self.arguments)}}


@dataclass
class ExpectedCall:
    """An expected call: name and, per argument, the list of acceptable values (`""` = may be omitted).

    Read-only once checked: the verdict path keeps a matcher compiled from it (see matcher.py).
    """

    name: str
    arguments: dict[str, list]
    # (schemas object last checked against, its compiled matcher or None before the second use)
    _matcher: tuple | None = field(default=None, init=False, repr=False, compare=False)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_matcher": None}  # matchers are closures: rebuild them after a copy
