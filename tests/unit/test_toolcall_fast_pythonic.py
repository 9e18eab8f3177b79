"""The JSON-rewrite fast path reads exactly what the ast path reads, or declines (returns None).

Default run: a few hundred examples per property; `-m slow`: 10,000 each.
"""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rlkit.toolcall import TOOL_CALL_END, TOOL_CALL_START, ToolCall, parse_tool_calls, render_calls
from rlkit.toolcall.fast_pythonic import fast_python_calls
from rlkit.toolcall.pythonic import CallSyntaxError, parse_python_calls

from test_toolcall_fuzz import hostile_fragments
from test_toolcall_strategies import call_lists, strictly_equal

# Fragments aimed at the rewrite itself: its markers, its token kinds, and Python/JSON differences.
rewrite_fragments = st.sampled_from(
    [
        "\\u0000", "\\u0001", "\\u0002", '"\\u0000a":', '["\\u0001f",{', '},"\\u0002"]', "=", "==", "(", ")",
        "'", '"', "\\'", '\\"', "\\\\", "\\/", "\\x41", "\\t", "\t", "{", "}", ":", ",", "[", "]", "1e5", "-",
        "+1", ".5", "1_0", "0x1", "True", "true", "None", "null", "if", "f.if", "a.b", " ", "\n", "é", "\ud800",
        "f(", "g.h(", "a=", '{"k": ', "'x'", '"y"', "**", "#",
    ]
)
sources = st.lists(rewrite_fragments | hostile_fragments | st.text(max_size=4), max_size=40).map("".join)


def body(calls: list[ToolCall]) -> str:
    """The text between the markers of an LFM2 rendering."""
    return render_calls(calls)[len(TOOL_CALL_START) : -len(TOOL_CALL_END)]


def assert_same_as_ast_path(source: str) -> bool:
    """Fast result (if any) equals the ast path's, types included; True when the fast path answered."""
    fast = fast_python_calls(source.strip())
    if fast is None:
        return False
    slow, repaired = parse_python_calls(source.strip())  # must not raise where the fast path read calls
    assert not repaired
    assert strictly_equal(fast, slow), (source, fast, slow)
    return True


def check_rendered(calls) -> None:
    assert_same_as_ast_path(body(calls))


def mutate(text: str, data) -> str:
    """Delete, insert or duplicate a few slices of a valid block, inserting rewrite-aimed fragments."""
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(text)))
        j = data.draw(st.integers(i, min(len(text), i + 10)))
        action = data.draw(st.sampled_from(["delete", "insert", "duplicate"]))
        if action == "delete":
            text = text[:i] + text[j:]
        elif action == "insert":
            text = text[:i] + data.draw(rewrite_fragments | hostile_fragments) + text[i:]
        else:
            text = text[:j] + text[i:j] + text[j:]
    return text


def check_mutated(calls, data) -> None:
    assert_same_as_ast_path(mutate(body(calls), data))


def check_soup(source) -> None:
    assert_same_as_ast_path(source)


def _properties(examples: int, generated_calls: int):
    def run(count: int):
        return settings(max_examples=count, deadline=None, suppress_health_check=[HealthCheck.too_slow])

    return (
        run(generated_calls)(given(call_lists)(check_rendered)),
        run(generated_calls)(given(call_lists, st.data())(check_mutated)),
        run(examples)(given(sources)(check_soup)),
    )


@pytest.mark.parametrize("index", range(3))
def test_fast_path_equals_ast_path(index):
    _properties(300, 120)[index]()  # generating call lists is the slow part


@pytest.mark.slow
@pytest.mark.parametrize("index", range(3))
def test_fast_path_equals_ast_path_slow(index):
    _properties(10_000, 10_000)[index]()


@pytest.mark.parametrize(
    "source",
    [
        "[f(a=1, b='x', c={\"k\": true, \"n\": null}), g.h(d=[1, None, False], e=-2.5)]",
        "f(a=1)",
        "f(), g()",
        "f (a = 1)",
        "[null(true=None)]",  # JSON spellings are names, not literals, where Python reads them so
        "[f(s='O\\'Brien \"q\" \\\\ \\n \\t')]",
        "[f(s=\"tab\\tquote\\\" back\\\\\")]",
        "[f(s='é 中 😀')]",
        "[f(a=[1, [2, {\"x\": [3]}]], b={})]",
        "[f(a=1e5, b=-8.854E-12, c=12e+3, d=1e999)]",
        "[f(a=" + "[" * 63 + "1" + "]" * 63 + ")]",  # the nesting cap, counting the call list
    ],
)
def test_common_forms_take_the_fast_path(source):
    assert assert_same_as_ast_path(source)


@pytest.mark.parametrize(
    "source",
    [
        "[f(a=1}]]",  # brackets that only balance after the rewrite
        'f(a=[{"k":1)}]',
        '[f(x=g(y=1)), ["h", {}]]',  # a nested call next to a list shaped like a call
        'f(a={b=1}, "c": 2)',  # a keyword inside a dict, a dict key directly in the call
        "[f(a=1)][0]",
        "[f(if=1)]",
        "[if(a=1)]",
        "[a.if(x=1)]",
        "[f(a=b)]",
        "[f(1)]",
        "[f(**a)]",
        "[f(a=1)(b=2)]",
        "[f(a='\ud800')]",
        "[f(a=-True)]",
    ],
)
def test_invalid_python_is_declined_and_the_ast_path_rejects_it(source):
    assert fast_python_calls(source) is None
    with pytest.raises((CallSyntaxError, SyntaxError, ValueError)):
        parse_python_calls(source)


@pytest.mark.parametrize(
    "source",
    [
        "[f(a=1, a=2)]",  # duplicate keyword: the ast path keeps the last
        "[f(a=0x1, b=1_0, c=.5)]",
        "[f(a=1.e5)]",
        "[f(a=01e5)]",
        "[f(a=(1, 2), b=())]",
        "[f(a='\\x41\\u00e9', b=\"\\/\", c=r'x', d='a' 'b')]",
        "[f(a=1,)]",
        "[f(a={1: 2})]",
        "[f(a=1) # comment\n]",
        "[f(a=" + "[" * 70 + "1" + "]" * 70 + ")]",
    ],
)
def test_valid_forms_outside_the_subset_are_left_to_the_ast_path(source):
    assert fast_python_calls(source) is None
    result = parse_tool_calls(TOOL_CALL_START + source + TOOL_CALL_END)
    try:
        calls, _ = parse_python_calls(source)
    except CallSyntaxError as error:  # past the nesting cap: the ast path's own error
        assert result.calls == [] and str(error) in result.error
    else:
        assert result.error is None and strictly_equal(result.calls, calls)
