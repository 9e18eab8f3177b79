"""Is a set of predicted calls equivalent to the expected ones? BFCL AST-checker semantics.

Per call (BFCL's simple-function check, first failure wins, in this order): the name must match
and be defined in the tools; every schema-required argument present; every given argument both in
the schema and in the expected call; each value of the right type and among the acceptable values
(see values.py); every expected argument whose acceptable list lacks `""` present.

Several calls: counts must match; then, as BFCL does, each expected call in turn takes the first
still-unmatched predicted call that passes (greedy, order-free). Without tools (or with an empty
tools list) the schema checks are skipped and value kinds are inferred from the values.

Two paths, one set of rules: `check_calls` decides pass/fail without writing any message and, for
a failure, defers the reason and detail until they are read (explaining a failure - which
expected call a wrong one was meant to be - costs far more than finding it, and rewards read only
`ok`); `explain_calls` is the same check with the explanation worked out at once. A deferred
verdict's reason and detail are exactly `explain_calls`'s (tested on every BFCL item).
"""

from __future__ import annotations

import json
from collections import Counter
from functools import lru_cache
from itertools import permutations
from typing import Any, Callable

from rlkit.toolcall.call import ExpectedCall, ToolCall
from rlkit.toolcall.matcher import compile_matcher
from rlkit.toolcall.schema import PYTHON_TYPES, allows_null, load_tools, type_name_of
from rlkit.toolcall.values import VALUE_NOT_ACCEPTABLE, WRONG_TYPE, check_argument
from rlkit.toolcall.verdict import (  # noqa: F401 - re-exported: callers import them from here
    MISSING_ARGUMENT,
    MISSING_REQUIRED,
    NO_CALL,
    OK,
    PARSE_ERROR,
    PASS,
    REASONS,
    UNEXPECTED_ARGUMENT,
    WRONG_COUNT,
    WRONG_FUNCTION,
    Verdict,
)


class AnswerFormatError(ValueError):
    """An `answer` value in neither the reference-call nor the BFCL ground-truth form."""


def expected_from_answer(answer: str | list | dict) -> list[ExpectedCall]:
    """Expected calls from an `answer` column value (JSON string, list or dict; both forms).

    Results for strings are cached and shared: treat them as read-only.
    """
    if isinstance(answer, str):
        return _expected_from_json(answer)
    return _expected_from_data(answer)


@lru_cache(maxsize=65536)
def _expected_from_json(answer: str) -> list[ExpectedCall]:
    try:
        data = json.loads(answer)
    except ValueError as error:
        raise AnswerFormatError(f"answer is not valid JSON: {error}: {answer[:200]!r}") from None
    return _expected_from_data(data)


def _expected_from_data(data: Any) -> list[ExpectedCall]:
    items = data if isinstance(data, list) else [data]
    return [_expected_call(item) for item in items]


def _expected_call(item: Any) -> ExpectedCall:
    if not isinstance(item, dict):
        raise AnswerFormatError(f"expected call must be an object, got {item!r}")
    if isinstance(item.get("function"), dict) and "name" not in item:
        item = item["function"]
    if isinstance(item.get("name"), str):  # reference form: exact values
        arguments = item.get("arguments", item.get("parameters")) or {}
        if isinstance(arguments, str):
            arguments = json.loads(arguments) if arguments.strip() else {}
        if not isinstance(arguments, dict):
            raise AnswerFormatError(f"{item['name']}: arguments must be an object, got {arguments!r}")
        return ExpectedCall(item["name"], {key: [exact_as_acceptable(value)] for key, value in arguments.items()})
    if len(item) == 1:  # BFCL ground truth: {name: {arg: [acceptable values]}}
        ((name, arguments),) = item.items()
        if not isinstance(arguments, dict) or not all(isinstance(values, list) for values in arguments.values()):
            raise AnswerFormatError(f"{name}: ground truth must map each argument to a list of values")
        return ExpectedCall(name, dict(arguments))
    raise AnswerFormatError(f"expected call needs 'name' or the form {{name: {{arg: [values]}}}}: {item!r}")


def exact_as_acceptable(value: Any) -> Any:
    """One exact reference value in BFCL's acceptable-value form (dict values become key -> [value])."""
    if isinstance(value, dict):
        return {key: [element] for key, element in value.items()}
    if isinstance(value, list) and value and all(isinstance(element, dict) for element in value):
        return [{key: [element] for key, element in entry.items()} for entry in value]
    return value


