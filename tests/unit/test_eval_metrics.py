"""Eval metrics on hand-built records, checked against hand-computed values."""

from __future__ import annotations

import pytest

from rlkit.eval.metrics import (
    accuracy_by_turn_correct_history,
    accuracy_by_turn_own_history,
    call_metrics,
    episode_metrics,
    facts_mentioned,
    generation_metrics,
    reply_metrics,
    setting_metrics,
    success_by_num_turns,
)
from rlkit.eval.records import EpisodeRecord, ExampleRecord, TurnRecord


def call(ok, tools, reason="ok", parse_error=None, length=10, finish="stop", looped=False, turn=None, episode=None):
    return ExampleRecord(example_id=f"e{id(tools)}", setting="s", kind="call", completion="", finish_reason=finish,
                         length=length, parse_error=parse_error, expected_tools=tools, ok=ok, reason=reason,
                         looped=looped, turn_index=turn, episode_id=episode)


def reply(facts, mentioned, length=20, looped=False, finish="stop"):
    return ExampleRecord(example_id="r", setting="s", kind="reply", completion="", finish_reason=finish, length=length,
                         facts=facts, facts_mentioned=mentioned, looped=looped)


def test_call_metrics_overall_per_tool_and_parse_errors():
    records = [
        call(True, ["a"]),
        call(False, ["a"], reason="wrong_function"),
        call(False, ["b"], reason="parse_error", parse_error="unterminated"),
        call(True, ["a", "b"]),  # parallel calls count once for each tool
        call(True, ["b", "b"]),  # two calls to one tool count once for that tool
    ]
    m = call_metrics(records + [reply(["x"], ["x"])])
    assert m["n"] == 5 and m["correct"] == 3
    assert m["equivalence"] == pytest.approx(0.6)
    assert m["parse_errors"] == 1 and m["parse_error_rate"] == pytest.approx(0.2)
    assert m["per_tool"]["a"] == {"n": 3, "correct": 2, "accuracy": pytest.approx(2 / 3)}
    assert m["per_tool"]["b"] == {"n": 3, "correct": 2, "accuracy": pytest.approx(2 / 3)}
    assert m["reasons"] == {"wrong_function": 1, "parse_error": 1}


def test_empty_inputs_give_none_not_zero():
    assert call_metrics([])["equivalence"] is None
    assert generation_metrics([])["loop_rate"] is None
    assert reply_metrics([])["facts_recall"] is None


def test_generation_metrics_count_loops_lengths_and_limit_hits():
    records = [call(True, ["a"], length=10), call(False, ["a"], length=128, finish="length", looped=True),
               reply([], [], length=40), reply([], [], length=128, finish="length")]
    g = generation_metrics(records)
    assert g["n"] == 4 and g["loops"] == 1
    assert g["loop_rate"] == pytest.approx(0.25)
    assert g["mean_length"] == pytest.approx((10 + 128 + 40 + 128) / 4)
    assert g["hit_length_limit_rate"] == pytest.approx(0.5)


def test_reply_metrics_facts_recall_and_all_facts():
    records = [reply(["kitchen", "on"], ["kitchen", "on"]), reply(["72", "heat", "x"], ["72"], looped=True)]
    r = reply_metrics(records + [call(True, ["a"])])
    assert r["n"] == 2 and r["loop_rate"] == pytest.approx(0.5)
    assert r["facts"] == 5 and r["facts_mentioned"] == 3
    assert r["facts_recall"] == pytest.approx(0.6)
    assert r["all_facts_rate"] == pytest.approx(0.5)


def test_facts_mentioned_word_starts_case_underscores_and_numbers():
    text = "Okay, the Living Room lights are ON, the card is cancelled and the thermostat is at 72 degrees."
    assert facts_mentioned(text, ["living_room", "on", "72", "7", "heat", "room lights", "cancel", "ancel", "2"]) == [
        "living_room", "on", "72", "room lights", "cancel"]
    assert facts_mentioned("", ["on"]) == []
    assert facts_mentioned("lock it", [""]) == []


def test_accuracy_by_turn_correct_history_needs_every_step_of_the_turn():
    records = [
        call(True, ["a"], turn=0, episode="ep1"),
        call(True, ["a"], turn=1, episode="ep1"),
        call(False, ["a"], turn=1, episode="ep1"),  # second call step of turn 1 wrong -> turn 1 wrong
        call(True, ["a"], turn=0, episode="ep2"),
        call(True, ["a"], turn=1, episode="ep2"),
        call(False, ["a"], turn=0, episode="ep3"),
    ]
    table = accuracy_by_turn_correct_history(records)
    assert table[0] == {"n": 3, "correct": 2, "accuracy": pytest.approx(2 / 3)}
    assert table[1] == {"n": 2, "correct": 1, "accuracy": pytest.approx(0.5)}


def turns(*oks):
    return [TurnRecord(turn_index=i, ok=ok, reason="ok" if ok else "wrong_function") for i, ok in enumerate(oks)]


def test_episode_metrics_success_by_turns_and_own_history():
    episodes = [
        EpisodeRecord("a", "s", "smart_home", 1, turns(True), final_state_match=True),
        EpisodeRecord("b", "s", "smart_home", 2, turns(True, False)),
        EpisodeRecord("c", "s", "smart_home", 2, turns(True, True), final_state_match=True),
        EpisodeRecord("d", "s", "smart_home", 3, turns(False, True, True)),
        EpisodeRecord("e", "s", "smart_home", 3, turns(True, True)),  # cut short: not a success
    ]
    assert [e.success for e in episodes] == [True, False, True, False, False]
    by_length = success_by_num_turns(episodes)
    assert by_length[1]["accuracy"] == 1.0 and by_length[2]["accuracy"] == 0.5 and by_length[3]["accuracy"] == 0.0
    own = accuracy_by_turn_own_history(episodes)
    assert own[0] == {"n": 5, "correct": 4, "accuracy": pytest.approx(0.8)}
    assert own[1] == {"n": 4, "correct": 3, "accuracy": pytest.approx(0.75)}
    assert own[2] == {"n": 1, "correct": 1, "accuracy": 1.0}
    m = episode_metrics(episodes)
    assert m["success_rate"] == pytest.approx(0.4) and m["final_state_match_rate"] == pytest.approx(0.4)


def test_setting_metrics_has_every_section():
    m = setting_metrics([call(True, ["a"])], [EpisodeRecord("a", "s", "x", 1, turns(True))])
    assert set(m) == {"calls", "generation", "replies", "accuracy_by_turn_correct_history", "episodes"}
    assert "episodes" not in setting_metrics([call(True, ["a"])])


def test_wilson_interval_matches_hand_computed_values():
    from rlkit.eval.metrics import wilson_interval

    # 0/10: centre = half-width = (1.96²/20)/(1 + 1.96²/10) = 0.13877 → [0, 0.2775]
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and abs(high - 0.2775) < 1e-4
    # 5/10: symmetric around 0.5, half-width 1.96·sqrt(0.025 + 0.0096)/1.38416 = 0.2634
    low, high = wilson_interval(5, 10)
    assert abs(low - 0.2366) < 1e-4 and abs(high - 0.7634) < 1e-4
    assert wilson_interval(0, 0) is None
