"""Tool calls: parse (LFM2 pythonic, JSON, Hermes), render (lfm2_v2 or Hermes form), validate against schemas, check equivalence."""

from rlkit.toolcall.call import ToolCall
from rlkit.toolcall.check import (
    MISSING_ARGUMENT,
    MISSING_REQUIRED,
    NO_CALL,
    OK,
    PARSE_ERROR,
    REASONS,
    UNEXPECTED_ARGUMENT,
    VALUE_NOT_ACCEPTABLE,
    WRONG_COUNT,
    WRONG_FUNCTION,
    WRONG_TYPE,
    AnswerFormatError,
    ExpectedCall,
    Verdict,
    check_calls,
    expected_from_answer,
    explain_calls,
    validate_call,
)
from rlkit.toolcall.parse import (
    HERMES_CALL_END,
    HERMES_CALL_START,
    TOOL_CALL_END,
    TOOL_CALL_START,
    ParseResult,
    parse_tool_calls,
)
from rlkit.toolcall.render import render_calls, render_value
from rlkit.toolcall.schema import ToolSchemaError, load_tools
from rlkit.toolcall.values import standardize_string


def clear_caches() -> None:
    """Forget the parsed answers, tool schemas and call-syntax tokens cached so far (benchmarks, memory)."""
    from rlkit.toolcall import check, fast_pythonic, schema

    check._expected_from_json.cache_clear()
    schema._load_tools_json.cache_clear()
    fast_pythonic._rewrite_word.cache_clear()


__all__ = [
    "HERMES_CALL_END",
    "HERMES_CALL_START",
    "MISSING_ARGUMENT",
    "MISSING_REQUIRED",
    "NO_CALL",
    "OK",
    "PARSE_ERROR",
    "REASONS",
    "TOOL_CALL_END",
    "TOOL_CALL_START",
    "UNEXPECTED_ARGUMENT",
    "VALUE_NOT_ACCEPTABLE",
    "WRONG_COUNT",
    "WRONG_FUNCTION",
    "WRONG_TYPE",
    "AnswerFormatError",
    "ExpectedCall",
    "ParseResult",
    "ToolCall",
    "ToolSchemaError",
    "Verdict",
    "check_calls",
    "clear_caches",
    "expected_from_answer",
    "explain_calls",
    "load_tools",
    "parse_tool_calls",
    "render_calls",
    "render_value",
    "standardize_string",
    "validate_call",
]
