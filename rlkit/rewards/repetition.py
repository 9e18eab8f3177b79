"""N-gram repetition penalty: `-max_penalty * (1 - distinct n-grams / n-grams)` per completion.

Units are words (whitespace split; the default), characters, or token ids (`completion_ids`,
which TRL's GRPOTrainer passes to reward functions). A completion with fewer than `min_ngrams`
n-grams gets 0. The dense variant spreads the same total over the positions that repeat an
earlier n-gram, so its sum equals the sequence penalty.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from rlkit.rewards.completions import completion_text
from rlkit.rewards.ngrams import UNITS, distinct_and_total, repeated_ngram_mask, units_of

DEFAULT_N = 4
DEFAULT_MAX_PENALTY = 1.0
DEFAULT_MIN_NGRAMS = 4


def repetition_penalty_of(
    sequence: Sequence[int] | str,
    n: int = DEFAULT_N,
    max_penalty: float = DEFAULT_MAX_PENALTY,
    unit: str = "words",
    min_ngrams: int = DEFAULT_MIN_NGRAMS,
) -> float:
    """The penalty of one sequence (token ids or text).

    >>> repetition_penalty_of("a b c a b c a b c", n=3)  # 7 trigrams, 3 distinct: -(1 - 3/7)
    -0.5714285714285714
    >>> repetition_penalty_of("too short", n=3)
    0.0
    """
    distinct, total = distinct_and_total(units_of(sequence, unit), n)
    if total < max(min_ngrams, 1):
        return 0.0
    return max_penalty * (distinct / total - 1.0)


def dense_repetition_penalty(
    sequence: Sequence[int] | str, n: int = DEFAULT_N, max_penalty: float = DEFAULT_MAX_PENALTY, unit: str = "tokens"
) -> np.ndarray:
    """Per-unit penalties: `-max_penalty / n_grams` where the n-gram ending there repeats an earlier one.

    >>> dense_repetition_penalty([5, 6, 5, 6, 5], n=2).tolist()  # bigrams 56 65 56 65: two repeats
    [0.0, 0.0, 0.0, -0.25, -0.25]
    """
    units = units_of(sequence, unit)
    mask = repeated_ngram_mask(units, n)
    total = max(len(units) - n + 1, 1)
    return np.where(mask, -max_penalty / total, 0.0)


class NgramRepetitionPenalty:
    """Configurable TRL reward: `NgramRepetitionPenalty(n=4, max_penalty=1.0, unit="tokens")`.

    >>> penalty = NgramRepetitionPenalty(n=2, unit="tokens", min_ngrams=1)
    >>> penalty.__name__
    'ngram_repetition_penalty_tokens2'
    >>> penalty(None, ["", ""], completion_ids=[[1, 2, 1, 2, 1], [1, 2, 3]])
    [-0.5, 0.0]
    """

    def __init__(
        self,
        n: int = DEFAULT_N,
        max_penalty: float = DEFAULT_MAX_PENALTY,
        unit: str = "words",
        min_ngrams: int = DEFAULT_MIN_NGRAMS,
    ):
        if unit not in UNITS:
            raise ValueError(f"unit must be one of {UNITS}, got {unit!r}")
        if n < 1 or max_penalty < 0:
            raise ValueError(f"need n >= 1 and max_penalty >= 0, got n={n}, max_penalty={max_penalty}")
        self.n, self.max_penalty, self.unit, self.min_ngrams = n, max_penalty, unit, min_ngrams
        self.__name__ = f"ngram_repetition_penalty_{unit}{n}"

    def __call__(self, prompts: list, completions: list, completion_ids: list | None = None, **columns: Any) -> list[float]:
        """One penalty (<= 0) per completion."""
        if self.unit == "tokens":
            if completion_ids is None:
                raise ValueError("unit='tokens' needs the completion_ids keyword (TRL's GRPOTrainer passes it)")
            sequences = completion_ids
        else:
            sequences = [completion_text(completion) for completion in completions]
        return [repetition_penalty_of(s, self.n, self.max_penalty, self.unit, self.min_ngrams) for s in sequences]


def ngram_repetition_penalty(prompts: list, completions: list, **columns: Any) -> list[float]:
    """Word 4-gram repetition penalty with max_penalty 1.0 (use NgramRepetitionPenalty to configure).

    >>> ngram_repetition_penalty(None, ["one two three four five six", "go go go go go go go go"])
    [0.0, -0.8]
    """
    return NgramRepetitionPenalty()(prompts, completions, **columns)
