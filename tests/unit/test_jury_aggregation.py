"""Jury aggregation, quorum, vetoes and stats, checked against hand-computed values."""

from __future__ import annotations

from collections import Counter

import pytest

from rlkit.jury import Candidate, JudgeTask, Jury, Vote, aggregate, decide, rank_candidates
from rlkit.jury.jury import borda_points, pairwise_agreement

# Three judges, four candidates. Judge c abstains on candidate 3.
ROWS = [
    [0.9, 0.5, 0.5, 0.0],
    [0.2, 0.8, 0.4, 0.1],
    [1.0, 0.0, 0.6, None],
]
WEIGHTS = [1.0, 2.0, 1.0]


def test_mean_by_hand():
    # cand0: (0.9*1 + 0.2*2 + 1.0*1) / 4 = 2.3/4; cand3: (0*1 + 0.1*2) / 3 (judge c abstained)
    got = aggregate(ROWS, WEIGHTS, "mean")
    assert got == pytest.approx([2.3 / 4, 2.1 / 4, 1.9 / 4, 0.2 / 3])


def test_borda_by_hand():
    # judge a: 0.9 beats 3 -> 1; 0.5,0.5 beat one + tie half -> 1.5/3; 0 -> 0
    assert borda_points(ROWS[0]) == pytest.approx([1.0, 0.5, 0.5, 0.0])
    # judge c scored three candidates: 1.0 -> 1, 0.0 -> 0, 0.6 -> 0.5
    assert borda_points(ROWS[2]) == pytest.approx([1.0, 0.0, 0.5, None])
    # judge b: order 0.8 > 0.4 > 0.2 > 0.1 -> [1/3, 1, 2/3, 0]
    got = aggregate(ROWS, WEIGHTS, "borda")
    expected = [
        (1.0 + 2 * (1 / 3) + 1.0) / 4,
        (0.5 + 2 * 1.0 + 0.0) / 4,
        (0.5 + 2 * (2 / 3) + 0.5) / 4,
        (0.0 + 2 * 0.0) / 3,
    ]
    assert got == pytest.approx(expected)


def test_majority_by_hand():
    # Pairs (weights a=1, b=2, c=1):
    # 0v1: a none(0.9>0.5 -> a for 0), b for 1 (2), c for 0 (1): 0 gets 2, 1 gets 2 -> draw
    # 0v2: a for 0, b for 2 (2), c for 0 -> 2 vs 2 -> draw
    # 0v3: a for 0, b for 0, c abstains -> 0 wins
    # 1v2: a tie, b for 1 (2), c for 2 (1) -> 1 wins
    # 1v3: a for 1, b for 1 -> 1 wins
    # 2v3: a for 2, b for 2 -> 2 wins
    # wins: c0 = .5+.5+1 = 2; c1 = .5+1+1 = 2.5; c2 = .5+0+1 = 1.5; c3 = 0 -> / 3
    got = aggregate(ROWS, WEIGHTS, "majority")
    assert got == pytest.approx([2 / 3, 2.5 / 3, 1.5 / 3, 0.0])


def test_unknown_aggregation_is_an_error():
    with pytest.raises(ValueError, match="aggregation"):
        aggregate(ROWS, WEIGHTS, "median")


def test_rank_puts_vetoed_last_whatever_their_score():
    assert rank_candidates([0.9, 0.1, 0.5, None], [True, False, False, False]) == [2, 1, 3, 0]


def _task(n: int) -> JudgeTask:
    return JudgeTask(messages=[{"role": "user", "content": "hi"}], candidates=[Candidate(f"c{i}") for i in range(n)], task_id="t")


def test_decide_picks_best_and_worst():
    votes = [Vote("a", ROWS[0]), Vote("b", ROWS[1]), Vote("c", ROWS[2])]
    verdict = decide(_task(4), votes, WEIGHTS, "mean", quorum=3, margin=0.0)
    assert verdict.status == "ok"
    assert (verdict.best, verdict.worst) == (0, 3)
    assert verdict.ranking == [0, 1, 2, 3]


def test_doom_loop_always_loses():
    # The looping candidate 0 has the best scores from two judges but is vetoed by the loop judge.
    votes = [Vote("llm", [1.0, 0.2, 0.3]), Vote("loop_veto", [0.0, 1.0, 1.0], veto=[True, False, False])]
    verdict = decide(_task(3), votes, [10.0, 1.0], "mean", quorum=1, margin=0.0)
    assert verdict.worst == 0
    assert verdict.best == 2


def test_all_candidates_vetoed_has_no_winner():
    votes = [Vote("loop_veto", [0.0, 0.0], veto=[True, True])]
    assert decide(_task(2), votes, [1.0], "mean", quorum=1, margin=0.0).status == "no_clear_winner"


