"""Pass or fail of one call against one expected call, without explaining: the verdict path's core.

check.py walks BFCL's rules in order to report the first one broken; a verdict only needs to know
whether any is. For an expected call seen more than once with the same schemas object (a task's
rollouts: answers and tools arrive as the same JSON strings, whose parsed forms are cached) the
rules become set comparisons and one predicate per argument, built once:

- the given names must be a subset of those both expected and in the schema (unexpected ones);
- the names the schema requires and the expected ones without `""` must all be given;
- each value must pass its argument's predicate. Strings, integers, floats and booleans with
  answers of their own type get a direct predicate (normalized set membership, typed `in`); every
  other case calls values.check_argument, so the semantics stay in one place.

Where the two paths could differ they are tested against each other
(tests/unit/test_toolcall_check_paths.py): same pass/fail on every BFCL item and on random ones.
"""

from __future__ import annotations

from typing import Any, Callable

from rlkit.toolcall.call import ExpectedCall, ToolCall
from rlkit.toolcall.schema import FLOAT_TYPE_NAMES, allows_null, type_name_of
from rlkit.toolcall.values import check_argument, standardize_string

Matcher = Callable[[ToolCall], bool]


def compile_matcher(wanted: ExpectedCall, schemas: dict[str, dict]) -> Matcher:
    """A predicate on calls with `wanted`'s name: True exactly when the BFCL check of it passes."""
    schema = schemas.get(wanted.name) if schemas else None
    if schemas and schema is None:
        return _never  # the function is not in the tools
    expected = wanted.arguments
    if schema:
        properties = schema["parameters"]["properties"]
        required = set(schema["parameters"]["required"])
        allowed = [name for name in expected if name in properties]
    else:
        properties, required, allowed = None, set(), list(expected)
    must_give = frozenset(required | {name for name, acceptable in expected.items() if "" not in acceptable})
    predicates = {
        name: value_predicate(name, expected[name], properties.get(name) if properties else None) for name in allowed
    }

    def matches(call: ToolCall) -> bool:
        arguments = call.arguments
        if not must_give <= arguments.keys():
            return False
        for name, value in arguments.items():
            predicate = predicates.get(name)
            if predicate is None or not predicate(value):
                return False
        return True

    return matches


def _never(call: ToolCall) -> bool:
    return False


def value_predicate(name: str, acceptable: list, property_schema: dict | None) -> Callable[[Any], bool]:
    """`value -> bool`, True exactly when check_argument finds `value` acceptable."""

    def general(value: Any) -> bool:
        return check_argument(name, value, acceptable, property_schema, False) is None

    type_name = type_name_of(property_schema)
    if type_name is None or allows_null(property_schema) or not isinstance(acceptable, list):
        return general
    kinds = {type(answer) for answer in acceptable if answer != ""}
    if type_name == "string" and kinds <= {str}:
        normalized = frozenset(standardize_string(answer) for answer in acceptable if type(answer) is str)
        return lambda value: type(value) is str and standardize_string(value) in normalized
    if type_name == "integer" and kinds <= {int}:
        return lambda value: type(value) is int and value in acceptable
    if type_name == "boolean" and kinds <= {bool}:
        return lambda value: type(value) is bool and value in acceptable
    if type_name in FLOAT_TYPE_NAMES and kinds <= {int, float}:
        # An int is compared as a float; the general path also handles ints too large for one.
        return lambda value: (type(value) is float and value in acceptable) or (type(value) is int and general(value))
    return general
