"""Fuzzing the parsers: no exception escapes, nothing executes, hostile input is answered quickly.

Default run: a few hundred examples per property; `-m slow`: 10,000 each.
"""

import json
import sys
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rlkit.toolcall import (
    HERMES_CALL_END,
    HERMES_CALL_START,
    TOOL_CALL_END,
    TOOL_CALL_START,
    ParseResult,
    expected_from_answer,
    parse_tool_calls,
    render_calls,
)
from rlkit.toolcall.check import AnswerFormatError

from test_toolcall_strategies import call_lists

# Audit events that would mean model output got executed or touched the system.
FORBIDDEN_EVENTS = ("exec", "os.system", "subprocess.Popen", "open", "os.exec", "os.spawn", "import", "socket.connect")
_seen_events: list[str] | None = None


def _audit(event: str, args) -> None:
    if _seen_events is not None and event.startswith(FORBIDDEN_EVENTS):
        _seen_events.append(event)


sys.addaudithook(_audit)  # hooks cannot be removed; it records only while _seen_events is a list


def parse_watched(text: str) -> ParseResult:
    """parse_tool_calls under the audit hook; fails the test if anything was executed or opened."""
    global _seen_events
    _seen_events = []
    try:
        start = time.process_time()  # CPU time: a busy shared machine must not fail the bound
        result = parse_tool_calls(text)
        elapsed = time.process_time() - start
    finally:
        events, _seen_events = _seen_events, None
    assert events == [], events
    assert isinstance(result, ParseResult)
    assert result.error is None or isinstance(result.error, str)
    assert elapsed < 2.0
    return result


hostile_fragments = st.sampled_from(
    [
        "__import__('os').system('x')", "open('/etc/passwd')", "exec('1')", "eval('1')", "lambda: 0",
        "[", "]", "(", ")", "{", "}", "'", '"', "\\", "=", ",", ".", "*", "**", ":", "f(", "g.h(", "a=",
        "true", "null", "None", "1e999", "-", "\x00", "\n", "'''", "#", "@", "yield", "await x",
        TOOL_CALL_START, TOOL_CALL_END, '{"name": "f", "arguments": ', '{"f": {"a": 1}}', "[f(a=1)]",
        HERMES_CALL_START, HERMES_CALL_END, '"arguments": "{\\"a\\": 1}"', '"arguments": [1]', '"name": 7',
        '"parameters": {', '{"type": "function", "function": ', "[" * 300, "{\"a\": " * 100, "\\u0000", "NaN",
    ]
)
soup = st.lists(hostile_fragments | st.text(max_size=8), max_size=30).map("".join)
completions = (
    st.text(max_size=200)
    | soup
    | soup.map(lambda s: TOOL_CALL_START + s + TOOL_CALL_END)
    | soup.map(lambda s: TOOL_CALL_START + "[" + s)
    | soup.map(lambda s: HERMES_CALL_START + s + HERMES_CALL_END)
    | soup.map(lambda s: HERMES_CALL_START + '{"name": "f", "arguments": ' + s)
)


def mutate(text: str, data) -> str:
    """Delete, insert or duplicate a few slices of a valid completion."""
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(text)))
        j = data.draw(st.integers(i, min(len(text), i + 10)))
        action = data.draw(st.sampled_from(["delete", "insert", "duplicate"]))
        if action == "delete":
            text = text[:i] + text[j:]
        elif action == "insert":
            text = text[:i] + data.draw(hostile_fragments | st.text(max_size=3)) + text[i:]
        else:
            text = text[:j] + text[i:j] + text[j:]
    return text


def check_any_completion(text: str) -> None:
    parse_watched(text)


def check_mutated_calls(calls, data) -> None:
    parse_watched(mutate(render_calls(calls), data))


def check_mutated_hermes_calls(calls, data) -> None:
    parse_watched(mutate(render_calls(calls, style="hermes"), data))


def check_deep_json(data) -> None:
    """Deeply nested JSON arguments, as an object or as a JSON string: capped at 64, never a crash."""
    depth = data.draw(st.integers(0, 3_000))
    opener, closer = data.draw(st.sampled_from([("[", "]"), ('{"k": ', "}")]))
    arguments = '{"x": ' + opener * depth + "1" + closer * depth + "}"
    if data.draw(st.booleans()):
        arguments = json.dumps(arguments)  # arguments given as a JSON string
    result = parse_watched(HERMES_CALL_START + '{"name": "f", "arguments": ' + arguments + "}" + HERMES_CALL_END)
    if depth > 64:
        assert result.calls == [] and result.error is not None
    else:
        assert result.error is None and [call.name for call in result.calls] == ["f"]


def check_expected_answer(data) -> None:
    value = data.draw(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                                   lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
                                   max_leaves=10))
    try:
        expected_from_answer(json.dumps(value))
    except AnswerFormatError:
        pass  # the one documented failure for bad answers


def _properties(examples: int, mutated_examples: int):
    def run(count: int):
        return settings(max_examples=count, deadline=None, suppress_health_check=[HealthCheck.too_slow])

    return (
        run(examples)(given(completions)(check_any_completion)),
        run(mutated_examples)(given(call_lists, st.data())(check_mutated_calls)),
        run(examples)(given(st.data())(check_expected_answer)),
        run(mutated_examples)(given(call_lists, st.data())(check_mutated_hermes_calls)),
        run(mutated_examples // 3)(given(st.data())(check_deep_json)),
    )


@pytest.mark.parametrize("index", range(5))
def test_fuzz_default(index):
    _properties(300, 150)[index]()


@pytest.mark.slow
@pytest.mark.parametrize("index", range(5))
def test_fuzz_slow(index):
    _properties(10_000, 10_000)[index]()


def test_audit_hook_really_sees_execution():
    """The hook this file relies on notices an actual open() (so a clean fuzz run means something)."""
    global _seen_events
    _seen_events = []
    try:
        open(__file__).close()
    finally:
        events, _seen_events = _seen_events, None
    assert "open" in events
