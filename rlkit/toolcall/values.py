"""Argument-level checks with BFCL's AST-checker semantics (one argument against its acceptable values).

The semantics follow BFCL's Python checker, including where they surprise:

- Strings compare after `standardize_string`: spaces and `, . / - _ * ^` removed, lower-cased,
  `'` mapped to `"`. So "New York" == "newyork", and `""` in the acceptable list also accepts a
  string that standardizes to "" (e.g. " ").
- An int is accepted where the schema says float. A bool is never an int.
- "Variable" rule: when the acceptable values have a different type than the schema declares
  (e.g. a schema "any" - which BFCL maps to str - with integer answers), a value of the answers'
  type passes the type check and is then compared with plain `==` (no string normalization).
- Arrays: each element must have the item type (or the answers' element type); lists compare
  element-wise after standardizing string elements; order matters. An array parameter whose
  acceptable values include `""` passes the element type check trivially.
- Dicts: each acceptable value is a dict mapping key -> list of acceptable values (one level;
  deeper values compare with `==` after string standardization of the top value). The model's
  dict must not have unknown keys and must have every key whose list lacks `""`.
- Lists of dicts: same length as an acceptable list, each dict checked as above, in order.
- Everything else: `value in acceptable` with Python equality.
"""

from __future__ import annotations

import re
from typing import Any

from rlkit.toolcall.schema import (
    FLOAT_TYPE_NAMES,
    PYTHON_TYPES,
    SEQUENCE_TYPE_NAMES,
    allows_null,
    item_type_name,
    type_name_of,
)

WRONG_TYPE = "wrong_type"
VALUE_NOT_ACCEPTABLE = "value_not_acceptable"

_STRIPPED_PUNCTUATION = re.compile(r"[ ,./\-_*^]")

Failure = tuple[str, str]  # (reason, detail)


def standardize_string(text: str) -> str:
    """BFCL's string normalization: drop spaces and `,./-_*^`, lower-case, `'` -> `"`."""
    return _STRIPPED_PUNCTUATION.sub("", text).lower().replace("'", '"')


def check_argument(
    name: str, value: Any, acceptable: list, property_schema: dict | None, explain: bool = True
) -> Failure | None:
    """None when `value` is acceptable for argument `name`, else (reason, detail); detail "" unless `explain`."""
    type_name = type_name_of(property_schema)
    if type_name is None or (value is None and allows_null(property_schema)):
        return _check_untyped(name, value, acceptable, explain)
    expected_type = PYTHON_TYPES[type_name]
    item_name = item_type_name(property_schema) if type_name in SEQUENCE_TYPE_NAMES else None
    nested_type = PYTHON_TYPES.get(item_name) if item_name else None
    if type_name in FLOAT_TYPE_NAMES and type(value) is int:
        try:
            value = float(value)
        except OverflowError:  # no float equals it (BFCL's checker would crash here)
            return VALUE_NOT_ACCEPTABLE, f"{name}: {type(value).__name__} too large for a float" if explain else ""
    type_ok, is_variable = _type_check(value, acceptable, expected_type, nested_type)
    if not type_ok:
        return WRONG_TYPE, f"{name}: expected {type_name}, got {type(value).__name__} {value!r}" if explain else ""
    if not is_variable:
        if expected_type is str:
            return _check_string(name, value, acceptable, explain)
        if expected_type is dict:
            return _check_dict(name, value, acceptable, explain)
        if expected_type is list:
            if nested_type is dict:
                return _check_list_of_dicts(name, value, acceptable, explain)
            return _check_list(name, value, acceptable, explain)
    return _check_equal(name, value, acceptable, explain)


def _answers_type(acceptable: list) -> type | None:
    """Type of the first acceptable value that is not the "may be omitted" marker."""
    for answer in acceptable:
        if answer != "":
            return type(answer)
    return None


def _type_check(value: Any, acceptable: list, expected: type, nested: type | None) -> tuple[bool, bool]:
    """(type is ok, value counts as a "variable") following BFCL's type_checker."""
    answers_type = _answers_type(acceptable)
    is_variable = answers_type is not None and answers_type is not expected
    if type(value) is expected:
        if nested is None:
            return True, is_variable
        for answer in acceptable:
            # A non-list answer (the "" marker) passes the element check trivially, as in BFCL.
            if not isinstance(answer, list) or all(
                _type_check(element, answer, nested, None)[0] for element in value
            ):
                return True, is_variable
        return False, False
    if answers_type is not None and type(value) is answers_type:
        return True, True
    return False, False


