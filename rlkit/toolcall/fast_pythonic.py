"""Fast path for the common LFM2 call syntax: rewrite it into JSON and let `json.loads` read it.

`ast.parse` costs tens of microseconds per block and was most of parse+check time. The form the
templates write (`[f(a=1, b='x', c={"k": true}), g.h(d=[1, None])]`) becomes JSON after a few
token rewrites: a call `name(` becomes `["\\u0001name",{`, a keyword `kw=` becomes
`"\\u0000kw":`, `)` becomes `},"\\u0002"]`, single-quoted strings become double-quoted ones and
True/False/None become true/false/null. The control-character markers cannot come from the
model's text (this path refuses `\\u` escapes and raw control characters), so after decoding,
counting them proves that every call sits at the top level and every keyword directly in a call.

Anything outside that subset returns None and the caller takes the ast path (pythonic.py):
tuples and parentheses as values, escapes whose meaning differs between Python and JSON (`\\u`,
`\\x`, `\\/`, `\\'` in double quotes, octal), string prefixes, adjacent strings, non-ASCII names,
keywords as names, trailing commas, non-string dict keys, numbers JSON does not spell the same
(`1_000`, `0x1`, `.5`, `1.e5`, `01e5`, `+1`, `- 1`), lone surrogates, more bracket openers than
the nesting cap, duplicate keywords. Where this returns calls they equal the ast path's exactly
(property-tested in tests/unit/test_toolcall_fast_pythonic.py).
"""

from __future__ import annotations

import json
import keyword
import re
from functools import lru_cache

from rlkit.toolcall.call import ToolCall
from rlkit.toolcall.pythonic import MAX_CALLS_PER_BLOCK, MAX_VALUE_DEPTH

# Possessive quantifiers (Python 3.11+) keep the scan from backtracking: most of its cost.
_TOKEN = re.compile(
    "("  # one capturing group around everything: split() then returns the tokens too
    r'"(?:[^"\\\x00-\x1f]++|\\["\\bfnrt])*+"'  # double-quoted string whose escapes mean the same in JSON
    r"|'(?:[^'\\\x00-\x1f]++|\\['\"\\bfnrt])*+'"  # single-quoted string (same escapes, and \\')
    r"|[A-Za-z_][A-Za-z0-9_]*+(?:\.[A-Za-z_][A-Za-z0-9_]*+)*+ *+[(=]?"  # (dotted) name, call or keyword
    r"|[0-9][eE][+-]?[0-9]++"  # the exponent of a number, so that its letter is not read as a name
    r"|[()\\#'\"]"  # `)` ends a call; the rest starts a tuple, an escape, a comment or an odd string
    ")"
)
_SINGLE_QUOTED_ESCAPE = re.compile(r'\\(.)|"')
_LITERAL_NAMES = {"true": "true", "false": "false", "null": "null", "True": "true", "False": "false", "None": "null"}
_KEYWORDS = frozenset(keyword.kwlist)
_CALL, _KWARG, _END = "\\u0001", "\\u0000", "\\u0002"  # as written into the JSON text
_CALL_END = '},"' + _END + '"]'
_GIVE_UP = frozenset("(\\#'\"")
_DIGITS = frozenset("0123456789")


class _Unsupported(Exception):
    """Raised inside the rewrite to leave the fast path at the first token it does not handle."""


def fast_python_calls(source: str) -> list[ToolCall] | None:
    """The calls of a stripped call block when it is in the JSON-compatible subset, else None."""
    if not source.isascii():
        try:
            source.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates: the ast path refuses them, JSON would not
            return None
    if source.count("[") + source.count("{") > MAX_VALUE_DEPTH:
        return None  # might exceed the nesting cap: let the ast path decide and say so
    # split() hands the tokens over as strings in one C call: cheaper than a callback per match.
    parts = _TOKEN.split(source)
    try:
        parts[1::2] = [
            token if token[0] == '"' and len(token) > 1  # double-quoted: already JSON
            else _single_quoted(token) if token[0] == "'"
            else _rewrite_word(token)
            for token in parts[1::2]
        ]
    except _Unsupported:
        return None
    text = "".join(parts)
    if source[:1] != "[":
        text = "[" + text + "]"  # `f(a=1)` or `f(), g()`: the ast path reads these as calls too
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    opened = text.count(_CALL)
    if not data or len(data) > MAX_CALLS_PER_BLOCK or len(data) != opened or text.count(_END) != opened:
        return None
    calls = []
    keywords = 0
    for item in data:
        if type(item) is not list or len(item) != 3:
            return None
        name, arguments, end = item
        if type(name) is not str or name[:1] != "\x01" or type(arguments) is not dict or end != "\x02":
            return None
        stripped = {key[1:]: value for key, value in arguments.items() if key[:1] == "\x00"}
        if len(stripped) != len(arguments):
            return None  # a key that is not a keyword argument sits directly in the call
        keywords += len(stripped)
        calls.append(ToolCall(name[1:], stripped))
    if keywords != text.count(_KWARG):
        return None  # a duplicate keyword, or `kw=` somewhere other than directly in a call
    return calls


def _single_quoted(token: str) -> str:
    """A single-quoted Python string as a JSON string (`\\'` -> `'`, raw `"` escaped)."""
    if len(token) == 1:
        raise _Unsupported  # a quote the string pattern could not read
    body = token[1:-1]
    if "\\" in body or '"' in body:
        body = _SINGLE_QUOTED_ESCAPE.sub(_json_escape, body)
    return '"' + body + '"'


@lru_cache(maxsize=8192)
def _rewrite_word(token: str) -> str:
    """JSON for a name, keyword, call start, exponent or `)` token; cached: names repeat per task."""
    first = token[0]
    if first == ")":
        return _CALL_END
    if first in _DIGITS:
        return token  # an exponent: JSON spells `1e-09` as Python does
    if first in _GIVE_UP:
        raise _Unsupported
    last = token[-1]
    if last == "=":
        name = token[:-1].rstrip(" ")
        if name in _KEYWORDS or "." in name:
            raise _Unsupported
        return '"' + _KWARG + name + '":'
    if last == "(":
        name = token[:-1].rstrip(" ")
        if name in _KEYWORDS or ("." in name and not _KEYWORDS.isdisjoint(name.split("."))):
            raise _Unsupported
        return '["' + _CALL + name + '",{'
    literal = _LITERAL_NAMES.get(token.rstrip(" "))
    if literal is None:
        raise _Unsupported  # a bare name, or a letter right after a number (`1e5`, `0x1`, `1_0`)
    return literal


def _json_escape(match: re.Match) -> str:
    """Inside a single-quoted body: `\\'` -> `'`, raw `"` -> `\\"`, other escapes unchanged."""
    escaped = match.group(1)
    if escaped is None:
        return '\\"'
    return "'" if escaped == "'" else match.group(0)
