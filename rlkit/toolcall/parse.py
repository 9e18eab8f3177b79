"""Extract tool calls and the remaining text from a model completion. Never raises.

Behaviour (each case is tested):

- Calls live between `<|tool_call_start|>` and `<|tool_call_end|>`. The block holds LFM2's Python
  call syntax (`[f(a=1), g.h(b="x")]`, a single call without brackets, or `f(), g()`) or a JSON
  form: `{"name", "arguments"|"parameters"}` (arguments may be a JSON string), the OpenAI wrapper
  `{"type": "function", "function": {...}}`, the BFCL answer form `{"func": {"arg": value}}`, or a
  list of these.
- Several blocks: their calls are concatenated in order; `text` is everything outside the blocks.
- A block without `<|tool_call_end|>` (generation stopped early): its calls are still read if the
  rest parses, but `error` says the block is unterminated, so rewards treat it as malformed.
- An end marker without a start marker is an error; the stray marker is dropped from `text`.
- No markers at all: if the whole completion is one of the JSON forms above, those are the calls
  (some models answer in bare JSON); otherwise there are no calls and `text` is the completion.
- String arguments with unescaped inner quotes (`name='O'Brien'`, as the LFM2.5 templates write
  them) are repaired when the quote cannot close the string; `repaired` is then True.
- Hostile input is bounded: completions over MAX_COMPLETION_CHARS and blocks over
  MAX_BLOCK_CHARS return an error without parsing, as do blocks after the first MAX_BLOCKS;
  value nesting is capped (see pythonic.py). Marker search is linear in the completion length.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from rlkit.toolcall.call import ToolCall
from rlkit.toolcall.pythonic import (
    MAX_CALLS_PER_BLOCK,
    CallSyntaxError,
    parse_python_calls,
    parse_python_literal,
)

TOOL_CALL_START = "<|tool_call_start|>"
TOOL_CALL_END = "<|tool_call_end|>"
MAX_COMPLETION_CHARS = 1_000_000
MAX_BLOCK_CHARS = 100_000
MAX_BLOCKS = 64


@dataclass
class ParseResult:
    """Calls found in a completion, the text outside the call blocks (stripped), and any error."""

    calls: list[ToolCall] = field(default_factory=list)
    text: str = ""
    error: str | None = None
    repaired: bool = False  # an unescaped quote had to be repaired to read the calls

    @property
    def ok(self) -> bool:
        """True when nothing went wrong (there may still be zero calls)."""
        return self.error is None


def parse_tool_calls(text: str) -> ParseResult:
    """Calls and remaining text of a completion (LFM2 blocks or bare JSON); never raises."""
    try:
        return _parse(text)
    except Exception as error:  # noqa: BLE001 - last line of defence: model output must not crash training
        return ParseResult(text="", error=f"internal parser error: {type(error).__name__}: {error}")


def _parse(text: str) -> ParseResult:
    if not isinstance(text, str):
        return ParseResult(error=f"completion must be a string, got {type(text).__name__}")
    if len(text) > MAX_COMPLETION_CHARS:
        return ParseResult(text="", error=f"completion longer than {MAX_COMPLETION_CHARS} characters")
    if TOOL_CALL_START not in text and TOOL_CALL_END not in text:
        return _parse_without_markers(text)

    calls: list[ToolCall] = []
    outside: list[str] = []
    errors: list[str] = []
    repaired = False
    position = blocks = 0
    markers = _MarkerFinder(text)
    while position < len(text):
        start, end = markers.next_start(position), markers.next_end(position)
        if end != -1 and (start == -1 or end < start):
            outside.append(text[position:end])
            errors.append("tool_call_end marker without a start marker")
            position = end + len(TOOL_CALL_END)
            continue
        if start == -1:
            outside.append(text[position:])
            break
        blocks += 1
        if blocks > MAX_BLOCKS:
            errors.append(f"more than {MAX_BLOCKS} tool-call blocks")
            outside.append(text[start:])
            break
        outside.append(text[position:start])
        body_start = start + len(TOOL_CALL_START)
        end, restart = markers.next_end(body_start), markers.next_start(body_start)
        if end == -1 or (restart != -1 and restart < end):
            stop = restart if restart != -1 else len(text)
            errors.append("unterminated tool-call block")
            position = stop
        else:
            stop = end
            position = end + len(TOOL_CALL_END)
        block_calls, block_error, block_repaired = parse_block(text[body_start:stop])
        calls.extend(block_calls)
        repaired = repaired or block_repaired
        if block_error:
            errors.append(block_error)
    error = "; ".join(dict.fromkeys(errors)) or None
    return ParseResult(calls=calls, text="".join(outside).strip(), error=error, repaired=repaired)


class _MarkerFinder:
    """Next start/end marker at or after a position, each string searched once overall (linear)."""

    def __init__(self, text: str):
        self.text = text
        self.found = {TOOL_CALL_START: -2, TOOL_CALL_END: -2}  # -2: not searched yet

    def _next(self, marker: str, position: int) -> int:
        found = self.found[marker]
        if found == -2 or (found != -1 and found < position):
            found = self.text.find(marker, position)
            self.found[marker] = found
        return found

    def next_start(self, position: int) -> int:
        return self._next(TOOL_CALL_START, position)

    def next_end(self, position: int) -> int:
        return self._next(TOOL_CALL_END, position)


def _parse_without_markers(text: str) -> ParseResult:
    stripped = text.strip()
    if stripped[:1] in "{[" and stripped and len(stripped) <= MAX_BLOCK_CHARS:
        calls = _json_calls_or_none(stripped)
        if calls is not None:
            return ParseResult(calls=calls, text="")
    return ParseResult(text=stripped)


def _json_calls_or_none(source: str) -> list[ToolCall] | None:
    """Calls when `source` is strict JSON in one of the call forms, else None."""
    try:
        data = _strict_json(source)
    except (ValueError, RecursionError):
        return None
    try:
        return calls_from_data(data)
    except CallSyntaxError:
        return None


def parse_block(body: str) -> tuple[list[ToolCall], str | None, bool]:
    """(calls, error, repaired) for the text between the call markers."""
    if len(body) > MAX_BLOCK_CHARS:
        return [], f"tool-call block longer than {MAX_BLOCK_CHARS} characters", False
    source = body.strip()
    if not source:
        return [], "empty tool-call block", False
    if source.lstrip("[ \t\r\n")[:1] == "{":
        # JSON first: it spells escapes (\/, \uXXXX) that Python reads differently.
        try:
            return calls_from_data(_strict_json(source)), None, False
        except (ValueError, RecursionError, CallSyntaxError):
            pass  # fall through: Python-literal dicts (True, single quotes) are read below
    try:
        calls, repaired = parse_python_calls(source)
    except CallSyntaxError as error:
        dict_calls = _python_dict_calls_or_none(source)
        if dict_calls is None:
            return [], f"invalid tool call: {error}", False
        calls, repaired = dict_calls, False
    if not calls:
        return [], "empty tool-call block", repaired
    return calls, None, repaired


def _python_dict_calls_or_none(source: str) -> list[ToolCall] | None:
    """JSON call forms written with Python literals (`{'name': 'f', 'arguments': {...}}`)."""
    try:
        return calls_from_data(parse_python_literal(source))
    except CallSyntaxError:
        return None


def calls_from_data(data: Any) -> list[ToolCall]:
    """ToolCalls from decoded JSON in any accepted call form; CallSyntaxError when it is not one."""
    items = data if isinstance(data, list) else [data]
    if not items:
        raise CallSyntaxError("empty list of calls")
    if len(items) > MAX_CALLS_PER_BLOCK:
        raise CallSyntaxError(f"more than {MAX_CALLS_PER_BLOCK} calls")
    return [_call_from_mapping(item) for item in items]


def _call_from_mapping(item: Any) -> ToolCall:
    if not isinstance(item, dict):
        raise CallSyntaxError(f"call must be an object, got {type(item).__name__}")
    if isinstance(item.get("function"), dict) and "name" not in item:
        item = item["function"]  # OpenAI wrapper {"type": "function", "function": {...}}
    if "name" in item:
        unknown = set(item) - {"name", "arguments", "parameters", "id", "type"}
        if unknown:
            raise CallSyntaxError(f"unexpected keys in call object: {sorted(unknown)}")
        name = item["name"]
        arguments = item.get("arguments", item.get("parameters", {}))
    elif len(item) == 1:
        ((name, arguments),) = item.items()  # BFCL answer form {"func": {"arg": value}}
    else:
        raise CallSyntaxError("call object needs a 'name' key or the form {name: {arguments}}")
    if not isinstance(name, str) or not name:
        raise CallSyntaxError("function name must be a non-empty string")
    if isinstance(arguments, str):
        arguments = _arguments_from_json_string(arguments)
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict) or not all(isinstance(key, str) for key in arguments):
        raise CallSyntaxError(f"{name}: arguments must be an object with string keys")
    return ToolCall(name, arguments)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid argument value")


def _strict_json(source: str) -> Any:
    """json.loads without NaN/Infinity (they never compare equal and are not JSON)."""
    return json.loads(source, parse_constant=_refuse_constant)


def _arguments_from_json_string(arguments: str) -> Any:
    if not arguments.strip():
        return {}
    try:
        return _strict_json(arguments)
    except (ValueError, RecursionError):
        raise CallSyntaxError("arguments string is not valid JSON") from None
