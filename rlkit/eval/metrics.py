"""Aggregate metrics over eval records: pure functions, hand-checkable, JSON-able results.

Definitions (the report uses exactly these):
- tool-call equivalence: share of call examples whose verdict is ok (BFCL AST-checker semantics).
- per-tool accuracy: for each tool named in an example's reference calls, the share of those
  examples judged ok (an example with parallel calls to two tools counts once for each tool).
- parse-error rate: share of call examples whose completion the parser reported an error for.
- loop rate: share of completions (calls and replies) flagged by `rlkit.loops.detect_loop`.
- mean length: mean generated tokens per completion (end-of-turn token included when emitted).
- facts recall: mentioned facts / reference facts over all reply examples.
- accuracy at turn k, correct history: a turn counts as right when every call step of that turn
  was judged ok with the reference conversation before it.
- accuracy at turn k, own history: a turn of an episode played on the model's own calls and the
  env's real responses counts as right when the calls made in it match that turn's reference calls.
- episode success by number of turns: share of episodes of that length whose every turn was right.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from typing import Iterable

from rlkit.eval.records import EpisodeRecord, ExampleRecord


def rate(hits: int, n: int) -> float | None:
    """hits / n, or None when there is nothing to count (so an empty split never reads as 0%)."""
    return hits / n if n else None


def wilson_interval(hits: int, n: int, z: float = 1.96) -> tuple[float, float] | None:
    """The Wilson score interval for a rate hits/n (95% at z=1.96), or None when n is 0.

    Unlike the normal approximation it stays inside [0, 1] and is not zero-width at 0% or 100%,
    which is where loop rates and trained equivalence live.
    """
    if not n:
        return None
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def facts_mentioned(text: str, facts: Iterable[str]) -> list[str]:
    """The facts that occur in `text`, case-insensitive, `_` read as a space, starting at a word start.

    A fact ending in a digit must also end at a word end ("7" is not in "72"); a word fact may
    carry a suffix ("cancel" is in "cancelled"), as the envs' facts are word stems.

    >>> facts_mentioned("Done, your card is cancelled and the lights are on.", ["cancel", "on", "7", "card"])
    ['cancel', 'on', 'card']
    """
    haystack = _normalize(text)
    found = []
    for fact in facts:
        needle = _normalize(str(fact))
        end = r"(?!\w)" if needle[-1:].isdigit() else ""
        if needle and re.search(r"(?<!\w)" + re.escape(needle) + end, haystack):
            found.append(fact)
    return found


def _normalize(text: str) -> str:
    return " ".join(text.lower().replace("_", " ").split())


def call_metrics(records: list[ExampleRecord]) -> dict:
    """Equivalence, parse-error rate, per-tool accuracy and verdict reasons over call examples."""
    calls = [r for r in records if r.kind == "call"]
    correct = sum(1 for r in calls if r.ok)
    per_tool: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for record in calls:
        for tool in sorted(set(record.expected_tools)):
            per_tool[tool][0] += 1
            per_tool[tool][1] += int(bool(record.ok))
    return {
        "n": len(calls),
        "correct": correct,
        "equivalence": rate(correct, len(calls)),
        "parse_errors": sum(1 for r in calls if r.parse_error),
        "parse_error_rate": rate(sum(1 for r in calls if r.parse_error), len(calls)),
        "per_tool": {
            tool: {"n": n, "correct": ok, "accuracy": rate(ok, n)} for tool, (n, ok) in sorted(per_tool.items())
        },
        "reasons": dict(Counter(r.reason for r in calls if not r.ok).most_common()),
    }


def generation_metrics(records: list[ExampleRecord]) -> dict:
    """Loop rate, mean length and share cut at the token limit, over all completions."""
    n = len(records)
    return {
        "n": n,
        "loops": sum(1 for r in records if r.looped),
        "loop_rate": rate(sum(1 for r in records if r.looped), n),
        "mean_length": sum(r.length for r in records) / n if n else None,
        "hit_length_limit_rate": rate(sum(1 for r in records if r.finish_reason == "length"), n),
    }


def reply_metrics(records: list[ExampleRecord]) -> dict:
    """Loop rate, mean length and facts recall over free-text reply examples."""
    replies = [r for r in records if r.kind == "reply"]
    total_facts = sum(len(r.facts) for r in replies)
    mentioned = sum(len(r.facts_mentioned) for r in replies)
    return {
        **generation_metrics(replies),
        "facts": total_facts,
        "facts_mentioned": mentioned,
        "facts_recall": rate(mentioned, total_facts),
        "all_facts_rate": rate(sum(1 for r in replies if len(r.facts_mentioned) == len(r.facts)), len(replies)),
    }


def accuracy_by_turn_correct_history(records: list[ExampleRecord]) -> dict[int, dict]:
    """Turn k accuracy with the reference history: all call steps of that turn ok (see module doc)."""
    turns: dict[tuple[str, int], bool] = {}
    for record in records:
        if record.kind != "call" or record.turn_index is None:
            continue
        key = (record.episode_id or record.example_id, record.turn_index)
        turns[key] = turns.get(key, True) and bool(record.ok)
    return _by_turn((turn, ok) for (_, turn), ok in turns.items())


def accuracy_by_turn_own_history(episodes: list[EpisodeRecord]) -> dict[int, dict]:
    """Turn k accuracy when the model continues from its own earlier calls and the env's responses."""
    return _by_turn((turn.turn_index, turn.ok) for episode in episodes for turn in episode.turns)


def success_by_num_turns(episodes: list[EpisodeRecord]) -> dict[int, dict]:
    """Share of episodes with every turn right, grouped by the episode's number of user turns."""
    return _by_turn((episode.num_turns, episode.success) for episode in episodes)


def _by_turn(pairs: Iterable[tuple[int, bool]]) -> dict[int, dict]:
    counts: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for key, ok in pairs:
        counts[key][0] += 1
        counts[key][1] += int(ok)
    return {key: {"n": n, "correct": ok, "accuracy": rate(ok, n)} for key, (n, ok) in sorted(counts.items())}


def episode_metrics(episodes: list[EpisodeRecord]) -> dict:
    """Success overall and by number of turns, own-history accuracy by turn, final-state matches."""
    n = len(episodes)
    return {
        "n": n,
        "success_rate": rate(sum(1 for e in episodes if e.success), n),
        "final_state_match_rate": rate(sum(1 for e in episodes if e.final_state_match), n),
        "success_by_num_turns": success_by_num_turns(episodes),
        "accuracy_by_turn_own_history": accuracy_by_turn_own_history(episodes),
        "turn_loop_rate": rate(
            sum(1 for e in episodes for t in e.turns if t.looped), sum(len(e.turns) for e in episodes)
        ),
    }


def setting_metrics(records: list[ExampleRecord], episodes: list[EpisodeRecord] | None = None) -> dict:
    """Every metric for the records (and episodes) of one generation setting."""
    out = {
        "calls": call_metrics(records),
        "generation": generation_metrics(records),
        "replies": reply_metrics(records),
        "accuracy_by_turn_correct_history": accuracy_by_turn_correct_history(records),
    }
    if episodes:
        out["episodes"] = episode_metrics(episodes)
    return out
