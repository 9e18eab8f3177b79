"""Write ToolCalls in the LFM2 form, byte-for-byte as TRL's `lfm2_v2.jinja` renders them.

That template (rendered by transformers, whose `tojson` is `json.dumps(ensure_ascii=False)`):
strings are single-quoted with `\\`, `'`, newline and carriage return backslash-escaped; dicts
and lists go through `tojson` (so `true`/`null` appear inside them); other scalars through
Python `str` (`True`, `None`, `1.5`). The parser reads all of that back.
"""

from __future__ import annotations

import json
from typing import Any

from rlkit.toolcall.call import ToolCall
from rlkit.toolcall.parse import TOOL_CALL_END, TOOL_CALL_START

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


def render_calls(calls: list[ToolCall]) -> str:
    """`<|tool_call_start|>[f(a=1), g(b='x')]<|tool_call_end|>`; "" for no calls (as the template)."""
    if not calls:
        return ""
    return TOOL_CALL_START + "[" + ", ".join(render_call(call) for call in calls) + "]" + TOOL_CALL_END
