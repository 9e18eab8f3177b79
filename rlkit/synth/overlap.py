"""Word n-gram overlap between texts: finds near-duplicates and leaked test examples.

Texts are lower-cased and split into alphanumeric words; each side is padded with n-1 boundary
markers so that even a one-word utterance ("hi") has n-grams and exact copies always overlap fully.
Overlap is the Jaccard index of the two n-gram sets. An `NgramIndex` keeps an inverted index
(n-gram -> texts containing it) so a new text is compared only with texts it shares an n-gram with.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

_WORD = re.compile(r"[a-z0-9]+")
_BOUNDARY = "\x00"


def word_ngrams(text: str, n: int = 3) -> frozenset[tuple[str, ...]]:
    """The set of word n-grams of `text`, boundary-padded.

    >>> sorted(word_ngrams("Hi there!", n=2))
    [('\\x00', 'hi'), ('hi', 'there'), ('there', '\\x00')]
    """
    if n < 1:
        raise ValueError(f"n-gram size must be >= 1, got {n}")
    words = _WORD.findall(text.lower())
    if not words:
        return frozenset()
    padded = [_BOUNDARY] * (n - 1) + words + [_BOUNDARY] * (n - 1)
    return frozenset(tuple(padded[i : i + n]) for i in range(len(padded) - n + 1))


def jaccard(a: frozenset, b: frozenset) -> float:
    """|a ∩ b| / |a ∪ b|; 0.0 when both are empty.

    >>> jaccard(frozenset({1, 2, 3}), frozenset({2, 3, 4}))
    0.5
    """
    if not a and not b:
        return 0.0
    shared = len(a & b)
    return shared / (len(a) + len(b) - shared)


@dataclass
class Match:
    """The closest indexed text: its key and the Jaccard overlap with the query."""

    key: str
    overlap: float


@dataclass
class NgramIndex:
    """Texts indexed by their word n-grams, queried for the most-overlapping one."""

    n: int = 3
    _grams: dict[str, frozenset] = field(default_factory=dict)
    _postings: dict[tuple[str, ...], list[str]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self._grams)

    def add(self, key: str, text: str) -> None:
        """Index `text` under `key` (a later add with the same key replaces nothing: keys must be unique)."""
        if key in self._grams:
            raise KeyError(f"duplicate key {key!r} in n-gram index")
        grams = word_ngrams(text, self.n)
        self._grams[key] = grams
        for gram in grams:
            self._postings.setdefault(gram, []).append(key)

    def closest(self, text: str) -> Match | None:
        """The indexed text with the highest overlap with `text` (None when nothing shares an n-gram)."""
        grams = word_ngrams(text, self.n)
        shared: Counter[str] = Counter()
        for gram in grams:
            shared.update(self._postings.get(gram, ()))
        best: Match | None = None
        for key, count in shared.items():
            other = self._grams[key]
            overlap = count / (len(grams) + len(other) - count)
            if best is None or overlap > best.overlap:
                best = Match(key, overlap)
        return best
