"""Parser behaviour on hand-written completions: LFM2 blocks, JSON forms, edge cases, hostile input."""

import time

import pytest

from rlkit.toolcall import TOOL_CALL_END, TOOL_CALL_START, ToolCall, parse_tool_calls


def block(body: str) -> str:
    return TOOL_CALL_START + body + TOOL_CALL_END


def test_lfm2_list_of_calls_with_dotted_names_and_text_around():
    result = parse_tool_calls("Let me check. " + block('[toggle_lights(room="kitchen", state="on"), math.factorial(n=5)]') + " Done.")
    assert result.error is None
    assert result.calls == [ToolCall("toggle_lights", {"room": "kitchen", "state": "on"}), ToolCall("math.factorial", {"n": 5})]
    assert result.text == "Let me check.  Done."


def test_single_call_without_brackets_and_bare_tuple_of_calls():
    assert parse_tool_calls(block("set_thermostat(temperature=72)")).calls == [ToolCall("set_thermostat", {"temperature": 72})]
    assert [c.name for c in parse_tool_calls(block("f(), g()")).calls] == ["f", "g"]


def test_literal_values_python_and_json_spellings():
    body = "[f(a=-1.5, b=None, c=null, d=True, e=false, f=[1, (2, 3)], g={'k': [true, null]}, h=+2)]"
    (call,) = parse_tool_calls(block(body)).calls
    assert call.arguments == {"a": -1.5, "b": None, "c": None, "d": True, "e": False, "f": [1, [2, 3]], "g": {"k": [True, None]}, "h": 2}
    assert call.arguments["d"] is True and call.arguments["e"] is False


@pytest.mark.parametrize(
    "body, fragment",
    [
        ("[f(1)]", "positional"),
        ("[f(a=g(1))]", "Call is not a literal"),
        ("[f(a=x)]", "bare name"),
        ("[f(a=os.environ)]", "Attribute is not a literal"),
        ("[f(a=1 + 2)]", "BinOp"),
        ("[f(a=[i for i in range(3)])]", "ListComp"),
        ("[f(a=f'{x}')]", "JoinedStr"),
        ("[f(**kw)]", "**kwargs"),
        ("[f(a=b'x')]", "bytes"),
        ("[f(a={1, 2})]", "Set"),
        ("[f()(a=1)]", "dotted"),
        ("[x[0](a=1)]", "dotted"),
        ("[1, 2]", "not a call"),
        ("[]", "empty"),
        ("", "empty"),
        ("[f(a=1)", "syntax error"),
    ],
)
def test_non_literal_syntax_is_an_error_never_evaluated(body, fragment):
    result = parse_tool_calls(block(body))
    assert result.calls == []
    assert fragment in result.error