def check_calls(
    predicted: list[ToolCall],
    expected: list[ExpectedCall],
    tools: str | list | None = None,
    *,
    matching: str = "bfcl",
) -> Verdict:
    """Verdict on predicted vs expected calls (order-free, BFCL semantics); tools enable schema checks.

    matching="bfcl" pairs calls greedily like BFCL (an ambiguous gold answer can then reject a
    correct reordering); matching="best" accepts whenever some one-to-one pairing passes. A
    failure's reason and detail are explained when first read, from the calls as they are then:
    do not change `predicted` or `expected` before reading them.
    """
    if matching not in ("bfcl", "best"):
        raise ValueError(f"matching must be 'bfcl' or 'best', got {matching!r}")
    schemas = load_tools(tools) if tools is not None else _NO_TOOLS
    if len(predicted) != len(expected):
        return _count_verdict(len(predicted), len(expected))
    if len(expected) == 1:  # most rows: no pairing to search
        if _passes(predicted[0], expected[0], schemas):
            return PASS
    elif _pairing_passes(predicted, expected, schemas, matching):
        return PASS
    return Verdict.deferred(lambda: _explained(predicted, expected, schemas, matching))


def explain_calls(
    predicted: list[ToolCall],
    expected: list[ExpectedCall],
    tools: str | list | None = None,
    *,
    matching: str = "bfcl",
) -> Verdict:
    """`check_calls` with the reason and detail of a failure worked out at once (the slow path)."""
    if matching not in ("bfcl", "best"):
        raise ValueError(f"matching must be 'bfcl' or 'best', got {matching!r}")
    return _explained(predicted, expected, load_tools(tools) if tools is not None else {}, matching)


def _explained(predicted: list[ToolCall], expected: list[ExpectedCall], schemas: dict, matching: str) -> Verdict:
    if len(predicted) != len(expected):
        return _count_verdict(len(predicted), len(expected))
    verdicts: dict[tuple[int, int], Verdict] = {}

    def verdict(wanted: int, index: int) -> Verdict:
        if (wanted, index) not in verdicts:
            verdicts[wanted, index] = check_one_call(predicted[index], expected[wanted], schemas)
        return verdicts[wanted, index]

    def passes(wanted: int, index: int) -> bool:
        return verdict(wanted, index).ok

    greedy_failure = _greedy_failure(len(expected), passes)
    if greedy_failure is None:
        return PASS
    pairs = _maximum_matching(len(expected), passes)
    if matching == "best" and len(pairs) == len(expected):
        return PASS
    return _explain(expected, predicted, pairs, greedy_failure, verdict)


def _count_verdict(predicted: int, expected: int) -> Verdict:
    if not predicted:
        return Verdict(False, NO_CALL, f"expected {expected} call(s), got none")
    return Verdict(False, WRONG_COUNT, f"expected {expected} call(s), got {predicted}")


_NO_TOOLS: dict = {}  # shared (never written) so that matchers compiled without tools are reused


def _passes(call: ToolCall, wanted: ExpectedCall, schemas: dict) -> bool:
    """Whether one call passes against one expected call; compiles a matcher on the second use
    with the same schemas object (a one-off check is cheaper without compiling)."""
    if call.name != wanted.name:  # a different name always fails (most pairs in a shuffle)
        return False
    state = wanted._matcher
    if state is not None and state[0] is schemas:
        matcher = state[1]
        if matcher is None:
            matcher = compile_matcher(wanted, schemas)
            wanted._matcher = (schemas, matcher)
        return matcher(call)
    wanted._matcher = (schemas, None)
    return _one_call_failure(call, wanted, schemas, explain=False) is None


def _pairing_passes(predicted: list[ToolCall], expected: list[ExpectedCall], schemas: dict, matching: str) -> bool:
    """Whether the calls pass (equal counts assumed), deciding each pair without explaining it."""
    outcomes: dict[tuple[int, int], bool] = {}

    def passes(wanted: int, index: int) -> bool:
        outcome = outcomes.get((wanted, index))
        if outcome is None:
            outcome = outcomes[wanted, index] = _passes(predicted[index], expected[wanted], schemas)
        return outcome

    if _greedy_failure(len(expected), passes) is None:
        return True
    return matching == "best" and len(_maximum_matching(len(expected), passes)) == len(expected)


