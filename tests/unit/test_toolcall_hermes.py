"""Hermes/Qwen-style tool calls: `<tool_call>{"name": ..., "arguments": {...}}</tool_call>`.

Rendering matches TRL's Qwen templates byte for byte; parsing goes through the same safe parser
as the LFM2 forms (JSON via json.loads, never evaluated) and never raises. Fuzzing is in
test_toolcall_fuzz.py, with the LFM2 forms.
"""

import json
import time
from pathlib import Path

import pytest
import trl
from hypothesis import given, settings
from transformers.utils.chat_template_utils import render_jinja_template

from rlkit.toolcall import HERMES_CALL_END, HERMES_CALL_START, TOOL_CALL_END, TOOL_CALL_START, ToolCall, parse_tool_calls, render_calls

from test_toolcall_strategies import call_lists, strictly_equal

TEMPLATES = Path(trl.__file__).parent / "chat_templates"


def hermes(payload) -> str:
    """One Hermes block around a JSON payload (a string is used as is)."""
    body = payload if isinstance(payload, str) else json.dumps(payload)
    return f"{HERMES_CALL_START}\n{body}\n{HERMES_CALL_END}"


def qwen_rendering(template: str, calls: list[ToolCall]) -> str:
    """The assistant turn's tool-call text as TRL's Qwen template writes it (no content, no thinking)."""
    messages = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "", "tool_calls": [call.to_openai() for call in calls]},
        {"role": "user", "content": "thanks"},  # keeps Qwen3's think block off this turn
    ]
    source = (TEMPLATES / template).read_text()
    rendered = render_jinja_template([messages], chat_template=source, bos_token="")[0][0]
    turn = rendered[rendered.index("<|im_start|>assistant") + len("<|im_start|>assistant") :]
    return turn[: turn.index("<|im_end|>")].removeprefix("\n")


# ---------------------------------------------------------------- rendering
@pytest.mark.parametrize("template", ["qwen2_5.jinja", "qwen3.jinja"])
def test_render_matches_qwen_templates(template):
    calls = [
        ToolCall("get_weather", {"city": "Zürich", "days": [1, 2], "opts": {"metric": True, "x": None}}),
        ToolCall("math.factorial", {"n": 5}),
        ToolCall("noop", {}),
    ]
    assert render_calls(calls, style="hermes") == qwen_rendering(template, calls)


@settings(max_examples=40, deadline=None)
@given(call_lists)
def test_render_equals_qwen_template_property(calls):
    assert render_calls(calls, style="hermes") == qwen_rendering("qwen2_5.jinja", calls)


@settings(max_examples=300, deadline=None)
@given(call_lists)
def test_hermes_parse_render_round_trip_property(calls):
    result = parse_tool_calls(render_calls(calls, style="hermes"))
    assert result.error is None, result.error
    assert strictly_equal(result.calls, calls) and result.text == ""


def test_unknown_render_style_is_an_error():
    with pytest.raises(ValueError, match="style"):
        render_calls([ToolCall("f", {})], style="xml")
    assert render_calls([], style="hermes") == ""


# ---------------------------------------------------------------- parsing
def test_one_block_with_surrounding_text():
    text = "Let me check.\n" + hermes({"name": "get_weather", "arguments": {"city": "Paris"}}) + "\nOne moment."
    result = parse_tool_calls(text)
    assert result.calls == [ToolCall("get_weather", {"city": "Paris"})]
    assert result.error is None and result.text == "Let me check.\n\nOne moment."


def test_several_blocks_in_order_and_mixed_with_lfm2_blocks():
    text = (
        hermes({"name": "f", "arguments": {"a": 1}})
        + " and "
        + f"{TOOL_CALL_START}[g(b='x')]{TOOL_CALL_END}"
        + hermes({"name": "h.i", "arguments": {}})
    )
    result = parse_tool_calls(text)
    assert [call.name for call in result.calls] == ["f", "g", "h.i"]
    assert result.error is None and result.text == "and"


def test_accepted_json_forms_inside_a_block():
    forms = {
        '{"name": "f", "arguments": "{\\"a\\": 1}"}': {"a": 1},  # arguments as a JSON string
        '{"name": "f", "arguments": ""}': {},
        '{"name": "f", "parameters": {"a": 1}}': {"a": 1},
        '{"name": "f"}': {},
        '{"type": "function", "function": {"name": "f", "arguments": {"a": 1}}}': {"a": 1},
        '{"f": {"a": 1}}': {"a": 1},
        '[{"name": "f", "arguments": {"a": 1}}]': {"a": 1},
    }
    for body, arguments in forms.items():
        result = parse_tool_calls(hermes(body))
        assert (result.calls, result.error) == ([ToolCall("f", arguments)], None), body


def test_json_escapes_keep_their_json_meaning():
    result = parse_tool_calls(hermes('{"name": "f", "arguments": {"p": "a\\/b", "e": "\\u00e9\\ud83d\\ude00"}}'))
    assert result.calls == [ToolCall("f", {"p": "a/b", "e": "é😀"})]


