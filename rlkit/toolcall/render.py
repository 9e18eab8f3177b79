"""Write ToolCalls as chat templates do: the LFM2 form (`lfm2_v2.jinja`) or the Hermes form (Qwen).

Both byte-for-byte as TRL's templates render them (tests/unit/test_toolcall_render.py). The LFM2
template (rendered by transformers, whose `tojson` is `json.dumps(ensure_ascii=False)`):
strings are single-quoted with `\\`, `'`, newline and carriage return backslash-escaped; dicts
and lists go through `tojson` (so `true`/`null` appear inside them); other scalars through
Python `str` (`True`, `None`, `1.5`). The Hermes form (`qwen2_5.jinja`, `qwen3.jinja`) writes one
`<tool_call>\n{"name": "<name>", "arguments": <tojson>}\n</tool_call>` per call, joined by newlines.
The parser reads all of that back.
"""

from __future__ import annotations

import json
from typing import Any

from rlkit.toolcall.call import ToolCall
from rlkit.toolcall.parse import HERMES_CALL_END, HERMES_CALL_START, TOOL_CALL_END, TOOL_CALL_START

CALL_STYLES = ("lfm2", "hermes")

_STRING_ESCAPES = str.maketrans({"\\": "\\\\", "'": "\\'", "\n": "\\n", "\r": "\\r"})


def render_value(value: Any) -> str:
    """One argument value as the lfm2_v2 template writes it."""
    if isinstance(value, str):
        return "'" + value.translate(_STRING_ESCAPES) + "'"
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def render_call(call: ToolCall) -> str:
    """`name(arg=value, ...)` for one call."""
    arguments = ", ".join(f"{key}={render_value(value)}" for key, value in call.arguments.items())
    return f"{call.name}({arguments})"


def render_calls(calls: list[ToolCall], style: str = "lfm2") -> str:
    """`<|tool_call_start|>[f(a=1), g(b='x')]<|tool_call_end|>` (lfm2) or Hermes blocks; "" for none."""
    if style == "hermes":
        return "\n".join(render_hermes_call(call) for call in calls)
    if style != "lfm2":
        raise ValueError(f"style must be one of {CALL_STYLES}, got {style!r}")
    if not calls:
        return ""
    return TOOL_CALL_START + "[" + ", ".join(render_call(call) for call in calls) + "]" + TOOL_CALL_END


def render_hermes_call(call: ToolCall) -> str:
    """One `<tool_call>` block; the name is written unescaped, as the Qwen templates do."""
    arguments = json.dumps(call.arguments, ensure_ascii=False)
    return f'{HERMES_CALL_START}\n{{"name": "{call.name}", "arguments": {arguments}}}\n{HERMES_CALL_END}'
