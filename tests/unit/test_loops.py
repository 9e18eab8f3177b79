"""Doom-loop detector on hand-built rollouts, and the batch metrics."""

import numpy as np
import pytest

from rlkit.loops import CYCLE, NO_LOOP, REPEATED_TOOL_CALL, detect_loop, distinct_n, loop_rate, seq_rep_n, tail_cycle
from rlkit.toolcall import ToolCall


def rollout_with_cycle(period: int, prefix: int = 60, length: int = 512, seed: int = 0) -> list[int]:
    rng = np.random.default_rng(seed + period)
    head = rng.integers(1000, 2000, size=prefix).tolist()  # never reused inside the cycle
    cycle = rng.permutation(np.arange(10, 10 + period)).tolist()  # distinct ids: period is exact
    body = (cycle * (length // period + 1))[: length - prefix]
    return head + body


@pytest.mark.parametrize("period", list(range(1, 51)))
def test_cycles_of_period_1_to_50_are_found_without_eos(period):
    tokens = rollout_with_cycle(period)
    report = detect_loop(tokens, finished_with_eos=False)
    assert (report.is_loop, report.period, report.kind) == (True, period, CYCLE)
    assert report.coverage == pytest.approx((512 - 60) / 512)
    assert not detect_loop(tokens, finished_with_eos=True).is_loop


def test_non_repeating_text_is_no_loop():
    rng = np.random.default_rng(1)
    assert detect_loop(rng.permutation(5000).tolist(), finished_with_eos=False) .kind == NO_LOOP
    words = " ".join(f"word{i}" for i in range(600))
    assert not detect_loop(words, finished_with_eos=False).is_loop


def test_repetitive_list_ending_with_eos_is_no_loop():
    text = "Shopping list:\n" + "\n".join("- apples" for _ in range(60))
    assert detect_loop(text, finished_with_eos=True) == detect_loop(text, finished_with_eos=True)
    assert not detect_loop(text, finished_with_eos=True).is_loop
    truncated = detect_loop(text, finished_with_eos=False)  # the same text cut by the token limit
    assert truncated.is_loop and truncated.period == 2 and truncated.kind == CYCLE


def test_short_or_few_repeats_are_not_cycles():
    assert tail_cycle(np.array([1, 2, 3, 1, 2, 3], dtype=np.uint64)) == (0, 0)  # span 6 < 32
    assert tail_cycle(np.array(list(range(40)) + list(range(40)), dtype=np.uint64), max_period=50) == (0, 0)
    assert tail_cycle(np.array([], dtype=np.uint64)) == (0, 0)


def test_repeated_identical_tool_calls_are_loops_even_with_eos():
    block = "<|tool_call_start|>[get_balance(account='checking')]<|tool_call_end|>"
    report = detect_loop(" ".join([block] * 3) + " done", finished_with_eos=True)
    assert (report.is_loop, report.kind, report.coverage) == (True, REPEATED_TOOL_CALL, 1.0)
    assert not detect_loop(block + " " + block, finished_with_eos=True).is_loop
    calls = [ToolCall("a", {"x": 1}), ToolCall("b"), ToolCall("b"), ToolCall("b"), ToolCall("a", {"x": 1})]
    episode = detect_loop([1, 2, 3], finished_with_eos=True, calls=calls)
    assert (episode.is_loop, episode.kind, episode.coverage) == (True, REPEATED_TOOL_CALL, 0.6)
    different = [ToolCall("b", {"i": i}) for i in range(5)]
    assert not detect_loop([1, 2, 3], finished_with_eos=True, calls=different).is_loop


def test_character_unit_for_text():
    assert detect_loop("ha" * 40, finished_with_eos=False, unit="chars").period == 2
    assert not detect_loop("ha" * 40, finished_with_eos=False).is_loop  # one word


def test_batch_metrics_by_hand():
    looping, clean = rollout_with_cycle(3), list(range(500))
    assert loop_rate([looping, clean, looping, clean], [False, False, True, True]) == 0.25
    assert loop_rate([], []) == 0.0
    with pytest.raises(ValueError):
        loop_rate([clean], [])
    assert seq_rep_n(["a b a b", "c d e"], n=2) == pytest.approx(((1 - 2 / 3) + 0) / 2)
    assert seq_rep_n(["a"], n=2) == 0.0
    assert distinct_n([[1, 2, 3], [1, 2, 4]], n=2) == pytest.approx(3 / 4)
    assert distinct_n(["x"], n=2) == 0.0


def test_windowed_tail_search_equals_full_scan():
    from rlkit.loops import _trailing_periodic_run

    def full_scan(units, period):
        differs = np.flatnonzero(units[period:] != units[:-period])
        return len(units) - period - (int(differs[-1]) + 1 if differs.size else 0)

    rng = np.random.default_rng(5)
    for _ in range(300):
        length = int(rng.integers(2, 900))
        units = rng.integers(0, 3, size=length).astype(np.uint64)
        if rng.random() < 0.5:
            start = int(rng.integers(0, length))
            units[start:] = np.resize(rng.integers(0, 5, size=int(rng.integers(1, 40))), length - start)
        for period in range(1, min(50, length - 1) + 1):
            assert _trailing_periodic_run(units, period) == full_scan(units, period)