def _greedy_failure(count: int, passes: Callable[[int, int], bool]) -> int | None:
    """BFCL's pairing: each expected call takes the first unmatched passing prediction; the first
    expected call left without one, or None."""
    unmatched = list(range(count))
    for wanted in range(count):
        index = next((index for index in unmatched if passes(wanted, index)), None)
        if index is None:
            return wanted
        unmatched.remove(index)
    return None


def _maximum_matching(count: int, passes: Callable[[int, int], bool]) -> dict[int, int]:
    """Largest set of passing (expected -> predicted) pairs, by augmenting paths (Kuhn)."""
    owner: dict[int, int] = {}  # predicted index -> expected index

    def augment(wanted: int, seen: set[int]) -> bool:
        for index in range(count):
            if index not in seen and passes(wanted, index):
                seen.add(index)
                if index not in owner or augment(owner[index], seen):
                    owner[index] = wanted
                    return True
        return False

    for wanted in range(count):
        augment(wanted, set())
    return {wanted: index for index, wanted in owner.items()}


_MAX_CALLS_FOR_EXHAUSTIVE_EXPLANATION = 7


def _explain(expected, predicted, pairs: dict[int, int], greedy_failure: int, verdict) -> Verdict:
    """Why no pairing passes: differing names, else the failure of the closest unpaired call.

    "Closest" = the pairing with the most passing pairs and then the highest argument F1 over the
    failing ones (exhaustive up to 7 calls, augmenting-path leftovers beyond), so a perturbed call
    is reported against the expected call it came from.
    """
    if len(predicted) > 1 and Counter(c.name for c in predicted) != Counter(c.name for c in expected):
        return Verdict(False, WRONG_FUNCTION, "the predicted function names differ from the expected ones")
    count = len(expected)
    closeness_of: dict[tuple[int, int], float] = {}

    def closeness(pair: tuple[int, int]) -> float:
        if pair not in closeness_of:  # pure, and asked for once per permutation: remember it
            closeness_of[pair] = _closeness(expected[pair[0]], predicted[pair[1]])
        return closeness_of[pair]

    if len(pairs) == count:  # some pairing passes, only BFCL's greedy order failed
        failing = [(greedy_failure, index) for index in range(count) if not verdict(greedy_failure, index).ok]
    elif count <= _MAX_CALLS_FOR_EXHAUSTIVE_EXPLANATION:
        failing = _closest_failing_pairs(count, verdict, closeness)
    else:
        used = set(pairs.values())
        failing = [
            (wanted, index)
            for wanted in range(count)
            if wanted not in pairs
            for index in range(count)
            if index not in used
        ]
    wanted, index = max(failing, key=lambda pair: (closeness(pair), -pair[0]))
    failed = verdict(wanted, index)
    return Verdict(False, failed.reason, f"expected call #{wanted} ({expected[wanted].name}) vs predicted #{index}: {failed.detail}")


def _closest_failing_pairs(count: int, verdict, closeness) -> list[tuple[int, int]]:
    best_key, best_failing = None, []
    for order in permutations(range(count)):
        failing = [(wanted, index) for wanted, index in enumerate(order) if not verdict(wanted, index).ok]
        key = (-len(failing), sum(closeness(pair) for pair in failing))
        if best_key is None or key > best_key:
            best_key, best_failing = key, failing
    return best_failing


def _closeness(wanted: ExpectedCall, call: ToolCall) -> float:
    """Same name first, then argument F1 (used only to pick which failure to report)."""
    return (call.name == wanted.name) + argument_f1(call, wanted)


def argument_overlap(call: ToolCall, wanted: ExpectedCall, schemas: dict[str, dict] | None = None) -> tuple[int, int, int]:
    """(correct, given, needed): given arguments whose value is acceptable, arguments given, and
    arguments the expected call needs (those without `""`, plus omittable ones given correctly)."""
    properties = (schemas or {}).get(call.name, {}).get("parameters", {}).get("properties", {})
    correct = 0
    correct_optional = 0
    for name, value in call.arguments.items():
        acceptable = wanted.arguments.get(name)
        if acceptable is None or check_argument(name, value, acceptable, properties.get(name), False) is not None:
            continue
        correct += 1
        correct_optional += "" in acceptable
    needed = sum("" not in acceptable for acceptable in wanted.arguments.values()) + correct_optional
    return correct, len(call.arguments), needed


