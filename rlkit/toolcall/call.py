"""The tool-call value type shared by parsers, checkers, rewards, envs and judges."""

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
