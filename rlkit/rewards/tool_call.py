"""Verifiable tool-call reward: equivalence with a reference answer, or an environment verifier.

Reference formula (`tool_call_reward`, per completion; `answer` is the row's expected calls):

- `answer` is None -> None (TRL then ignores this reward for the row).
- 1.0 when the call block parses without error and `check_calls` says the calls are equivalent
  (BFCL semantics); an expected empty list is matched by a completion without calls.
- 0.0 when no call could be read, or calls were made where none were expected.
- otherwise partial credit, capped at 0.9 so only an equivalent call set earns 1.0:
  `min(0.9, 0.1 * well_formed + 0.3 * name_f1 + 0.6 * argument_f1)` where
  `well_formed` = 1 if the block parsed without error;
  `name_f1` = 2 * |predicted names ∩ expected names (as multisets)| / (|predicted| + |expected|);
  `argument_f1` = 2 * correct / (given + needed), summed over calls paired by name (closest
  arguments first): `correct` = given arguments whose value is acceptable, `given` = all predicted
  arguments (unpaired calls included), `needed` = expected arguments without `""` plus optional
  ones given correctly (unpaired expected calls included); equal to `name_f1` when
  given + needed == 0 (calls without arguments agree only as far as their names do).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from rlkit.rewards.completions import parse_completion, row_columns
from rlkit.toolcall.call import ToolCall
from rlkit.toolcall.check import ExpectedCall, Verdict, argument_overlap, check_calls, expected_from_answer
from rlkit.toolcall.schema import load_tools

PARTIAL_CREDIT_CAP = 0.9


def score_calls(
    predicted: list[ToolCall],
    expected: list[ExpectedCall],
    tools: str | list | None = None,
    well_formed: bool = True,
    matching: str = "bfcl",
) -> float:
    """The reward of predicted calls against expected ones (formula in the module docstring).

    >>> from rlkit.toolcall import ToolCall, expected_from_answer
    >>> want = expected_from_answer('[{"name": "set_light", "arguments": {"room": "kitchen", "on": true}}]')
    >>> score_calls([ToolCall("set_light", {"room": "Kitchen", "on": True})], want)
    1.0
    >>> score_calls([ToolCall("set_light", {"room": "hall", "on": True})], want)  # 0.1 + 0.3 + 0.6 * 0.5
    0.7
    >>> score_calls([ToolCall("get_weather", {"city": "Paris"})], want)  # only well-formed
    0.1
    >>> score_calls([], want)
    0.0
    """
    if well_formed and check_calls(predicted, expected, tools, matching=matching).ok:
        return 1.0
    if not predicted or not expected:
        return 0.0
    name_overlap = sum((Counter(c.name for c in predicted) & Counter(c.name for c in expected)).values())
    name_f1 = 2 * name_overlap / (len(predicted) + len(expected))
    argument_f1 = _paired_argument_f1(predicted, expected, load_tools(tools) if tools is not None else {}, name_f1)
    partial = 0.1 * well_formed + 0.3 * name_f1 + 0.6 * argument_f1
    return round(min(PARTIAL_CREDIT_CAP, partial), 6)


def _paired_argument_f1(predicted: list[ToolCall], expected: list[ExpectedCall], schemas: dict, name_f1: float) -> float:
    overlaps = {
        (p, e): argument_overlap(call, wanted, schemas)
        for p, call in enumerate(predicted)
        for e, wanted in enumerate(expected)
        if call.name == wanted.name
    }
    # Pair same-name calls greedily, most correct arguments first (ties keep the original order).
    partner_of_expected: dict[int, int] = {}
    for p, e in sorted(overlaps, key=lambda pair: -overlaps[pair][0]):
        if e not in partner_of_expected and p not in partner_of_expected.values():
            partner_of_expected[e] = p
    correct = sum(overlaps[p, e][0] for e, p in partner_of_expected.items())
    given = sum(len(call.arguments) for call in predicted)
    needed = sum(
        overlaps[partner_of_expected[e], e][2]
        if e in partner_of_expected
        else sum("" not in acceptable for acceptable in wanted.arguments.values())
        for e, wanted in enumerate(expected)
    )
    total = given + needed
    return name_f1 if total == 0 else 2 * correct / total


def tool_call_reward(prompts: list, completions: list, answer: list | None = None, tools: list | None = None, **columns: Any) -> list[float | None]:
    """Tool-call reward against the `answer` column (reference calls or BFCL ground truth).

    >>> completions = ["<|tool_call_start|>[set_light(room='kitchen', on=True)]<|tool_call_end|>",
    ...                "<|tool_call_start|>[set_light(room='hall', on=True)]<|tool_call_end|>",
    ...                "The light is on."]
    >>> answer = ['{"name": "set_light", "arguments": {"room": "kitchen", "on": true}}'] * 3
    >>> tool_call_reward(None, completions, answer=answer)
    [1.0, 0.7, 0.0]
    """
    return ToolCallReward()(prompts, completions, answer=answer, tools=tools, **columns)


class ToolCallReward:
    """TRL reward function: reference-based (no verifier) or scored by an environment verifier.

    `verifier(calls, **row_columns)` gets the parsed calls and that row's dataset columns and
    returns a bool, a float in [0, 1], a Verdict (ok -> 1.0, else 0.0) or None (no reward). A
    completion whose call block does not parse gets 0.0 without calling the verifier. Picklable
    as long as the verifier is (a module-level function or a small class).

    >>> def lights_on(calls, **row):
    ...     return any(call.name == "set_light" and call.arguments.get("on") is True for call in calls)
    >>> reward = ToolCallReward(verifier=lights_on)
    >>> reward.__name__
    'tool_call_reward_lights_on'
    >>> reward(None, ["<|tool_call_start|>[set_light(room='hall', on=True)]<|tool_call_end|>", "ok"])
    [1.0, 0.0]
    """

    def __init__(self, verifier: Callable[..., Any] | None = None, matching: str = "bfcl"):
        self.verifier = verifier
        self.matching = matching
        suffix = f"_{getattr(verifier, '__name__', type(verifier).__name__)}" if verifier is not None else ""
        self.__name__ = f"tool_call_reward{suffix}"

    def __call__(self, prompts: list, completions: list, **columns: Any) -> list[float | None]:
        """One reward per completion (TRL contract)."""
        if self.verifier is None and columns.get("answer") is None:
            raise ValueError("tool_call_reward needs an 'answer' dataset column (or use ToolCallReward(verifier=...))")
        scores: list[float | None] = []
        for index, completion in enumerate(completions):
            row = row_columns(columns, index, len(completions))
            parsed = parse_completion(completion)
            if self.verifier is not None:
                scores.append(self._verify(parsed, row))
            elif row.get("answer") is None:
                scores.append(None)
            else:
                expected = expected_from_answer(row["answer"])
                if not parsed.calls and parsed.error is not None:
                    scores.append(0.0)
                    continue
                scores.append(score_calls(parsed.calls, expected, row.get("tools"), parsed.error is None, self.matching))
        return scores

    def _verify(self, parsed, row: dict[str, Any]) -> float | None:
        if parsed.error is not None:
            return 0.0
        result = self.verifier(parsed.calls, **row)
        if result is None:
            return None
        if isinstance(result, Verdict):
            return 1.0 if result.ok else 0.0
        return float(result)
