"""On-policy preference pairs: K sampled rollouts + 1 greedy rollout per prompt, ranked by a jury.

For each prompt row (`messages`, `tools`, optionally `answer`/`facts`):
1. the current policy writes K completions at temperature T and one greedy completion, through
   any `RolloutEngine` (HF generate on CPU, vLLM, an OpenAI-compatible server);
2. each completion is checked for a doom loop (`rlkit.loops.detect_loop` on its token ids, with
   "finished" meaning it ended with the end-of-turn token);
3. the jury ranks all K+1 (loops are vetoed: they always rank last);
4. chosen = best, rejected = worst. Prompts without a clear winner (all equal, all vetoed, no
   quorum), whose best and worst texts are identical, or whose best scores below
   `min_chosen_score` are skipped and counted, never dropped silently: every prompt appears in the
   audit records with its status. (A weak policy's best of K+1 is often still a wrong call;
   training towards it costs accuracy, so `min_chosen_score: 1.0` keeps only flawless winners.)

Pair rows have TRL's `prompt`/`chosen`/`rejected` as plain text (the prompt rendered with the LFM2
template and the tool list exactly as rollouts see it, so training and sampling contexts match;
completions end with the end-of-turn token when the model stopped) plus audit columns: every
candidate, its origin, loop flag, aggregate score, and the jury's votes.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from datasets import Dataset

from rlkit.chat import ToolStyle, render_prompt
from rlkit.jury import Candidate, JudgeTask, Jury, JuryVerdict
from rlkit.loops import detect_loop
from rlkit.rollout.base import ChatPrompt, Completion, Decoding, RolloutEngine, SamplingParams

log = logging.getLogger(__name__)

END_OF_TURN = "<|im_end|>"


@dataclass
class PairSettings(Decoding):
    """How candidates are sampled (K at `temperature` + 1 greedy) and how good the chosen one must be."""

    k: int = 4
    max_tokens: int = 128
    seed: int = 0
    min_chosen_score: float = 0.0  # the jury's aggregate score in [0, 1]; below it the prompt is skipped


@dataclass
class PairReport:
    """Counts of one pair-building pass."""

    prompts: int = 0
    pairs: int = 0
    skipped: Counter = field(default_factory=Counter)
    candidates: int = 0
    loops: int = 0
    chosen_loops: int = 0
    rejected_loops: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Plain-dict summary (the loop rate is over all candidates sampled)."""
        return {
            "prompts": self.prompts,
            "pairs": self.pairs,
            "skipped": dict(self.skipped),
            "candidates": self.candidates,
            "candidate_loop_rate": self.loops / self.candidates if self.candidates else 0.0,
            "chosen_loops": self.chosen_loops,
            "rejected_loops": self.rejected_loops,
        }


@dataclass
class PairBuild:
    """The pairs (a TRL-ready Dataset with audit columns), an audit record per prompt, and counts."""

    pairs: Dataset
    audit: list[dict[str, Any]]
    report: PairReport


def sample_candidates(
    engine: RolloutEngine, prompts: Sequence[ChatPrompt], settings: PairSettings
) -> list[list[tuple[str, Completion]]]:
    """Per prompt, K sampled completions then the greedy one, each tagged with its origin."""
    sampled_params = settings.sampling_params(settings.max_tokens, n=settings.k, seed=settings.seed)
    sampled = engine.generate(prompts, sampled_params) if settings.k > 0 else [[] for _ in prompts]
    greedy = engine.generate(prompts, SamplingParams.greedy(max_tokens=settings.max_tokens))
    return [
        [("sampled", c) for c in group] + [("greedy", g[0])]
        for group, g in zip(sampled, greedy, strict=True)
    ]


def is_doom_loop(completion: Completion) -> bool:
    """Doom loop per `rlkit.loops.detect_loop`, on token ids (text when the engine gave none)."""
    sequence = completion.token_ids or completion.text
    return detect_loop(sequence, completion.finish_reason == "stop").is_loop


def completion_text(completion: Completion) -> str:
    """The completion as trained on: its text, plus the end-of-turn token when the model stopped."""
    return completion.text + END_OF_TURN if completion.finish_reason == "stop" else completion.text


