"""Optional last filter: a jury (rlkit.jury LLM judges) scores how plausible each surviving row is.

Each row becomes a one-candidate judging task: the conversation, and its expected next call rendered
as the assistant's response. A pointwise LLM judge grades it 1..10 (scaled to 0..1); rows under
`min_score` are dropped as low_jury_score, rows the jury could not score (no quorum) as
jury_no_score, so a dead judge never lets rows through unjudged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from rlkit.jury import Candidate, JudgeCache, JudgeTask, Jury, LLMJudge
from rlkit.synth.conversation import Conversation
from rlkit.synth.reasons import JURY_NO_SCORE, LOW_JURY_SCORE, Drop
from rlkit.synth.teacher import TeacherEndpoint
from rlkit.toolcall import render_calls

PLAUSIBILITY_RUBRIC = (
    "The conversation is synthetic training data for a narrow assistant. A good example reads like a "
    "real user of this assistant (natural wording, turns that fit together) and the response is exactly "
    "the tool call the last user turn asks for: the right function, every argument taken from what the "
    "user said, nothing invented. An implausible user, contradictory turns, or a wrong or invented call "
    "are bad."
)


@dataclass
class JurySettings:
    """The `jury:` section. No judges listed: the teacher endpoints judge their own rows."""

    enabled: bool = False
    judges: list[TeacherEndpoint] = field(default_factory=list)
    min_score: float = 0.5
    quorum: int = 1
    timeout_s: float = 60.0
    max_retries: int = 2
    concurrency: int = 4


def build_jury(settings: JurySettings, teacher_endpoints: list[TeacherEndpoint], cache_dir: Path | None) -> Jury:
    """A mean-aggregating Jury of pointwise LLM judges with the plausibility rubric."""
    endpoints = settings.judges or teacher_endpoints
    cache = JudgeCache(cache_dir) if cache_dir is not None else None
    judges = [
        LLMJudge(
            base_url=endpoint.base_url,
            model=endpoint.model,
            name=f"plausibility-{index}",
            mode="pointwise",
            rubric=PLAUSIBILITY_RUBRIC,
            api_key_env=endpoint.api_key_env,
            timeout_s=settings.timeout_s,
            max_retries=settings.max_retries,
            max_concurrency=settings.concurrency,
            cache=cache,
        )
        for index, endpoint in enumerate(endpoints)
    ]
    return Jury(judges, aggregation="mean", quorum=min(settings.quorum, len(judges)), max_workers=settings.concurrency)


def jury_drops(jury: Jury, rows: list[tuple[int, Conversation]], tools: list[dict], min_score: float) -> dict[int, Drop]:
    """Request id -> Drop for every row the jury scores under `min_score` or cannot score."""
    tools_json = json.dumps(tools)
    tasks = [
        JudgeTask(
            messages=conversation.messages,
            candidates=[Candidate(render_calls([conversation.next_call]))],
            tools=tools_json,
            task_id=f"request #{request_id}",
        )
        for request_id, conversation in rows
    ]
    drops = {}
    for (request_id, _), verdict in zip(rows, jury.rank_many(tasks)):
        score = verdict.scores[0] if verdict.scores else None
        if score is None:
            errors = "; ".join(vote.error or "abstained" for vote in verdict.votes)
            drops[request_id] = Drop(JURY_NO_SCORE, f"{verdict.status}: {errors[:160]}")
        elif score < min_score:
            drops[request_id] = Drop(LOW_JURY_SCORE, f"score {score:.2f} < {min_score}")
    return drops