@pytest.mark.parametrize(
    "body, fragment",
    [
        ('{"name": "f", "arguments": [1, 2]}', "arguments must be an object"),
        ('{"name": "f", "arguments": 3}', "arguments must be an object"),
        ('{"name": "f", "arguments": "[1]"}', "arguments must be an object"),
        ('{"name": "f", "arguments": "{not json"}', "not valid JSON"),
        ('{"name": 7, "arguments": {}}', "non-empty string"),
        ('{"name": "", "arguments": {}}', "non-empty string"),
        ('{"name": null}', "non-empty string"),
        ('{"name": "f", "arguments": {}, "extra": 1}', "unexpected keys"),
        ('{"a": 1, "b": 2}', "needs a 'name'"),
        ("[]", "empty"),
        ('{"name": "f", "arguments": {"x": NaN}}', "invalid tool call"),
        ('{"name": "f", "arguments": {"x": Infinity}}', "invalid tool call"),
        ("", "empty tool-call block"),
        ("just words", "invalid tool call"),
    ],
)
def test_malformed_blocks_are_errors_with_no_calls(body, fragment):
    result = parse_tool_calls(hermes(body))
    assert result.calls == [] and fragment in result.error, result.error


def test_python_syntax_inside_a_block_is_never_evaluated(tmp_path):
    marker = tmp_path / "pwned"
    for body in (f"__import__('os').system('touch {marker}')", f"open('{marker}', 'w')", "(lambda: 1)()"):
        result = parse_tool_calls(hermes(body))
        assert result.calls == [] and result.error is not None, body
    assert not marker.exists()


def test_unterminated_and_nested_tags():
    call = {"name": "f", "arguments": {"a": 1}}
    truncated = parse_tool_calls("ok " + HERMES_CALL_START + json.dumps(call))
    assert truncated.calls == [ToolCall("f", {"a": 1})] and truncated.error == "unterminated tool-call block"
    assert truncated.text == "ok"
    cut = parse_tool_calls(HERMES_CALL_START + '{"name": "f", "argu')
    assert cut.calls == [] and "unterminated" in cut.error
    nested = parse_tool_calls(HERMES_CALL_START + hermes(call))  # a start tag again before the end
    assert nested.calls == [ToolCall("f", {"a": 1})] and "unterminated" in nested.error
    stray = parse_tool_calls("done" + HERMES_CALL_END)
    assert stray.calls == [] and "without a start" in stray.error and stray.text == "done"


def test_markers_of_the_other_style_inside_a_block_are_content():
    text = hermes({"name": "echo", "arguments": {"s": TOOL_CALL_END + " and " + TOOL_CALL_START}})
    assert parse_tool_calls(text).calls == [ToolCall("echo", {"s": TOOL_CALL_END + " and " + TOOL_CALL_START})]
    lfm2 = f"{TOOL_CALL_START}[echo(s='{HERMES_CALL_START}x{HERMES_CALL_END}')]{TOOL_CALL_END}"
    result = parse_tool_calls(lfm2)
    assert result.error is None and result.calls == [ToolCall("echo", {"s": "<tool_call>x</tool_call>"})]


def test_hostile_sizes_and_depths_are_bounded_and_fast():
    cases = {
        "deep arrays": '{"name": "f", "arguments": {"x": ' + "[" * 30_000 + "]" * 30_000 + "}}",
        "deep objects": '{"name": "f", "arguments": {"x": ' + '{"a": ' * 20_000 + "1" + "}" * 20_000 + "}}",
        "deep in a string": '{"name": "f", "arguments": "' + '{\\"a\\": ' * 5_000 + "1" + "}" * 5_000 + '"}',
        "just past the cap": '{"name": "f", "arguments": {"x": ' + "[" * 65 + "1" + "]" * 65 + "}}",
        "huge block": '{"name": "f", "arguments": {"x": "' + "a" * 200_000 + '"}}',
        "many calls": json.dumps([{"name": "f", "arguments": {}}] * 1_000),
    }
    for name, body in cases.items():
        start = time.process_time()
        result = parse_tool_calls(hermes(body))
        assert result.calls == [] and result.error is not None, name
        assert time.process_time() - start < 2.0, name
    at_cap = '{"name": "f", "arguments": {"x": ' + "[" * 64 + "1" + "]" * 64 + "}}"
    assert parse_tool_calls(hermes(at_cap)).error is None  # the same cap as the Python-syntax form
    many = parse_tool_calls(hermes('{"name": "f"}') * 100)
    assert len(many.calls) == 64 and "more than 64" in many.error


def test_bare_json_without_tags_still_parses():
    result = parse_tool_calls('{"name": "f", "arguments": {"a": 1}}')
    assert result.calls == [ToolCall("f", {"a": 1})] and result.error is None
    assert parse_tool_calls("a <b> c").calls == [] and parse_tool_calls("a <b> c").text == "a <b> c"