def judge_task(row: dict[str, Any], candidates: list[tuple[str, Completion]], loops: list[bool], index: int) -> JudgeTask:
    """The jury's view of one prompt row and its candidates."""
    facts = row.get("facts") or "[]"
    return JudgeTask(
        messages=list(row["messages"]),
        candidates=[Candidate(c.text, c.finish_reason, loop) for (_, c), loop in zip(candidates, loops)],
        tools=row.get("tools") or None,
        answer=row.get("answer") or None,
        facts=json.loads(facts) if isinstance(facts, str) else list(facts),
        task_id=str(row.get("task_id") or index),
    )


def build_pairs(
    rows: Iterable[dict[str, Any]],
    engine: RolloutEngine,
    jury: Jury,
    tokenizer: Any,
    settings: PairSettings,
    tool_style: ToolStyle = "compact",
) -> PairBuild:
    """Sample, flag loops, let the jury rank, and keep best-vs-worst pairs (see the module docstring)."""
    rows = list(rows)
    prompts = [ChatPrompt(list(row["messages"]), row.get("tools") or None) for row in rows]
    groups = sample_candidates(engine, prompts, settings)
    loop_flags = [[is_doom_loop(c) for _, c in group] for group in groups]
    tasks = [judge_task(row, group, flags, i) for i, (row, group, flags) in enumerate(zip(rows, groups, loop_flags))]
    verdicts = jury.rank_many(tasks)

    report = PairReport(prompts=len(rows))
    pair_rows: list[dict[str, Any]] = []
    audit: list[dict[str, Any]] = []
    for row, group, flags, task, verdict in zip(rows, groups, loop_flags, tasks, verdicts):
        report.candidates += len(group)
        report.loops += sum(flags)
        status = verdict.status
        if status == "ok" and group[verdict.best][1].text == group[verdict.worst][1].text:
            status = "identical_best_and_worst"
        elif status == "ok" and verdict.scores[verdict.best] < settings.min_chosen_score:
            status = "chosen_below_min_score"
        record = audit_record(task, group, flags, verdict, status)
        audit.append(record)
        if status != "ok":
            report.skipped[status] += 1
            continue
        best, worst = group[verdict.best][1], group[verdict.worst][1]
        report.pairs += 1
        report.chosen_loops += flags[verdict.best]
        report.rejected_loops += flags[verdict.worst]
        pair_rows.append(
            {
                "prompt": render_prompt(tokenizer, list(row["messages"]), row.get("tools") or None, tool_style),
                "chosen": completion_text(best),
                "rejected": completion_text(worst),
                "task_id": task.task_id,
                "chosen_index": verdict.best,
                "rejected_index": verdict.worst,
                "chosen_loop": flags[verdict.best],
                "rejected_loop": flags[verdict.worst],
                "margin": verdict.scores[verdict.best] - (verdict.scores[verdict.worst] or 0.0),
                "candidates": json.dumps(record["candidates"], ensure_ascii=False),
                "votes": json.dumps(record["votes"], ensure_ascii=False),
            }
        )
    if report.skipped:
        log.info("pair builder: %d pairs from %d prompts; skipped %s", report.pairs, report.prompts, dict(report.skipped))
    return PairBuild(Dataset.from_list(pair_rows, features=None) if pair_rows else empty_pairs(), audit, report)


def audit_record(
    task: JudgeTask, group: list[tuple[str, Completion]], flags: list[bool], verdict: JuryVerdict, status: str
) -> dict[str, Any]:
    """Everything about one prompt's judging: candidates, loop flags, scores, votes, outcome."""
    return {
        "task_id": task.task_id,
        "status": status,
        "best": verdict.best,
        "worst": verdict.worst,
        "candidates": [
            {
                "origin": origin,
                "text": c.text,
                "finish_reason": c.finish_reason,
                "num_tokens": len(c.token_ids),
                "loop": loop,
                "score": score,
                "vetoed": vetoed,
            }
            for (origin, c), loop, score, vetoed in zip(group, flags, verdict.scores, verdict.vetoed)
        ],
        "votes": [
            {"judge": v.judge, "scores": v.scores, "error": v.error, "veto": v.veto, "detail": v.detail}
            for v in verdict.votes
        ],
    }


PAIR_COLUMNS = (
    "prompt", "chosen", "rejected", "task_id", "chosen_index", "rejected_index",
    "chosen_loop", "rejected_loop", "margin", "candidates", "votes",
)


def empty_pairs() -> Dataset:
    """A pair dataset with no rows but the usual columns."""
    return Dataset.from_dict({name: [] for name in PAIR_COLUMNS})