def test_hostile_calls_are_not_executed(tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    monkeypatch.chdir(tmp_path)
    for body in [
        f"[__import__('os').system('touch {marker}')]",
        f"[f(a=__import__('os').system('touch {marker}'))]",
        "[f(a=open('/etc/passwd').read())]",
    ]:
        result = parse_tool_calls(block(body))
        assert result.error is not None, body
        assert all(not isinstance(v, str) or "root" not in v for c in result.calls for v in c.arguments.values())
    assert not marker.exists()
    # A function merely *named* eval is just a name: it is returned, not called.
    assert parse_tool_calls(block("[eval(source='1+1')]")).calls == [ToolCall("eval", {"source": "1+1"})]


def test_json_forms_inside_a_block_and_bare():
    expected = [ToolCall("get_weather", {"city": "Paris", "days": 2})]
    for text in [
        block('[{"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}]'),
        block('{"name": "get_weather", "parameters": {"city": "Paris", "days": 2}}'),
        block('[{"type": "function", "function": {"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\", \\"days\\": 2}"}}]'),
        block('[{"get_weather": {"city": "Paris", "days": 2}}]'),
        block("[{'name': 'get_weather', 'arguments': {'city': 'Paris', 'days': 2}}]"),
        '{"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}',
        ' [{"get_weather": {"city": "Paris", "days": 2}}] ',
    ]:
        result = parse_tool_calls(text)
        assert (result.calls, result.error, result.text) == (expected, None, ""), text


def test_bare_json_that_is_not_a_call_is_plain_text():
    for text in ['{"answer": 42}', "[1, 2, 3]", '{"name": 3}', "{not json"]:
        result = parse_tool_calls(text)
        assert result.calls == [] and result.error is None and result.text == text


def test_unescaped_inner_quotes_are_repaired_when_unambiguous():
    result = parse_tool_calls(block("[lookup(name='O'Brien', city='Paris')]"))
    assert result.calls == [ToolCall("lookup", {"name": "O'Brien", "city": "Paris"})]
    assert result.repaired and result.error is None
    # A quote followed by a separator looks like the end of the string: stays an error.
    assert parse_tool_calls(block("[say(text='it's', fine')]")).error is not None


def test_unterminated_block_keeps_calls_but_reports_error():
    result = parse_tool_calls("Sure " + TOOL_CALL_START + "[f(a=1)]")
    assert result.calls == [ToolCall("f", {"a": 1})]
    assert result.error == "unterminated tool-call block"
    assert result.text == "Sure"
    truncated = parse_tool_calls(TOOL_CALL_START + "[f(a=1), g(b=")
    assert truncated.calls == [] and "unterminated" in truncated.error


def test_several_blocks_concatenate_and_a_bad_block_is_reported():
    text = "a " + block("[f(x=1)]") + " b " + block("[g(y=2)]") + " c"
    result = parse_tool_calls(text)
    assert [c.name for c in result.calls] == ["f", "g"] and result.error is None
    assert result.text == "a  b  c"
    mixed = parse_tool_calls(block("[f(x=1)]") + block("[g(1)]"))
    assert [c.name for c in mixed.calls] == ["f"] and "positional" in mixed.error
    restarted = parse_tool_calls(TOOL_CALL_START + "[f(x=1)]" + block("[g(y=2)]"))
    assert [c.name for c in restarted.calls] == ["f", "g"] and "unterminated" in restarted.error


def test_stray_end_marker_is_an_error_and_dropped_from_text():
    result = parse_tool_calls("[f(a=1)]" + TOOL_CALL_END + " tail")
    assert result.calls == [] and "without a start" in result.error
    assert TOOL_CALL_END not in result.text


def test_plain_text_and_non_string_input():
    assert parse_tool_calls("  The answer is 4.\n").text == "The answer is 4."
    assert parse_tool_calls(None).error.startswith("completion must be a string")
    assert parse_tool_calls(b"x").calls == []


def test_hostile_sizes_and_nesting_return_errors_quickly():
    cases = {
        "deep_list": block("[f(a=" + "[" * 100_000 + "]" * 100_000 + ")]"),
        "deep_unary": block("[f(a=" + "-" * 100_000 + "1)]"),
        "deep_json": block('[{"name": "f", "arguments": ' + '{"a": ' * 50_000 + "1" + "}" * 50_000 + "}]"),
        "nested_65": block("[f(a=" + "[" * 70 + "]" * 70 + ")]"),
        "big_block": block("[f(a='" + "x" * 200_000 + "')]"),
        "one_mb": "y" * 1_000_001,
        "many_calls": block("[" + ", ".join(["f()"] * 300) + "]"),
    }
    for name, text in cases.items():
        start = time.process_time()
        result = parse_tool_calls(text)
        elapsed = time.process_time() - start
        assert result.error is not None and result.calls == [], name
        assert elapsed < 2.0, (name, elapsed)


def test_quote_repair_is_linear_on_many_quotes():
    start = time.process_time()
    result = parse_tool_calls(block("[f(a='" + "'b" * 40_000 + "')]"))
    assert time.process_time() - start < 2.0
    assert result.repaired and result.calls[0].arguments["a"] == "'b" * 40_000


def test_megabyte_of_plain_text_is_fine():
    text = "word " * 200_000
    result = parse_tool_calls(text)
    assert result.error is None and result.calls == [] and len(result.text) == len(text) - 1


def test_many_markers_are_linear_and_capped():
    for text in [TOOL_CALL_START * 50_000, (TOOL_CALL_START + "x") * 50_000, TOOL_CALL_END * 50_000,
                 block("[f()]") * 1000]:
        start = time.process_time()
        result = parse_tool_calls(text)
        assert time.process_time() - start < 2.0
        assert result.error is not None
    capped = parse_tool_calls(block("[f()]") * 100)
    assert len(capped.calls) == 64 and "more than 64" in capped.error
