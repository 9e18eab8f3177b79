"""Doom-loop detection and repetition metrics: the loop numbers the whole project reports.

Definitions (units are token ids, or for text: whitespace-separated words by default, or chars):

- **Tail cycle of period p**: the longest suffix `s` of the sequence with `s[i] == s[i - p]` for
  every position after its first p units; its span is that suffix's length (so the cycle's first
  copy counts) and its repeats are `span / p`. The cycle of a sequence is the one with the
  smallest p in [1, max_period] having `repeats >= min_repeats` and `span >= min_span`.
- **Doom loop** (`detect_loop(...).is_loop`): either (a) the rollout did NOT finish with EOS (it
  hit the token limit) and its tail is a cycle as above (kind "cycle"); or (b) it contains at
  least `min_identical_calls` consecutive identical tool calls (same name and arguments), with or
  without EOS (kind "repeated_tool_call"). A rollout that ends with EOS is never a cycle loop,
  however repetitive (a legitimately repetitive list is fine).
- **coverage**: span of the cycle / sequence length (for repeated calls: the run of identical
  calls / number of calls). **period**: cycle length in units (1 for repeated calls).
- **loop_rate**: fraction of rollouts in a batch that are doom loops.
- **seq_rep_n** (Welleck et al., 2019): per sequence `1 - distinct n-grams / n-grams`, averaged
  over the sequences that have at least one n-gram.
- **distinct_n** (Li et al., 2016): distinct n-grams across the whole batch / all n-grams of the
  batch (n-grams never cross sequence boundaries).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rlkit.rewards.ngrams import distinct_and_total, ngram_hashes, units_of
from rlkit.toolcall.call import ToolCall
from rlkit.toolcall.parse import parse_tool_calls

NO_LOOP = "none"
CYCLE = "cycle"
REPEATED_TOOL_CALL = "repeated_tool_call"


@dataclass(frozen=True)
class LoopReport:
    """Whether a rollout is a doom loop, and the cycle found (period in units, coverage 0..1)."""

    is_loop: bool
    period: int = 0
    coverage: float = 0.0
    kind: str = NO_LOOP


def tail_cycle(units: np.ndarray, max_period: int = 50, min_repeats: float = 3.0, min_span: int = 32) -> tuple[int, int]:
    """(period, span) of the smallest-period cycle at the end of `units`, or (0, 0) when none."""
    length = len(units)
    for period in range(1, min(max_period, length - 1) + 1):
        span = _trailing_periodic_run(units, period) + period
        if span >= min_span and span >= min_repeats * period:
            return period, span
    return 0, 0


def _trailing_periodic_run(units: np.ndarray, period: int, window: int = 256) -> int:
    """Number of trailing positions i with units[i] == units[i - period]."""
    length = len(units)
    start = max(period, length - window)  # look at the tail first: most rollouts break early
    differs = np.flatnonzero(units[start:] != units[start - period : length - period])
    if differs.size:
        return length - start - (int(differs[-1]) + 1)
    if start == period:
        return length - period
    differs = np.flatnonzero(units[period:] != units[:-period])
    return length - period - (int(differs[-1]) + 1 if differs.size else 0)


def longest_identical_call_run(calls: Sequence[ToolCall]) -> int:
    """Length of the longest run of consecutive identical calls (0 for no calls)."""
    longest = run = 0
    previous = None
    for call in calls:
        run = run + 1 if previous is not None and call == previous else 1
        longest = max(longest, run)
        previous = call
    return longest


def detect_loop(
    sequence: Sequence[int] | str,
    finished_with_eos: bool,
    *,
    calls: Sequence[ToolCall] | None = None,
    unit: str = "words",
    max_period: int = 50,
    min_repeats: float = 3.0,
    min_span: int = 32,
    min_identical_calls: int = 3,
) -> LoopReport:
    """Doom-loop verdict for one rollout (token ids or text; see the module docstring).

    `calls` are the episode's tool calls in order; for text they default to the calls parsed from
    it. `unit` applies to text only ("words" or "chars").

    >>> report = detect_loop([7] * 10 + [1, 2, 3] * 20, finished_with_eos=False)
    >>> report.is_loop, report.period, round(report.coverage, 3), report.kind  # 60 of 70 tokens
    (True, 3, 0.857, 'cycle')
    >>> detect_loop([7] * 10 + [1, 2, 3] * 20, finished_with_eos=True).is_loop
    False
    """
    if calls is None and isinstance(sequence, str):
        calls = parse_tool_calls(sequence).calls
    if not finished_with_eos:
        units = units_of(sequence, unit if isinstance(sequence, str) else "tokens")
        period, span = tail_cycle(units, max_period, min_repeats, min_span)
        if period:
            return LoopReport(True, period, span / len(units), CYCLE)
    if calls:
        run = longest_identical_call_run(calls)
        if run >= min_identical_calls:
            return LoopReport(True, 1, run / len(calls), REPEATED_TOOL_CALL)
    return LoopReport(False)


def loop_rate(sequences: Sequence[Sequence[int] | str], finished_with_eos: Sequence[bool], **detect_kwargs) -> float:
    """Fraction of rollouts that are doom loops (0.0 for an empty batch).

    >>> loop_rate([[1] * 40, [1] * 40, list(range(40)), [2] * 40], [False, True, False, False])
    0.5
    """
    if len(sequences) != len(finished_with_eos):
        raise ValueError(f"{len(sequences)} sequences but {len(finished_with_eos)} finished_with_eos flags")
    if not sequences:
        return 0.0
    loops = sum(detect_loop(s, f, **detect_kwargs).is_loop for s, f in zip(sequences, finished_with_eos))
    return loops / len(sequences)


def seq_rep_n(sequences: Sequence[Sequence[int] | str], n: int = 4, unit: str = "words") -> float:
    """Mean over sequences of `1 - distinct n-grams / n-grams` (sequences shorter than n skipped).

    >>> seq_rep_n([[1, 2, 1, 2, 1, 2], [1, 2, 3, 4]], n=2)  # (1 - 2/5 + 1 - 3/3) / 2
    0.3
    """
    values = []
    for sequence in sequences:
        distinct, total = distinct_and_total(units_of(sequence, unit), n)
        if total:
            values.append(1.0 - distinct / total)
    return float(np.mean(values)) if values else 0.0


def distinct_n(sequences: Sequence[Sequence[int] | str], n: int = 2, unit: str = "words") -> float:
    """Distinct n-grams across the batch / all n-grams in the batch (0.0 when there are none).

    >>> distinct_n(["a b a b", "a b c"], n=2)  # ab ba ab | ab bc -> 3 distinct of 5
    0.6
    """
    hashes = [ngram_hashes(units_of(sequence, unit), n) for sequence in sequences]
    every = np.concatenate(hashes) if hashes else np.empty(0, dtype=np.uint64)
    return np.unique(every).size / every.size if every.size else 0.0
