"""The Jury: weighted judges, aggregation (mean, majority, Borda), quorum, vetoes, every vote kept.

Each judge scores the candidates of a task in [0, 1] (or abstains). The jury
1. asks every judge (a judge that raises or errors is recorded as a failed vote, never dropped);
2. checks the quorum: at least `quorum` judges must have answered, else the task is `no_quorum`;
3. aggregates the scores (see `aggregate`), then ranks: vetoed candidates (doom loops, candidates
   that address the judge) below all others whatever their scores, then by aggregate score;
4. picks best and worst; when the best is vetoed or best and worst score within `margin` of each
   other there is no clear winner (`no_clear_winner`), and the pair builder skips the task.
Per-run stats count tasks by status, votes and failures per judge (by kind), and how often each
pair of judges agrees on which of two candidates is better.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Literal, Sequence

from rlkit.jury.base import Judge, JudgeTask, Vote

log = logging.getLogger(__name__)

Aggregation = Literal["mean", "majority", "borda"]
Status = Literal["ok", "no_quorum", "no_clear_winner"]
Scores = list[float | None]


def aggregate_mean(rows: Sequence[Scores], weights: Sequence[float]) -> Scores:
    """Per candidate, the weighted mean of the scores of the judges that scored it.

    >>> aggregate_mean([[1.0, 0.0], [0.5, None]], [1.0, 3.0])
    [0.625, 0.0]
    """
    n = len(rows[0]) if rows else 0
    out: Scores = []
    for i in range(n):
        pairs = [(row[i], w) for row, w in zip(rows, weights) if row[i] is not None]
        total = sum(w for _, w in pairs)
        out.append(sum(s * w for s, w in pairs) / total if total > 0 else None)
    return out


def borda_points(row: Scores) -> Scores:
    """One judge's Borda points, scaled to [0, 1]: the share of its other scored candidates beaten (ties half).

    >>> borda_points([0.9, 0.1, 0.1, None])
    [1.0, 0.25, 0.25, None]
    """
    scored = [s for s in row if s is not None]
    if len(scored) < 2:
        return [None if s is None else 0.5 for s in row]
    out: Scores = []
    for s in row:
        if s is None:
            out.append(None)
            continue
        beaten = sum(1.0 for t in scored if t < s) + 0.5 * (sum(1 for t in scored if t == s) - 1)
        out.append(beaten / (len(scored) - 1))
    return out


def aggregate_borda(rows: Sequence[Scores], weights: Sequence[float]) -> Scores:
    """Weighted mean of each judge's Borda points: only the order a judge gives counts, not its scale."""
    return aggregate_mean([borda_points(row) for row in rows], weights)


def aggregate_majority(rows: Sequence[Scores], weights: Sequence[float]) -> Scores:
    """Pairwise weighted majority (Copeland): share of the other candidates each candidate beats.

    Candidate i beats j when the judges preferring i outweigh those preferring j; a draw counts half.
    A candidate no judge scored gets None.

    >>> aggregate_majority([[1, 0, 0.5], [0, 1, 0.5], [1, 0, 0]], [1, 1, 1])
    [1.0, 0.25, 0.25]
    """
    n = len(rows[0]) if rows else 0
    scored = [any(row[i] is not None for row in rows) for i in range(n)]
    wins = [0.0] * n
    for i, j in itertools.combinations(range(n), 2):
        for_i = sum(w for row, w in zip(rows, weights) if _prefers(row, i, j))
        for_j = sum(w for row, w in zip(rows, weights) if _prefers(row, j, i))
        if for_i > for_j:
            wins[i] += 1
        elif for_j > for_i:
            wins[j] += 1
        else:
            wins[i] += 0.5
            wins[j] += 0.5
    return [wins[i] / (n - 1) if scored[i] and n > 1 else (0.5 if scored[i] else None) for i in range(n)]


def _prefers(row: Scores, i: int, j: int) -> bool:
    return row[i] is not None and row[j] is not None and row[i] > row[j]


AGGREGATORS = {"mean": aggregate_mean, "majority": aggregate_majority, "borda": aggregate_borda}


def aggregate(rows: Sequence[Scores], weights: Sequence[float], method: Aggregation) -> Scores:
    """Combine per-judge score rows with `method` ("mean", "majority" or "borda")."""
    if method not in AGGREGATORS:
        raise ValueError(f"jury aggregation must be one of {list(AGGREGATORS)}, got {method!r}")
    return AGGREGATORS[method](rows, weights)


