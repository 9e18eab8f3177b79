"""The fast verdict path agrees with the full explaining path: same ok, reason and detail.

`check_calls` decides without explaining and defers a failure's reason and detail;
`explain_calls` works them out at once. On every BFCL v3 item the benchmark uses (gold answers,
rendered, parsed back, and every perturbation) and on random calls both must say the same thing,
and the fast parse must read the same calls as the ast path.
"""

import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rlkit.data.bfcl import load_bfcl_category
from rlkit.toolcall import (
    NO_CALL,
    OK,
    TOOL_CALL_END,
    TOOL_CALL_START,
    WRONG_FUNCTION,
    ExpectedCall,
    ToolCall,
    Verdict,
    check_calls,
    expected_from_answer,
    parse_tool_calls,
    render_calls,
)
from rlkit.toolcall.check import exact_as_acceptable, explain_calls
from rlkit.toolcall.fast_pythonic import fast_python_calls
from rlkit.toolcall.matcher import value_predicate
from rlkit.toolcall.perturb import gold_and_perturbed
from rlkit.toolcall.pythonic import parse_python_calls
from rlkit.toolcall.schema import load_tools
from rlkit.toolcall.values import check_argument

from test_toolcall_strategies import call_lists, calls, strictly_equal

CATEGORIES = ("simple_python", "multiple", "parallel", "parallel_multiple", "live_simple", "live_multiple")


def fields(verdict: Verdict) -> tuple:
    return verdict.ok, verdict.reason, verdict.detail


def bfcl_variants(row: dict) -> list[list[ToolCall]]:
    """The benchmark's items for one row: both gold renderings and every applicable perturbation."""
    return gold_and_perturbed(expected_from_answer(row["answer"]), load_tools(row["tools"]))


@pytest.mark.parametrize("category", CATEGORIES)
def test_fast_path_equals_explaining_path_on_every_bfcl_item(category):
    pytest.importorskip("bfcl_eval", reason="BFCL v4 comes from the bfcl-eval package (scripts/install.sh installs it)")
    rows = load_bfcl_category(category)
    items = fast_parses = failures = 0
    reasons = set()
    for row in rows:
        expected = expected_from_answer(row["answer"])
        for variant in bfcl_variants(row):
            text = render_calls(variant)
            parsed = parse_tool_calls(text)
            if variant:  # the fast parse reads what the ast path reads
                body = text[len(TOOL_CALL_START) : -len(TOOL_CALL_END)]
                assert strictly_equal(parsed.calls, parse_python_calls(body)[0]), text
                fast_parses += fast_python_calls(body) is not None
            for matching in ("bfcl", "best"):
                fast = check_calls(parsed.calls, expected, row["tools"], matching=matching)
                full = explain_calls(parsed.calls, expected, row["tools"], matching=matching)
                assert fields(fast) == fields(full), (row["id"], matching, text)
                items += 1
                failures += not fast.ok
                reasons.add(fast.reason)
    assert items >= 2 * 5 * len(rows) and failures > items // 2  # perturbations really were checked
    assert len(reasons) >= 6  # and failed for many different reasons
    assert fast_parses >= 0.9 * (items / 2 - len(rows))  # most items took the fast parse


def expected_like(call: ToolCall, data) -> ExpectedCall:
    """An expected call built from `call`: its values acceptable, some optional, some changed."""
    arguments = {}
    for name, value in call.arguments.items():
        acceptable = [exact_as_acceptable(value)]
        if data.draw(st.booleans()):
            acceptable.append("")
        if data.draw(st.integers(0, 4)) == 0:
            acceptable = [data.draw(st.integers()) if not isinstance(value, int) else "changed"]
        arguments[name] = acceptable
    if data.draw(st.integers(0, 4)) == 0:
        arguments["extra_needed"] = [1]
    return ExpectedCall(call.name, arguments)


@settings(max_examples=200, deadline=None)
@given(call_lists, st.data())
def test_fast_path_equals_explaining_path_property(predicted, data):
    expected = [expected_like(call, data) for call in data.draw(st.permutations(predicted))]
    if data.draw(st.booleans()):
        expected[data.draw(st.integers(0, len(expected) - 1))] = expected_like(data.draw(calls), data)
    if data.draw(st.integers(0, 5)) == 0:
        predicted = predicted[1:]
    for matching in ("bfcl", "best"):
        assert fields(check_calls(predicted, expected, matching=matching)) == fields(
            explain_calls(predicted, expected, matching=matching)
        )


plain_values = st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from([2**1100, 1.0, -0.0, 2.5]) | st.sampled_from(
    ["", " ", "a", "A", "New York", "new-york", "1"]
)
some_values = plain_values | st.lists(plain_values, max_size=2) | st.dictionaries(st.sampled_from("ab"), plain_values, max_size=2)
schemas_by_type = st.sampled_from(["string", "integer", "float", "number", "boolean", "array", "dict", "any", ["string", "null"], "?"]).map(
    lambda type_name: {"type": type_name, "items": {"type": "string"}}
)


@settings(max_examples=1500, deadline=None)
@given(some_values, st.lists(some_values | st.just(""), max_size=3), schemas_by_type)
def test_compiled_value_predicates_equal_check_argument(value, acceptable, property_schema):
    """The verdict path's per-argument predicates (typed shortcuts included) decide as values.py does."""
    expected = check_argument("x", value, acceptable, property_schema) is None
    assert value_predicate("x", acceptable, property_schema)(value) == expected


# ---------------------------------------------------------------- the deferred verdict
def test_deferred_verdict_explains_once_on_first_read():
    asked = []

    def explain() -> Verdict:
        asked.append(1)
        return Verdict(False, WRONG_FUNCTION, "why")

    verdict = Verdict.deferred(explain)
    assert verdict.ok is False and asked == []
    assert (verdict.reason, verdict.detail, verdict.reason) == (WRONG_FUNCTION, "why", WRONG_FUNCTION)
    assert asked == [1]


def test_check_calls_defers_only_failures_and_reads_like_a_plain_verdict():
    expected = expected_from_answer([{"f": {"a": [1]}}, {"g": {"b": ["x"]}}])
    good = [ToolCall("g", {"b": "x"}), ToolCall("f", {"a": 1})]
    assert check_calls(good, expected) == Verdict(True, OK)
    wrong = check_calls([ToolCall("g", {"b": "y"}), ToolCall("f", {"a": 1})], expected)
    assert wrong._explain is not None  # nothing explained yet
    assert wrong == explain_calls([ToolCall("g", {"b": "y"}), ToolCall("f", {"a": 1})], expected)
    assert "'y'" in wrong.detail and repr(wrong).startswith("Verdict(ok=False, reason='value_not_acceptable'")
    assert hash(wrong) == hash(Verdict(wrong.ok, wrong.reason, wrong.detail))
    assert pickle.loads(pickle.dumps(check_calls([], expected))) == Verdict(False, NO_CALL, "expected 2 call(s), got none")
    copied = pickle.loads(pickle.dumps(check_calls(good[:1] + [ToolCall("h", {})], expected)))
    assert copied.reason == WRONG_FUNCTION and copied._explain is None


def test_verdicts_are_immutable():
    verdict = Verdict(True, OK)
    with pytest.raises(AttributeError):
        verdict.ok = False
    with pytest.raises(AttributeError):
        del verdict.reason
    assert verdict.ok is True and verdict != "ok"