def _check_equal(name: str, value: Any, acceptable: list, explain: bool) -> Failure | None:
    if value in acceptable:
        return None
    return VALUE_NOT_ACCEPTABLE, f"{name}={value!r} not in {acceptable!r}" if explain else ""


def _check_string(name: str, value: str, acceptable: list, explain: bool) -> Failure | None:
    wanted = standardize_string(value)
    for answer in acceptable:
        if type(answer) is str and standardize_string(answer) == wanted:
            return None
    return VALUE_NOT_ACCEPTABLE, f"{name}={value!r} not in {acceptable!r} (after normalization)" if explain else ""


def _standardize_elements(values: Any) -> list:
    return [standardize_string(element) if type(element) is str else element for element in values]


def _check_list(name: str, value: list, acceptable: list, explain: bool) -> Failure | None:
    wanted = _standardize_elements(value)
    # Iterating the "" marker yields [], so [] is accepted when "" is acceptable (BFCL does the same).
    if any(_standardize_elements(answer) == wanted for answer in acceptable if isinstance(answer, (list, str))):
        return None
    return VALUE_NOT_ACCEPTABLE, f"{name}={value!r} not in {acceptable!r} (after normalization)" if explain else ""


def _dict_failure(value: dict, answer: dict) -> str | None:
    """Why dict `value` does not match one acceptable dict (None when it matches)."""
    for key, element in value.items():
        if key not in answer:
            return f"unexpected key {key!r}"
        wanted = standardize_string(element) if type(element) is str else element
        options = _standardize_elements(answer[key]) if isinstance(answer[key], list) else [answer[key]]
        if wanted not in options:
            return f"key {key!r}={element!r} not in {answer[key]!r}"
    for key, options in answer.items():
        if key not in value and not (isinstance(options, list) and "" in options):
            return f"missing key {key!r}"
    return None


def _check_dict(name: str, value: dict, acceptable: list, explain: bool) -> Failure | None:
    reasons = []
    for answer in acceptable:
        if answer == "":
            continue
        if not isinstance(answer, dict):
            reasons.append(f"acceptable value {answer!r} is not a dict")
            continue
        reason = _dict_failure(value, answer)
        if reason is None:
            return None
        reasons.append(reason)
    return VALUE_NOT_ACCEPTABLE, f"{name}: " + ("; ".join(reasons) or "no acceptable dict") if explain else ""


def _check_list_of_dicts(name: str, value: list, acceptable: list, explain: bool) -> Failure | None:
    reasons = []
    for answer in acceptable:
        if not isinstance(answer, list) or len(answer) != len(value):
            reasons.append("wrong number of dicts")
            continue
        failures = [
            _dict_failure(element, expected) if isinstance(element, dict) and isinstance(expected, dict) else "not a dict"
            for element, expected in zip(value, answer)
        ]
        first = next((failure for failure in failures if failure is not None), None)
        if first is None:
            return None
        reasons.append(first)
    return VALUE_NOT_ACCEPTABLE, f"{name}: " + ("; ".join(dict.fromkeys(reasons)) or "no acceptable list") if explain else ""


def _check_untyped(name: str, value: Any, acceptable: list, explain: bool) -> Failure | None:
    """No usable schema type: infer the kind of check from the value (ints and floats interchange)."""
    answers_type = _answers_type(acceptable)
    numeric = {int, float}
    if (
        answers_type is not None
        and value is not None
        and type(value) is not answers_type
        and not (type(value) in numeric and answers_type in numeric)
    ):
        detail = f"{name}: expected {answers_type.__name__}, got {type(value).__name__} {value!r}" if explain else ""
        return WRONG_TYPE, detail
    if isinstance(value, str):
        return _check_string(name, value, acceptable, explain)
    if isinstance(value, dict):
        return _check_dict(name, value, acceptable, explain)
    if isinstance(value, list):
        if value and all(isinstance(element, dict) for element in value):
            if any(isinstance(answer, list) and answer and isinstance(answer[0], dict) for answer in acceptable):
                return _check_list_of_dicts(name, value, acceptable, explain)
        return _check_list(name, value, acceptable, explain)
    return _check_equal(name, value, acceptable, explain)
