"""The comparison behind verify_sync, on hand-written logprob lists."""

import math

import pytest

from rlkit.rollout.sync import SyncError, max_logprob_gap


def test_gap_is_the_largest_absolute_difference_and_where_it_is():
    expected = [[-1.0, -2.0], [-0.5, -0.25, -3.0]]
    actual = [[-1.0, -2.1], [-0.5, -0.75, -3.0]]
    gap, seq, pos = max_logprob_gap(expected, actual)
    assert gap == pytest.approx(0.5) and (seq, pos) == (1, 1)


def test_identical_scores_have_zero_gap():
    assert max_logprob_gap([[-1.5, -0.1]], [[-1.5, -0.1]])[0] == 0.0


def test_nan_counts_as_infinite_gap():
    gap, seq, pos = max_logprob_gap([[-1.0, -1.0]], [[-1.0, math.nan]])
    assert gap == math.inf and (seq, pos) == (0, 1)


def test_shape_mismatches_are_errors_not_silent_truncation():
    with pytest.raises(SyncError, match="sequence 0"):
        max_logprob_gap([[-1.0, -2.0]], [[-1.0]])
    with pytest.raises(SyncError, match="scored 2 sequences, expected 1"):
        max_logprob_gap([[-1.0]], [[-1.0], [-2.0]])
