"""Tool calls: parse (LFM2 pythonic, JSON), render (lfm2_v2 form), validate against schemas, check equivalence."""

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
    validate_call,
)
from rlkit.toolcall.parse import TOOL_CALL_END, TOOL_CALL_START, ParseResult, parse_tool_calls
from rlkit.toolcall.render import render_calls, render_value
from rlkit.toolcall.schema import ToolSchemaError, load_tools
from rlkit.toolcall.values import standardize_string

__all__ = [
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
    "expected_from_answer",
    "load_tools",
    "parse_tool_calls",
    "render_calls",
    "render_value",
    "standardize_string",
    "validate_call",
]
