"""Reference calls from acceptable values, and perturbations judged wrong for their own reason."""

import pytest

from rlkit.toolcall import OK, ToolCall, expected_from_answer
from rlkit.toolcall.perturb import PERTURBATIONS, audit_expected, reference_calls

TOOLS = [
    {"name": "trip.plan", "parameters": {"type": "dict", "required": ["city"], "properties": {
        "city": {"type": "string"}, "days": {"type": "integer"}, "budget": {"type": "float"},
        "prefs": {"type": "dict", "properties": {"food": {"type": "string"}, "pace": {"type": "string"}}},
        "stops": {"type": "array", "items": {"type": "string"}}}}},
    {"name": "trip.book", "parameters": {"type": "dict", "required": ["city"], "properties": {"city": {"type": "string"}}}},
]
ANSWER = [
    {"trip.plan": {"city": ["Rome"], "days": ["", 3], "budget": [500.0], "prefs": [{"food": ["pasta"], "pace": ["", "slow"]}], "stops": [["Colosseum"]]}},
    {"trip.book": {"city": ["Rome"]}},
]


def test_reference_calls_first_and_given():
    expected = expected_from_answer(ANSWER)
    first, book = reference_calls(expected, "first")
    assert first == ToolCall("trip.plan", {"city": "Rome", "budget": 500.0, "prefs": {"food": "pasta"}, "stops": ["Colosseum"]})
    assert book == ToolCall("trip.book", {"city": "Rome"})
    given = reference_calls(expected, "given")[0]
    assert given.arguments["days"] == 3 and given.arguments["prefs"] == {"food": "pasta", "pace": "slow"}
    with pytest.raises(ValueError):
        reference_calls(expected, "last")


def test_audit_on_a_consistent_answer_is_all_as_intended():
    outcomes = audit_expected(expected_from_answer(ANSWER), TOOLS)
    variants = {outcome.variant for outcome in outcomes}
    assert set(PERTURBATIONS) - {"drop_needed_optional"} <= variants
    assert "drop_needed_optional" in variants  # 'budget' is schema-optional but needed
    bad = [(o.variant, o.verdict) for o in outcomes if not o.as_intended]
    assert bad == []
    assert all(o.verdict.ok == (o.want_reason == OK) for o in outcomes)


def test_audit_stops_after_a_gold_the_checker_rejects():
    answer = [{"trip.ghost": {"city": ["Rome"]}}]
    outcomes = audit_expected(expected_from_answer(answer), TOOLS)
    assert [o.variant for o in outcomes] == ["gold_given", "gold_first"]
    assert [o.verdict.reason for o in outcomes] == ["wrong_function", "wrong_function"]