def rank_candidates(scores: Scores, vetoed: Sequence[bool]) -> list[int]:
    """Candidate indices best first: non-vetoed before vetoed, then by score (unscored last), then index."""
    return sorted(
        range(len(scores)),
        key=lambda i: (vetoed[i], scores[i] is None, -(scores[i] or 0.0), i),
    )


@dataclass
class JuryVerdict:
    """The jury's decision on one task, with every vote it was based on."""

    task_id: str
    status: Status
    scores: Scores
    vetoed: list[bool]
    ranking: list[int]
    votes: list[Vote]
    best: int | None = None
    worst: int | None = None

    def record(self) -> dict:
        """A JSON-ready dict of the verdict and all votes (the audit trail)."""
        return asdict(self)


@dataclass
class JuryStats:
    """Counters over a run: tasks by status, votes/failures per judge, pairwise judge agreement."""

    tasks: int = 0
    status: Counter = field(default_factory=Counter)
    votes: Counter = field(default_factory=Counter)
    failures: Counter = field(default_factory=Counter)  # key "judge/kind"
    agree: Counter = field(default_factory=Counter)  # key "judge_a|judge_b"
    disagree: Counter = field(default_factory=Counter)
    vetoed_candidates: int = 0
    # Per measured judge (Jury(measure_influence_of=...)): tasks it answered, and tasks whose outcome
    # (status, best, worst) would differ had it not voted: the pairs that judge changed.
    answered_by: Counter = field(default_factory=Counter)
    changed_by: Counter = field(default_factory=Counter)

    def agreement(self) -> dict[str, float]:
        """Per judge pair, the share of candidate pairs both ordered strictly on which they agree."""
        keys = [k for k in sorted(set(self.agree) | set(self.disagree)) if self.agree[k] + self.disagree[k] > 0]
        return {k: self.agree[k] / (self.agree[k] + self.disagree[k]) for k in keys}

    def as_dict(self) -> dict:
        """Plain-dict summary for logs and result files."""
        return {
            "tasks": self.tasks,
            "status": dict(self.status),
            "votes": dict(self.votes),
            "failures": dict(self.failures),
            "agreement": self.agreement(),
            "vetoed_candidates": self.vetoed_candidates,
            "influence": {name: {"answered": self.answered_by[name], "outcome_changed": self.changed_by[name]}
                          for name in sorted(self.answered_by)},
        }


