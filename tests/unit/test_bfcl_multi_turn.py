"""BFCL multi-turn env: safe dispatch, ground-truth parsing, BFCL's turn checks, and the gold replay."""

from __future__ import annotations

import copy
import inspect
from collections import Counter

import pytest

pytest.importorskip("bfcl_eval", reason="BFCL v4 comes from the bfcl-eval package (scripts/install.sh installs it)")

from rlkit.envs.bfcl_multi_turn import (  # noqa: E402
    ERROR_PREFIX,
    BfclDataError,
    BfclMultiTurnEnv,
    check_multi_turn,
    load_multi_turn_rows,
    multi_turn_row,
    parse_reference_call,
    plain_state,
    reference_turns,
)
from rlkit.envs.bfcl_grpo import turn_reward  # noqa: E402
from rlkit.toolcall import ToolCall  # noqa: E402
from rlkit.toolcall.pythonic import CallSyntaxError  # noqa: E402

SIGNATURES = {"sort": inspect.Signature([inspect.Parameter("file_name", inspect.Parameter.POSITIONAL_OR_KEYWORD)])}


@pytest.fixture(scope="module")
def base_rows():
    return load_multi_turn_rows("multi_turn_base")


def test_every_multi_turn_base_gold_replay_passes(base_rows):
    # The acceptance check: the ground truth, parsed with the literal reader and replayed through
    # the dispatcher, passes the project's BFCL multi-turn check on every row, without one error.
    assert len(base_rows) == 200
    failing = {}
    for row in base_rows:
        reference = reference_turns(row)
        verdict = check_multi_turn(row, reference)
        if not verdict.ok:
            failing[row["id"]] = verdict.reason
        env = BfclMultiTurnEnv(row)
        errors = sum(env.step(calls)[2]["errors"] for calls in reference)
        if errors:
            failing[row["id"]] = f"{errors} gold calls returned errors"
    assert failing == {}


def test_dropping_any_gold_call_fails_except_one_repeated_lookup(base_rows):
    reasons, survivors = Counter(), []
    for row in base_rows[:60]:
        reference = reference_turns(row)
        for turn, calls in enumerate(reference):
            for index in range(len(calls)):
                damaged = copy.deepcopy(reference)
                dropped = damaged[turn].pop(index)
                verdict = check_multi_turn(row, damaged)
                reasons[verdict.reason] += 1
                if verdict.ok:
                    survivors.append((row["id"], dropped.name))
    # All three of BFCL's turn checks fire; a lookup whose result an earlier turn already produced
    # is not missed (BFCL compares with the results of all turns so far) — none in the first 60 rows.
    assert survivors == []
    assert {"multi_turn:empty_turn_model_response", "multi_turn:instance_state_mismatch",
            "multi_turn:execution_response_mismatch"} <= set(reasons)


def test_repeated_lookup_from_an_earlier_turn_is_not_required_again():
    row = multi_turn_row("multi_turn_base_113")
    reference = reference_turns(row)
    assert [c.name for c in reference[1]].count("get_watchlist") == 1
    damaged = copy.deepcopy(reference)
    damaged[1] = [c for c in damaged[1] if c.name != "get_watchlist"]
    assert check_multi_turn(row, damaged).ok  # an identical get_watchlist result came in turn 0


def test_turn_count_and_step_limit_are_force_termination(base_rows):
    row = base_rows[0]
    reference = reference_turns(row)
    assert check_multi_turn(row, reference[:-1]).reason == "multi_turn:force_terminated"
    assert check_multi_turn(row, reference, force_terminated=True).reason == "multi_turn:force_terminated"


def test_calls_in_a_miss_param_turn_without_ground_truth_fail():
    row = next(r for r in load_multi_turn_rows("multi_turn_miss_param") if any(not t for t in r["ground_truth"]))
    reference = reference_turns(row)
    assert check_multi_turn(row, reference).ok
    empty = next(i for i, calls in enumerate(reference) if not calls)
    extra = copy.deepcopy(reference)
    extra[empty] = [next(c for turn in reference for c in turn)]
    verdict = check_multi_turn(row, extra)
    assert (verdict.ok, verdict.reason, verdict.turn) == (False, "multi_turn:irrelevance_error:decoder_success", empty)


def test_reference_calls_bind_positional_arguments_and_refuse_code():
    assert parse_reference_call("sort('final_report.pdf')", SIGNATURES) == ToolCall("sort", {"file_name": "final_report.pdf"})
    assert parse_reference_call("cd(folder='..')", {}) == ToolCall("cd", {"folder": ".."})
    for text in ("cd(folder=__import__('os').getcwd())", "cd(**{'folder': 'x'})", "sort('a', 'b')", "cd", "x = 1"):
        with pytest.raises(CallSyntaxError):
            parse_reference_call(text, SIGNATURES)


def test_reference_errors_name_row_turn_and_call(base_rows):
    row = dict(base_rows[0], ground_truth=[["cd(folder='document')", "mkdir(dir_name=open('x'))"]] + base_rows[0]["ground_truth"][1:])
    with pytest.raises(BfclDataError, match=r"multi_turn_base_0 turn 0 call 1"):
        reference_turns(row)


def test_only_declared_methods_run_and_errors_are_results(base_rows):
    row = base_rows[0]  # GorillaFileSystem + TwitterAPI
    env = BfclMultiTurnEnv(row)
    before = env.state()
    responses, done, info = env.step([
        ToolCall("_load_scenario", {"scenario": {}}),  # private: never dispatched
        ToolCall("get_stock_info", {"symbol": "X"}),  # a real method of a class this row does not involve
        ToolCall("cd", {"nope": 1}),  # wrong keyword: the simulated API's TypeError is the result
        ToolCall("cd", {"folder": "no_such_dir"}),
    ])
    assert not done and info == {"errors": 3, "calls": 4}
    assert all(r.startswith(ERROR_PREFIX) for r in responses[:3])
    assert "no_such_dir" in responses[3]
    assert env.state() == before


def test_math_arguments_that_would_compute_without_bound_are_refused():
    row = next(r for r in load_multi_turn_rows("multi_turn_base") if "MathAPI" in r["involved_classes"])
    env = BfclMultiTurnEnv(row)
    responses = env.step([ToolCall("power", {"base": 10, "exponent": 10**9}), ToolCall("power", {"base": 2, "exponent": 10})])
    assert responses[0][0].startswith(ERROR_PREFIX) and "bound" in responses[0][0]
    assert responses[0][1] == '{"result": 1024}'


def test_plain_state_keeps_key_types_and_sets_apart():
    assert plain_state({1: "a"}) != plain_state({"1": "a"})
    assert plain_state({"ids": {3, 1}}) == {"ids": {"<set>": [1, 3]}}
    assert plain_state({"x": (1, 2.0)}) == {"x": [1, 2.0]}


def test_reset_replays_the_ground_truth_history_and_turn_reward_scores_one_turn(base_rows):
    row = base_rows[0]
    reference = reference_turns(row)
    env = BfclMultiTurnEnv(row)
    messages = env.reset(task=2)
    assert [m["role"] for m in messages].count("user") == 3
    assert [m for m in messages if m["role"] == "assistant"][0]["tool_calls"][0]["function"]["name"] == reference[0][0].name
    assert turn_reward(row, 2, reference[2]) == 1.0
    assert turn_reward(row, 2, []) == 0.0
    assert turn_reward(row, 0, reference[0][:-1]) == 0.0