def argument_f1(call: ToolCall, wanted: ExpectedCall, schemas: dict[str, dict] | None = None) -> float:
    """F1 of acceptable arguments between one predicted and one expected call (1.0 if both have none)."""
    correct, given, needed = argument_overlap(call, wanted, schemas)
    return 1.0 if given + needed == 0 else 2 * correct / (given + needed)


def check_one_call(call: ToolCall, wanted: ExpectedCall, schemas: dict[str, dict]) -> Verdict:
    """BFCL's simple-function check of one predicted call against one expected call."""
    failure = _one_call_failure(call, wanted, schemas, explain=True)
    return PASS if failure is None else Verdict(False, *failure)


def _one_call_failure(call: ToolCall, wanted: ExpectedCall, schemas: dict[str, dict], explain: bool) -> tuple[str, str] | None:
    """(reason, detail) of the first failed rule, or None; without `explain` the detail is ""."""
    if call.name != wanted.name:
        return WRONG_FUNCTION, f"called {call.name!r}, expected {wanted.name!r}" if explain else ""
    schema = schemas.get(call.name) if schemas else None
    if schemas and schema is None:
        return WRONG_FUNCTION, f"{call.name!r} is not defined in the tools" if explain else ""
    arguments = call.arguments
    acceptable_of = wanted.arguments
    if schema:
        parameters = schema["parameters"]
        properties = parameters["properties"]
        for name in parameters["required"]:
            if name not in arguments:
                return MISSING_REQUIRED, f"{call.name}: required argument {name!r} missing" if explain else ""
    else:
        properties = None
    for name, value in arguments.items():
        if properties is not None and name not in properties:
            return UNEXPECTED_ARGUMENT, f"{call.name}: {name!r} is not in the schema" if explain else ""
        acceptable = acceptable_of.get(name)
        if acceptable is None and name not in acceptable_of:
            return UNEXPECTED_ARGUMENT, f"{call.name}: {name!r} is not in the expected call" if explain else ""
        failure = check_argument(name, value, acceptable, properties.get(name) if properties else None, explain)
        if failure is not None:
            return failure[0], f"{call.name}: {failure[1]}" if explain else ""
    if len(acceptable_of) > len(arguments):  # every given name is expected, so some expected one is absent
        for name, acceptable in acceptable_of.items():
            if name not in arguments and "" not in acceptable:
                return MISSING_ARGUMENT, f"{call.name}: argument {name!r} missing" if explain else ""
    return None


def validate_call(call: ToolCall, tools: str | list | dict) -> Verdict:
    """Schema-only check: known function, required present, no unknown arguments, types, enums."""
    schemas = load_tools(tools)
    schema = schemas.get(call.name)
    if schema is None:
        return Verdict(False, WRONG_FUNCTION, f"{call.name!r} is not defined in the tools")
    properties = schema["parameters"]["properties"]
    for name in schema["parameters"]["required"]:
        if name not in call.arguments:
            return Verdict(False, MISSING_REQUIRED, f"{call.name}: required argument {name!r} missing")
    for name, value in call.arguments.items():
        if name not in properties:
            return Verdict(False, UNEXPECTED_ARGUMENT, f"{call.name}: {name!r} is not in the schema")
        problem = schema_value_problem(value, properties[name])
        if problem is not None:
            return Verdict(False, problem[0], f"{call.name}: {name}: {problem[1]}")
    return PASS


def schema_value_problem(value: Any, property_schema: dict) -> tuple[str, str] | None:
    """(reason, detail) when `value` breaks the property's type, item type or enum; else None."""
    if not isinstance(property_schema, dict):
        return None
    type_name = type_name_of(property_schema)
    if value is None and allows_null(property_schema):
        return None
    if type_name is not None and not _has_schema_type(value, type_name):
        return WRONG_TYPE, f"expected {type_name}, got {type(value).__name__} {value!r}"
    enum = property_schema.get("enum")
    if isinstance(enum, list) and value not in enum:
        return VALUE_NOT_ACCEPTABLE, f"{value!r} not in enum {enum!r}"
    items = property_schema.get("items")
    if isinstance(value, list) and isinstance(items, dict):
        for element in value:
            problem = schema_value_problem(element, items)
            if problem is not None:
                return problem[0], f"element {problem[1]}"
    return None


def _has_schema_type(value: Any, type_name: str) -> bool:
    if type_name == "any":  # in a schema (unlike BFCL's answer checker) "any" means any value
        return True
    expected = PYTHON_TYPES[type_name]
    if expected is float:
        return type(value) in (int, float)
    return type(value) is expected