class Jury:
    """Weighted judges + aggregation + quorum. `rank_many` judges tasks concurrently (threads)."""

    def __init__(
        self,
        judges: Sequence[Judge],
        weights: Sequence[float] | None = None,
        aggregation: Aggregation = "mean",
        quorum: int = 1,
        margin: float = 1e-6,
        max_workers: int = 4,
        measure_influence_of: Sequence[str] = (),
    ):
        """`measure_influence_of`: judge names whose effect is counted: each task is also decided
        without that judge's vote, and a different outcome counts as a pair it changed."""
        if not judges:
            raise ValueError("a jury needs at least one judge")
        weights = list(weights) if weights is not None else [1.0] * len(judges)
        if len(weights) != len(judges):
            raise ValueError(f"{len(judges)} judges but {len(weights)} weights")
        if aggregation not in AGGREGATORS:
            raise ValueError(f"jury aggregation must be one of {list(AGGREGATORS)}, got {aggregation!r}")
        if not 1 <= quorum <= len(judges):
            raise ValueError(f"quorum must be between 1 and the number of judges ({len(judges)}), got {quorum}")
        self.judges = list(judges)
        self.weights = weights
        self.aggregation = aggregation
        self.quorum = quorum
        self.margin = margin
        self.max_workers = max_workers
        self.measure_influence_of = list(measure_influence_of)
        self.stats = JuryStats()
        self._lock = threading.Lock()

    def reset_stats(self) -> None:
        """Start every counter over, the jury's and its judges' (a DPO round reports its own counts)."""
        self.stats = JuryStats()
        for judge in self.judges:
            if hasattr(judge, "stats"):
                judge.stats = type(judge.stats)()

    def rank(self, task: JudgeTask) -> JuryVerdict:
        """Ask every judge about `task`, aggregate, and pick best and worst."""
        votes = [self._ask(judge, task) for judge in self.judges]
        verdict = decide(task, votes, self.weights, self.aggregation, self.quorum, self.margin)
        self._count(verdict)
        for name in self.measure_influence_of:
            self._count_influence(task, verdict, name)
        return verdict

    def _count_influence(self, task: JudgeTask, verdict: JuryVerdict, name: str) -> None:
        if not any(v.judge == name and v.answered for v in verdict.votes):
            return
        without = [v if v.judge != name else Vote(name, None, error="left out") for v in verdict.votes]
        # The rest of the jury alone: one vote fewer can also fall below the quorum.
        alone = decide(task, without, self.weights, self.aggregation, max(1, min(self.quorum, len(without) - 1)), self.margin)
        with self._lock:
            self.stats.answered_by[name] += 1
            self.stats.changed_by[name] += (alone.status, alone.best, alone.worst) != (verdict.status, verdict.best, verdict.worst)

    def rank_many(self, tasks: Sequence[JudgeTask]) -> list[JuryVerdict]:
        """`rank` for every task, `max_workers` at a time; results in task order."""
        if self.max_workers <= 1 or len(tasks) <= 1:
            return [self.rank(task) for task in tasks]
        with ThreadPoolExecutor(max_workers=self.max_workers) as pool:
            return list(pool.map(self.rank, tasks))

    def _ask(self, judge: Judge, task: JudgeTask) -> Vote:
        try:
            vote = judge.judge(task)
        except Exception as err:  # a judge bug must cost one vote, not the run; it is counted
            log.warning("judge %s raised on task %r: %s", judge.name, task.task_id, err)
            return Vote(judge.name, None, error=f"exception: {type(err).__name__}: {err}")
        if vote.scores is not None and len(vote.scores) != len(task.candidates):
            return Vote(judge.name, None, error=f"bad_vote: {len(vote.scores)} scores for {len(task.candidates)} candidates")
        return vote

    def _count(self, verdict: JuryVerdict) -> None:
        with self._lock:
            stats = self.stats
            stats.tasks += 1
            stats.status[verdict.status] += 1
            stats.vetoed_candidates += sum(verdict.vetoed)
            answered = [v for v in verdict.votes if v.answered]
            for vote in verdict.votes:
                stats.votes[vote.judge] += 1
                if not vote.answered:
                    kind = (vote.error or "abstained").split(":")[0]
                    stats.failures[f"{vote.judge}/{kind}"] += 1
            for a, b in itertools.combinations(answered, 2):
                agree, disagree = pairwise_agreement(a.scores, b.scores)
                key = "|".join(sorted((a.judge, b.judge)))
                stats.agree[key] += agree
                stats.disagree[key] += disagree


def decide(
    task: JudgeTask, votes: Sequence[Vote], weights: Sequence[float], aggregation: Aggregation, quorum: int, margin: float
) -> JuryVerdict:
    """The verdict from recorded votes (pure: no judge is called here)."""
    n = len(task.candidates)
    vetoed = [False] * n
    for vote in votes:
        if vote.error is None and vote.veto:
            vetoed = [a or bool(b) for a, b in zip(vetoed, vote.veto)]
    answered = [(v, w) for v, w in zip(votes, weights) if v.answered]
    base = dict(task_id=task.task_id, vetoed=vetoed, votes=list(votes))
    if len(answered) < quorum:
        return JuryVerdict(status="no_quorum", scores=[None] * n, ranking=list(range(n)), **base)
    scores = aggregate([v.scores for v, _ in answered], [w for _, w in answered], aggregation)
    ranking = rank_candidates(scores, vetoed)
    best, worst = ranking[0], ranking[-1]
    clear = (
        n >= 2
        and not vetoed[best]
        and scores[best] is not None
        and (vetoed[worst] or (scores[worst] is not None and scores[best] - scores[worst] > margin))
    )
    status: Status = "ok" if clear else "no_clear_winner"
    return JuryVerdict(
        status=status,
        scores=scores,
        ranking=ranking,
        best=best if clear else None,
        worst=worst if clear else None,
        **base,
    )


def pairwise_agreement(a: Scores, b: Scores) -> tuple[int, int]:
    """(agreeing, disagreeing) candidate pairs that both score rows order strictly.

    >>> pairwise_agreement([1, 0, 0.5], [0.9, 0.1, 0.95])
    (2, 1)
    """
    agree = disagree = 0
    for i, j in itertools.combinations(range(len(a)), 2):
        if None in (a[i], a[j], b[i], b[j]) or a[i] == a[j] or b[i] == b[j]:
            continue
        if (a[i] > a[j]) == (b[i] > b[j]):
            agree += 1
        else:
            disagree += 1
    return agree, disagree
