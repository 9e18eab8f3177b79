"""Extract tool calls and the remaining text from a model completion. Never raises.

Behaviour (each case is tested):

- Calls live between `<|tool_call_start|>` and `<|tool_call_end|>` (LFM2), or between
  `<tool_call>` and `</tool_call>` (Hermes / Qwen templates: one JSON object per block,
  `{"name": ..., "arguments": {...}}`). Either block holds LFM2's Python call syntax
  (`[f(a=1), g.h(b="x")]`, a single call without brackets, or `f(), g()`) or a JSON form:
  `{"name", "arguments"|"parameters"}` (arguments may be a JSON string), the OpenAI wrapper
  `{"type": "function", "function": {...}}`, the BFCL answer form `{"func": {"arg": value}}`, or a
  list of these.
- Several blocks (of either style, even mixed): their calls are concatenated in order; `text` is
  everything outside the blocks. Inside a block only its own style's markers count.
- A block without its end marker (generation stopped early, or a second start marker of its style
  before the end): its calls are still read if the rest parses, but `error` says the block is
  unterminated, so rewards treat it as malformed.
- An end marker without a start marker is an error; the stray marker is dropped from `text`.
- No markers at all: if the whole completion is one of the JSON forms above, those are the calls
  (some models answer in bare JSON); otherwise there are no calls and `text` is the completion.
- String arguments with unescaped inner quotes (`name='O'Brien'`, as the LFM2.5 templates write
  them) are repaired when the quote cannot close the string; `repaired` is then True.
- Hostile input is bounded: completions over MAX_COMPLETION_CHARS and blocks over
  MAX_BLOCK_CHARS return an error without parsing, as do blocks after the first MAX_BLOCKS;
  value nesting is capped at MAX_VALUE_DEPTH in every form (see pythonic.py). Marker search is
  linear in the completion length. JSON is read by `json.loads` only, never evaluated.
- Speed: the common Python-call form goes through fast_pythonic.py (a JSON rewrite, several times
  faster than `ast.parse`); whatever it does not handle takes the ast path, with the same result.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from rlkit.toolcall.call import ToolCall
from rlkit.toolcall.fast_pythonic import fast_python_calls
from rlkit.toolcall.pythonic import (
    MAX_CALLS_PER_BLOCK,
    MAX_VALUE_DEPTH,
    CallSyntaxError,
    parse_python_calls,
    parse_python_literal,
)

TOOL_CALL_START = "<|tool_call_start|>"
TOOL_CALL_END = "<|tool_call_end|>"
HERMES_CALL_START = "<tool_call>"
HERMES_CALL_END = "</tool_call>"
# (start, end) marker pairs, LFM2 first; a block ends only at its own style's end marker.
BLOCK_MARKERS = ((TOOL_CALL_START, TOOL_CALL_END), (HERMES_CALL_START, HERMES_CALL_END))
_END_OF = dict(BLOCK_MARKERS)
_MARKER = re.compile("|".join(re.escape(marker) for pair in BLOCK_MARKERS for marker in pair))
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
    markers = text.count("<")  # every marker holds exactly one "<"
    if not markers:
        return _parse_without_markers(text)
    if markers == 2:  # the common case, one whole block and no other marker: skip the scan below
        for start_marker, end_marker in BLOCK_MARKERS:
            start = text.find(start_marker)
            if start != -1:
                end = text.find(end_marker, start + len(start_marker))
                if end != -1:
                    calls, error, repaired = parse_block(text[start + len(start_marker) : end])
                    outside = text[:start] + text[end + len(end_marker) :]
                    return ParseResult(calls=calls, text=outside.strip(), error=error, repaired=repaired)
                break
    calls: list[ToolCall] = []
    outside: list[str] = []
    errors: list[str] = []
    repaired = False

    def read_block(body: str) -> None:
        nonlocal repaired
        block_calls, block_error, block_repaired = parse_block(body)
        calls.extend(block_calls)
        repaired = repaired or block_repaired
        if block_error:
            errors.append(block_error)

    seen_marker = False
    position = blocks = body_start = 0
    open_marker = ""  # start marker of the block being read, "" between blocks
    # One left-to-right pass over all markers (linear in the text, whatever the input).
    for match in _MARKER.finditer(text):
        seen_marker = True
        marker, at = match.group(), match.start()
        if open_marker:
            if marker == _END_OF[open_marker]:
                read_block(text[body_start:at])
                open_marker, position = "", match.end()
                continue
            if marker != open_marker:
                continue  # the other style's marker inside a block is part of its body
            errors.append("unterminated tool-call block")  # its style starts again before it ended
            read_block(text[body_start:at])
            open_marker, position = "", at
        if marker not in _END_OF:
            outside.append(text[position:at])
            errors.append("tool_call_end marker without a start marker")
            position = match.end()
            continue
        blocks += 1
        if blocks > MAX_BLOCKS:
            errors.append(f"more than {MAX_BLOCKS} tool-call blocks")
            outside.append(text[at:])
            position = len(text)
            break
        outside.append(text[position:at])
        open_marker, body_start = marker, match.end()
    if not seen_marker:
        return _parse_without_markers(text)
    if open_marker:
        errors.append("unterminated tool-call block")
        read_block(text[body_start:])
    else:
        outside.append(text[position:])
    error = "; ".join(dict.fromkeys(errors)) or None
    return ParseResult(calls=calls, text="".join(outside).strip(), error=error, repaired=repaired)


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
    json_error = None
    if source.lstrip("[ \t\r\n")[:1] == "{":
        # JSON first: its escapes (\/ and \u plus four hex digits) read differently in Python.
        try:
            return calls_from_data(_strict_json(source)), None, False
        except CallSyntaxError as error:  # (a ValueError too) valid JSON that is no call: say why
            json_error = error
        except (ValueError, RecursionError):
            pass  # fall through: Python-literal dicts (True, single quotes) are read below
    else:
        fast = fast_python_calls(source)
        if fast is not None:
            return fast, None, False
    try:
        calls, repaired = parse_python_calls(source)
    except CallSyntaxError as error:
        dict_calls = _python_dict_calls_or_none(source)
        if dict_calls is None:
            return [], f"invalid tool call: {json_error or error}", False
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
    if _nested_deeper_than(arguments, MAX_VALUE_DEPTH):
        raise CallSyntaxError(f"{name}: value nested deeper than {MAX_VALUE_DEPTH}")
    return ToolCall(name, arguments)


def _nested_deeper_than(arguments: dict, limit: int) -> bool:
    """True when some value sits deeper than `limit` (an argument itself is at depth 0), as the
    Python-syntax reader counts it; iterative, so hostile depth cannot exhaust the stack."""
    stack = [(value, 0) for value in arguments.values() if type(value) in (list, dict)]
    while stack:
        value, depth = stack.pop()
        children = value.values() if type(value) is dict else value
        for child in children:
            if depth + 1 > limit:
                return True
            if type(child) in (list, dict):
                stack.append((child, depth + 1))
    return False


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid argument value")


# One decoder for all calls: json.loads with a keyword argument builds a new one each time.
_STRICT_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)


def _strict_json(source: str) -> Any:
    """json.loads without NaN/Infinity (they never compare equal and are not JSON)."""
    return _STRICT_DECODER.decode(source)


def _arguments_from_json_string(arguments: str) -> Any:
    if not arguments.strip():
        return {}
    try:
        return _strict_json(arguments)
    except (ValueError, RecursionError):
        raise CallSyntaxError("arguments string is not valid JSON") from None
