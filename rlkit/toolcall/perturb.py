"""Reference calls from expected answers, and perturbations that must make them wrong.

Used to audit the checker on BFCL (every gold answer rendered and parsed back must pass, every
perturbation must fail for its own reason) and to build known-wrong calls (negatives for judges
and preference pairs). Perturbations never look at row ids: they only read calls, expected calls
and schemas.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Callable

from rlkit.toolcall.call import ToolCall
from rlkit.toolcall.check import (
    MISSING_ARGUMENT,
    MISSING_REQUIRED,
    NO_CALL,
    OK,
    UNEXPECTED_ARGUMENT,
    WRONG_COUNT,
    WRONG_FUNCTION,
    ExpectedCall,
    Verdict,
    check_calls,
)
from rlkit.toolcall.parse import parse_tool_calls
from rlkit.toolcall.render import render_calls
from rlkit.toolcall.schema import PYTHON_TYPES, load_tools, type_name_of
from rlkit.toolcall.values import VALUE_NOT_ACCEPTABLE, WRONG_TYPE, standardize_string


def reference_calls(expected: list[ExpectedCall], prefer: str = "first") -> list[ToolCall]:
    """Concrete calls from acceptable values: the first of each list ("first"; `""` = omit) or the
    first non-empty one ("given"). Dict values in BFCL form (key -> [values]) are resolved per key."""
    if prefer not in ("first", "given"):
        raise ValueError(f"prefer must be 'first' or 'given', got {prefer!r}")
    return [ToolCall(call.name, _pick_arguments(call.arguments, prefer)) for call in expected]


def _pick(acceptable: list, prefer: str) -> Any:
    if prefer == "given":
        return next((value for value in acceptable if value != ""), "")
    return acceptable[0] if acceptable else ""


def _pick_arguments(arguments: dict[str, list], prefer: str) -> dict[str, Any]:
    chosen = {}
    for name, acceptable in arguments.items():
        value = _pick(acceptable, prefer) if isinstance(acceptable, list) else acceptable
        if value == "":
            continue  # "" means the argument may be omitted
        chosen[name] = _resolve(value, prefer)
    return chosen


def _resolve(value: Any, prefer: str) -> Any:
    """A BFCL acceptable value as a concrete value (one level of key -> [values] dicts)."""
    if isinstance(value, dict) and all(isinstance(options, list) for options in value.values()):
        return _pick_arguments(value, prefer)
    if isinstance(value, list) and value and all(isinstance(element, dict) for element in value):
        return [_resolve(element, prefer) for element in value]
    return copy.deepcopy(value)


# A perturbation returns (perturbed calls, reason the checker must give) or None if it does not apply.
Perturbation = Callable[[list[ToolCall], list[ExpectedCall], dict], "tuple[list[ToolCall], str] | None"]


def _wrong_name(calls, expected, schemas):
    changed = copy.deepcopy(calls)
    changed[0].name = changed[0].name + "_unknown"
    return changed, WRONG_FUNCTION


def _drop_required(calls, expected, schemas):
    for index, call in enumerate(calls):
        required = schemas.get(call.name, {}).get("parameters", {}).get("required", [])
        present = [name for name in required if name in call.arguments]
        if present:
            changed = copy.deepcopy(calls)
            del changed[index].arguments[present[0]]
            return changed, MISSING_REQUIRED
    return None


def _extra_argument(calls, expected, schemas):
    changed = copy.deepcopy(calls)
    changed[0].arguments["zz_unexpected_argument"] = 1
    return changed, UNEXPECTED_ARGUMENT


def _acceptable_for(expected: list[ExpectedCall], call: ToolCall) -> dict[str, list]:
    return next((wanted.arguments for wanted in expected if wanted.name == call.name), {})


def _changed_value(value: Any, acceptable: list) -> Any:
    """A value of the same type that is not acceptable, or None when none is easy to make."""
    if isinstance(value, bool):
        candidate = not value
    elif isinstance(value, (int, float)):
        candidate = value + 7919
    elif isinstance(value, str):
        candidate = value + " zq"
        normalized = {standardize_string(option) for option in acceptable if isinstance(option, str)}
        return None if standardize_string(candidate) in normalized else candidate
    elif isinstance(value, list) and value and not isinstance(value[0], (dict, list)):
        candidate = value + [value[0]]
    else:
        return None
    return None if candidate in acceptable else candidate


def _wrong_value(calls, expected, schemas):
    for index, call in enumerate(calls):
        acceptable = _acceptable_for(expected, call)
        for name, value in call.arguments.items():
            candidate = _changed_value(value, acceptable.get(name, []))
            if candidate is not None:
                changed = copy.deepcopy(calls)
                changed[index].arguments[name] = candidate
                return changed, VALUE_NOT_ACCEPTABLE
    return None


_WRONG_TYPE_CANDIDATES = ({"zz": "wrong type"}, "wrong type", 12345, [1, 2])


def _wrong_type(calls, expected, schemas):
    for index, call in enumerate(calls):
        properties = schemas.get(call.name, {}).get("parameters", {}).get("properties", {})
        acceptable = _acceptable_for(expected, call)
        for name in call.arguments:
            type_name = type_name_of(properties.get(name))
            if type_name is None:
                continue
            declared = PYTHON_TYPES[type_name]
            answer_types = {type(option) for option in acceptable.get(name, []) if option != ""}
            for candidate in _WRONG_TYPE_CANDIDATES:
                kind = type(candidate)
                if kind is declared or kind in answer_types or (kind is int and declared is float):
                    continue
                changed = copy.deepcopy(calls)
                changed[index].arguments[name] = copy.deepcopy(candidate)
                return changed, WRONG_TYPE
    return None


def _drop_call(calls, expected, schemas):
    return calls[:-1], (WRONG_COUNT if len(calls) > 1 else NO_CALL)


def _duplicate_call(calls, expected, schemas):
    return calls + [copy.deepcopy(calls[0])], WRONG_COUNT


def _drop_needed_optional(calls, expected, schemas):
    for index, call in enumerate(calls):
        required = schemas.get(call.name, {}).get("parameters", {}).get("required", [])
        acceptable = _acceptable_for(expected, call)
        for name in call.arguments:
            if name not in required and "" not in acceptable.get(name, [""]):
                changed = copy.deepcopy(calls)
                del changed[index].arguments[name]
                return changed, MISSING_ARGUMENT
    return None


def _reorder(calls, expected, schemas):
    if len(calls) < 2 or all(call == calls[0] for call in calls):
        return None
    return list(reversed(calls)), OK


PERTURBATIONS: dict[str, Perturbation] = {
    "wrong_name": _wrong_name,
    "drop_required": _drop_required,
    "extra_argument": _extra_argument,
    "wrong_value": _wrong_value,
    "wrong_type": _wrong_type,
    "drop_call": _drop_call,
    "duplicate_call": _duplicate_call,
    "drop_needed_optional": _drop_needed_optional,
    "reorder": _reorder,  # must stay correct
}


@dataclass
class Outcome:
    """One rendered-parsed-checked variant of a row: the verdict and the reason it should have."""

    variant: str
    verdict: Verdict
    want_reason: str

    @property
    def as_intended(self) -> bool:
        """Correct variants pass; perturbed ones fail with the intended reason."""
        return self.verdict.reason == self.want_reason


def render_parse_check(
    calls: list[ToolCall], expected: list[ExpectedCall], tools: Any, matching: str = "bfcl"
) -> Verdict:
    """The full path a completion takes: render in LFM2 form, parse back, check."""
    parsed = parse_tool_calls(render_calls(calls))
    if parsed.error:
        return Verdict(False, "parse_error", parsed.error)
    return check_calls(parsed.calls, expected, tools, matching=matching)


def gold_and_perturbed(expected: list[ExpectedCall], schemas: dict[str, dict]) -> list[list[ToolCall]]:
    """Both gold renderings, then every applicable perturbation of the "given" gold calls (unjudged)."""
    gold = reference_calls(expected, "given")
    variants = [gold, reference_calls(expected, "first")]
    for perturb in PERTURBATIONS.values():
        result = perturb(gold, expected, schemas)
        if result is not None:
            variants.append(result[0])
    return variants


def audit_expected(expected: list[ExpectedCall], tools: Any) -> list[Outcome]:
    """Gold variants and every applicable perturbation of the "given" gold calls.

    gold_given: first non-empty acceptable value of every argument (the acceptance variant);
    gold_first: first acceptable value, so arguments whose first option is `""` are omitted;
    reorder_best: the reversed calls under matching="best" (reorder uses BFCL's greedy pairing).
    """
    schemas = load_tools(tools) if tools is not None else {}
    gold = reference_calls(expected, "given")
    outcomes = [Outcome("gold_given", render_parse_check(gold, expected, tools), OK)]
    outcomes.append(Outcome("gold_first", render_parse_check(reference_calls(expected, "first"), expected, tools), OK))
    if not outcomes[0].verdict.ok or not gold:
        return outcomes  # perturbing an answer the checker already rejects proves nothing
    for kind, perturb in PERTURBATIONS.items():
        result = perturb(gold, expected, schemas)
        if result is not None:
            changed, want_reason = result
            outcomes.append(Outcome(kind, render_parse_check(changed, expected, tools), want_reason))
            if kind == "reorder":
                outcomes.append(Outcome("reorder_best", render_parse_check(changed, expected, tools, "best"), OK))
    return outcomes