def test_equal_scores_have_no_clear_winner():
    votes = [Vote("a", [0.5, 0.5, 0.5])]
    verdict = decide(_task(3), votes, [1.0], "mean", quorum=1, margin=1e-6)
    assert verdict.status == "no_clear_winner"
    assert verdict.best is None and verdict.worst is None


def test_quorum_counts_only_answering_judges():
    votes = [Vote("a", [1.0, 0.0]), Vote("b", None, error="timeout: x"), Vote("c", [None, None])]
    assert decide(_task(2), votes, [1, 1, 1], "mean", quorum=2, margin=0).status == "no_quorum"
    assert decide(_task(2), votes, [1, 1, 1], "mean", quorum=1, margin=0).status == "ok"


def test_a_failed_vote_cannot_veto():
    votes = [Vote("a", [1.0, 0.0]), Vote("b", None, error="timeout: x", veto=[True, False])]
    verdict = decide(_task(2), votes, [1, 1], "mean", quorum=1, margin=0)
    assert verdict.vetoed == [False, False] and verdict.best == 0


class _Fixed:
    def __init__(self, name, scores=None, error=None, raises=False):
        self.name, self.scores, self.error, self.raises = name, scores, error, raises

    def judge(self, task):
        if self.raises:
            raise RuntimeError("boom")
        return Vote(self.name, self.scores, error=self.error)


def test_jury_records_every_vote_and_counts_failures():
    jury = Jury(
        [_Fixed("a", [1.0, 0.0]), _Fixed("b", [0.0, 1.0]), _Fixed("c", error="timeout: slow"), _Fixed("d", raises=True),
         _Fixed("e", [1.0, 0.0, 0.5])],
        quorum=2,
    )
    verdicts = jury.rank_many([_task(2), _task(2)])
    assert [len(v.votes) for v in verdicts] == [5, 5]
    assert verdicts[0].votes[3].error.startswith("exception: RuntimeError")
    assert verdicts[0].votes[4].error.startswith("bad_vote")
    stats = jury.stats.as_dict()
    assert stats["tasks"] == 2
    assert stats["votes"] == {"a": 2, "b": 2, "c": 2, "d": 2, "e": 2}
    assert stats["failures"] == {"c/timeout": 2, "d/exception": 2, "e/bad_vote": 2}
    # a and b disagree on the only candidate pair, every time; a and b tie -> no clear winner
    assert stats["agreement"] == {"a|b": 0.0}
    assert stats["status"] == {"no_clear_winner": 2}


def test_pairwise_agreement_by_hand():
    assert pairwise_agreement([1, 0, 0.5], [0.9, 0.1, 0.95]) == (2, 1)
    assert pairwise_agreement([1, 1, None], [0, 1, 1]) == (0, 0)


def test_jury_rejects_bad_settings():
    with pytest.raises(ValueError, match="quorum"):
        Jury([_Fixed("a", [1.0])], quorum=2)
    with pytest.raises(ValueError, match="weights"):
        Jury([_Fixed("a", [1.0])], weights=[1.0, 2.0])


def test_jury_counts_the_outcomes_a_measured_judge_changed():
    # Rules alone: candidate 0 (0.6) over 1 (0.4) over 2 (0.0). The "llm" judge scores 1 high: with
    # it, the means are 0.3 / 0.7 / 0.0, so best flips from 0 to 1 (changed); on a task where it
    # agrees with the rules, the outcome stays (not changed).
    flip = Jury([_Fixed("rules", [0.6, 0.4, 0.0]), _Fixed("llm", [0.0, 1.0, 0.0])], quorum=1,
                measure_influence_of=["llm"])
    verdict = flip.rank(_task(3))
    assert (verdict.best, verdict.worst) == (1, 2)
    agree = Jury([_Fixed("rules", [0.6, 0.4, 0.0]), _Fixed("llm", [1.0, 0.5, 0.0])], quorum=1,
                 measure_influence_of=["llm"])
    agree.rank(_task(3))
    assert flip.stats.as_dict()["influence"] == {"llm": {"answered": 1, "outcome_changed": 1}}
    assert agree.stats.as_dict()["influence"] == {"llm": {"answered": 1, "outcome_changed": 0}}


def test_reset_stats_starts_the_jury_and_its_judges_counters_over():
    class _Counting(_Fixed):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.stats = Counter()

        def judge(self, task):
            self.stats["asked"] += 1
            return super().judge(task)

    counting = _Counting("llm", [1.0, 0.0])
    jury = Jury([_Fixed("rules", [0.0, 1.0]), counting], quorum=1, measure_influence_of=["llm"])
    jury.rank_many([_task(2), _task(2)])
    assert jury.stats.tasks == 2 and counting.stats == Counter(asked=2)
    jury.reset_stats()
    jury.rank(_task(2))
    assert jury.stats.tasks == 1 and jury.stats.votes == Counter(rules=1, llm=1) and counting.stats == Counter(asked=1)
    assert jury.stats.as_dict()["influence"] == {"llm": {"answered": 1, "outcome_changed": 1}}
