"""Read LFM2's Python-call syntax (`[f(a=1), g.h(b="x")]`) into ToolCalls without evaluating it.

Only literal syntax is accepted: strings, numbers (with a sign), True/False/None and their JSON
spellings true/false/null (LFM2 templates mix both), lists, tuples (read as lists) and dicts.
Anything else (positional arguments, calls as values, names, attribute access on values,
operators, comprehensions, f-strings, bytes, sets) is a parse error, never evaluated.
"""

from __future__ import annotations

import ast
import warnings
from typing import Any

from rlkit.toolcall.call import ToolCall

# Nesting of literal values deeper than this is refused: no real tool argument needs it, and it
# bounds the recursion of the converter on hostile input.
MAX_VALUE_DEPTH = 64
# More calls than this in one block is refused (a model looping inside one block).
MAX_CALLS_PER_BLOCK = 256

_NAME_LITERALS = {"true": True, "false": False, "null": None, "True": True, "False": False, "None": None}
# Characters after a quote that mean the quote closes its string (used by the quote repair).
_CLOSERS = frozenset(",)]}:=")


class CallSyntaxError(ValueError):
    """The block is not a list of literal-argument calls; the message says what is wrong."""


def parse_python_calls(source: str) -> tuple[list[ToolCall], bool]:
    """Calls in `source` (a call, `[call, ...]` or `call, call`) and whether quote repair was needed."""
    try:
        return _calls_from_source(source), False
    except CallSyntaxError as first_error:
        if "'" not in source and '"' not in source:
            raise
        repaired = repair_unescaped_quotes(source)
        if repaired == source:
            raise
        try:
            return _calls_from_source(repaired), True
        except CallSyntaxError:
            raise first_error from None


def _calls_from_source(source: str) -> list[ToolCall]:
    tree = _parse_expression(source)
    if isinstance(tree, ast.Call):
        nodes = [tree]
    elif isinstance(tree, (ast.List, ast.Tuple)):
        nodes = tree.elts
    else:
        raise CallSyntaxError(f"expected a call or a list of calls, got {type(tree).__name__}")
    if len(nodes) > MAX_CALLS_PER_BLOCK:
        raise CallSyntaxError(f"more than {MAX_CALLS_PER_BLOCK} calls in one block")
    calls = []
    for node in nodes:
        if not isinstance(node, ast.Call):
            raise CallSyntaxError(f"list element is {type(node).__name__}, not a call")
        calls.append(call_from_node(node))
    return calls


def _parse_expression(source: str) -> ast.expr:
    # A raw NUL inside a quoted string is legal in the data but refused by the Python tokenizer;
    # its escape spelling means the same inside a string and is a syntax error anywhere else.
    if "\x00" in source:
        source = source.replace("\x00", "\\x00")
    try:
        if "\\" not in source:  # only backslash escapes can warn; skip the costly warnings guard
            return ast.parse(source.strip(), mode="eval").body
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escape sequences warn; their value is kept
            return ast.parse(source.strip(), mode="eval").body
    except SyntaxError as error:
        raise CallSyntaxError(f"syntax error: {error.msg}") from None
    except (MemoryError, RecursionError, ValueError) as error:
        # CPython's parser raises MemoryError/RecursionError on very deep nesting.
        raise CallSyntaxError(f"unparsable ({type(error).__name__}): input too deeply nested") from None


def parse_python_literal(source: str) -> Any:
    """The value of one literal expression (Python or JSON spelling); CallSyntaxError otherwise."""
    return literal_value(_parse_expression(source), depth=0)


def call_from_node(node: ast.Call) -> ToolCall:
    """One ast.Call with keyword arguments of literal values -> ToolCall."""
    name = dotted_name(node.func)
    if node.args:
        raise CallSyntaxError(f"{name}: positional arguments are not allowed")
    arguments: dict[str, Any] = {}
    for keyword in node.keywords:
        if keyword.arg is None:
            raise CallSyntaxError(f"{name}: **kwargs is not allowed")
        arguments[keyword.arg] = literal_value(keyword.value, depth=0)
    return ToolCall(name, arguments)


def dotted_name(node: ast.expr) -> str:
    """`a.b.c` from a Name/Attribute chain; anything else (calls, subscripts) is refused."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        raise CallSyntaxError(f"function name must be a (dotted) identifier, got {type(node).__name__}")
    parts.append(node.id)
    return ".".join(reversed(parts))


def literal_value(node: ast.expr, depth: int) -> Any:
    """The Python value of a literal node (JSON-compatible types only); CallSyntaxError otherwise."""
    if depth > MAX_VALUE_DEPTH:
        raise CallSyntaxError(f"value nested deeper than {MAX_VALUE_DEPTH}")
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, (str, int, float, bool)) or value is None:
            if isinstance(value, float) and value != value:  # NaN never equals itself; refuse it
                raise CallSyntaxError("NaN is not a valid argument value")
            return value
        raise CallSyntaxError(f"literal of type {type(value).__name__} is not allowed")
    if isinstance(node, ast.Name):
        if node.id in _NAME_LITERALS:
            return _NAME_LITERALS[node.id]
        raise CallSyntaxError(f"bare name {node.id!r} is not a literal")
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = node.operand
        if isinstance(operand, ast.Constant) and type(operand.value) in (int, float):
            return -operand.value if isinstance(node.op, ast.USub) else operand.value
        raise CallSyntaxError("unary sign is allowed on numbers only")
    if isinstance(node, (ast.List, ast.Tuple)):
        return [literal_value(element, depth + 1) for element in node.elts]
    if isinstance(node, ast.Dict):
        result = {}
        for key_node, value_node in zip(node.keys, node.values):
            if key_node is None:
                raise CallSyntaxError("**unpacking inside a dict is not allowed")
            key = literal_value(key_node, depth + 1)
            if isinstance(key, (list, dict)):
                raise CallSyntaxError("dict keys must be scalars")
            result[key] = literal_value(value_node, depth + 1)
        return result
    raise CallSyntaxError(f"{type(node).__name__} is not a literal value")


def repair_unescaped_quotes(source: str) -> str:
    """Escape quotes that cannot close their string (LFM2.5 writes `name='O'Brien'`).

    A quote inside a string closes it only when the next non-space character is one of
    `, ) ] } : =` or the end of the source; any other quote of the same kind is escaped. Linear in
    the length. A string that itself contains `', ` is still misread: that case stays an error.
    """
    out: list[str] = []
    quote = ""  # the quote character of the string we are inside, "" outside strings
    i, length = 0, len(source)
    while i < length:
        char = source[i]
        if not quote:
            if char in "'\"":
                quote = char
            out.append(char)
        elif char == "\\" and i + 1 < length:
            out.append(source[i : i + 2])
            i += 2
            continue
        elif char == quote:
            j = i + 1
            while j < length and source[j] in " \t":
                j += 1
            if j == length or source[j] in _CLOSERS:
                quote = ""
                out.append(char)
            else:
                out.append("\\" + char)
        else:
            out.append(char)
        i += 1
    return "".join(out)
