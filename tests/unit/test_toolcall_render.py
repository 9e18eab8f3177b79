"""render_calls matches TRL's lfm2_v2 template byte for byte, and parse(render(x)) == x."""

from pathlib import Path

import pytest
import trl
from hypothesis import given, settings
from transformers.utils.chat_template_utils import render_jinja_template

from rlkit.toolcall import ToolCall, parse_tool_calls, render_calls

from test_toolcall_strategies import call_lists, strictly_equal

TEMPLATE = (Path(trl.__file__).parent / "chat_templates" / "lfm2_v2.jinja").read_text()
ASSISTANT_START = "<|im_start|>assistant\n"


def template_rendering(calls: list[ToolCall]) -> str:
    """The assistant turn the real lfm2_v2 template writes for these tool calls."""
    messages = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "", "tool_calls": [call.to_openai() for call in calls]},
    ]
    rendered = render_jinja_template([messages], chat_template=TEMPLATE, bos_token="")[0][0]
    turn = rendered[rendered.index(ASSISTANT_START) + len(ASSISTANT_START) :]
    return turn[: turn.rindex("<|im_end|>")]


def test_note_example_matches_template():
    call = ToolCall("f", {"name": "O'Brien", "flags": {"a": True, "b": None}, "xs": [True, None, "q"], "n": 1.5, "b": False})
    expected = (
        "<|tool_call_start|>[f(name='O\\'Brien', flags={\"a\": true, \"b\": null}, "
        'xs=[true, null, "q"], n=1.5, b=False)]<|tool_call_end|>'
    )
    assert render_calls([call]) == expected == template_rendering([call])


def test_escapes_and_unicode_match_template():
    call = ToolCall("m.g", {"s": "back\\slash\nnew\rline\ttab é 中", "e": "", "d": {"k": "v'\"\n"}, "z": -0.0, "i": -3})
    assert render_calls([call]) == template_rendering([call])
    assert strictly_equal(parse_tool_calls(render_calls([call])).calls, [call])


def test_no_calls_render_nothing():
    assert render_calls([]) == ""


@settings(max_examples=60, deadline=None)
@given(call_lists)
def test_render_equals_template_property(calls):
    assert render_calls(calls) == template_rendering(calls)


@settings(max_examples=300, deadline=None)
@given(call_lists)
def test_parse_render_round_trip_property(calls):
    result = parse_tool_calls(render_calls(calls))
    assert result.error is None, (render_calls(calls), result.error)
    assert strictly_equal(result.calls, calls)


@pytest.mark.slow
@settings(max_examples=10_000, deadline=None)
@given(call_lists)
def test_parse_render_round_trip_property_slow(calls):
    result = parse_tool_calls(render_calls(calls))
    assert result.error is None and strictly_equal(result.calls, calls)
