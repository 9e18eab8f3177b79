"""Fast n-gram statistics over token ids, words or characters (numpy, hashed n-grams).

Each unit becomes a 64-bit integer (token id, Python's string hash of a word, or a code point);
an n-gram becomes one 64-bit hash of its units (multiply-xor mixing, wrapping arithmetic), so
counting distinct n-grams is one `np.unique` instead of building Python tuples. Two different
n-grams share a hash with probability ~N^2/2^64: negligible at completion lengths.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

UNITS = ("tokens", "words", "chars")
_MIX = np.uint64(0x9E3779B97F4A7C15)  # odd constant from the golden ratio; spreads small ids
_STEP = np.uint64(0x100000001B3)  # FNV-1a 64-bit prime


def units_of(sequence: Sequence[int] | np.ndarray | str, unit: str = "words") -> np.ndarray:
    """The sequence as a uint64 array: token ids as given, or a text's words / characters."""
    if isinstance(sequence, str):
        if unit == "chars":
            return np.frombuffer(sequence.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
        if unit == "words":
            words = sequence.split()
            return np.fromiter(map(hash, words), dtype=np.int64, count=len(words)).view(np.uint64)
        raise ValueError(f"unit {unit!r} needs token ids, got text (units for text: 'words', 'chars')")
    if isinstance(sequence, list):  # fromiter is faster than asarray for a list of Python ints
        return np.fromiter(sequence, dtype=np.int64, count=len(sequence)).view(np.uint64)
    return np.asarray(sequence, dtype=np.int64).reshape(-1).view(np.uint64)


def ngram_hashes(units: np.ndarray, n: int) -> np.ndarray:
    """One uint64 hash per n-gram (position i covers units[i : i + n]); empty if too short."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    count = len(units) - n + 1
    if count <= 0:
        return np.empty(0, dtype=np.uint64)
    mixed = (units + np.uint64(1)) * _MIX
    hashes = mixed[:count].copy()
    for offset in range(1, n):
        hashes = (hashes ^ (hashes >> np.uint64(29))) * _STEP ^ mixed[offset : offset + count]
    return hashes


def distinct_and_total(units: np.ndarray, n: int) -> tuple[int, int]:
    """(number of distinct n-grams, number of n-grams) of one sequence."""
    hashes = ngram_hashes(units, n)
    if hashes.size == 0:
        return 0, 0
    hashes.sort()  # sort + count changes: several times faster than np.unique on short arrays
    return 1 + int(np.count_nonzero(hashes[1:] != hashes[:-1])), int(hashes.size)


def repeated_ngram_mask(units: np.ndarray, n: int) -> np.ndarray:
    """Boolean per unit: True where the n-gram ending at that unit occurred earlier in the sequence."""
    mask = np.zeros(len(units), dtype=bool)
    hashes = ngram_hashes(units, n)
    if hashes.size:
        _, first_positions = np.unique(hashes, return_index=True)
        repeated = np.ones(hashes.size, dtype=bool)
        repeated[first_positions] = False
        mask[n - 1 :] = repeated
    return mask
