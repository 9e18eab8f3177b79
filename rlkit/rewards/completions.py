"""Read a TRL completion (a string, or a list of chat messages) into text and tool calls."""

from __future__ import annotations

from typing import Any

from rlkit.toolcall.parse import ParseResult, calls_from_data, parse_tool_calls
from rlkit.toolcall.pythonic import CallSyntaxError


def completion_text(completion: Any) -> str:
    """The generated text: the string itself, or the assistant messages' contents joined."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        completion = [completion]
    parts = []
    for message in completion or []:
        if isinstance(message, dict) and message.get("role", "assistant") == "assistant":
            content = message.get("content")
            if isinstance(content, list):  # multimodal content parts
                content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
            if isinstance(content, str):
                parts.append(content)
    return "\n".join(parts)


def parse_completion(completion: Any) -> ParseResult:
    """Tool calls and text of a completion; structured `tool_calls` on messages are included."""
    result = parse_tool_calls(completion_text(completion))
    if isinstance(completion, str):
        return result
    for message in completion if isinstance(completion, list) else [completion]:
        structured = message.get("tool_calls") if isinstance(message, dict) else None
        if structured:
            try:
                result.calls.extend(calls_from_data(list(structured)))
            except CallSyntaxError as error:
                result.error = "; ".join(filter(None, [result.error, f"invalid tool_calls field: {error}"]))
    return result


def row_columns(columns: dict[str, Any], index: int, count: int) -> dict[str, Any]:
    """The dataset columns of one row out of TRL's per-batch keyword lists."""
    return {key: value[index] for key, value in columns.items() if isinstance(value, list) and len(value) == count}
