"""What every judge sees and returns: a judging task (one prompt, N candidates) and a vote.

A judge scores every candidate of a task in [0, 1] (higher is better) or abstains on some (None).
Pairwise LLM judges turn their preferences into per-candidate win rates, so all judges speak the
same language and the `Jury` can aggregate them (see jury.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Candidate:
    """One completion to judge. `loop` is the doom-loop flag (from `rlkit.loops.detect_loop`)."""

    text: str
    finish_reason: str = "stop"
    loop: bool = False


@dataclass(frozen=True)
class JudgeTask:
    """One prompt and its candidates, with the references when known.

    `answer` is the reference calls as a JSON string ("[]" for a free-text reply turn); `facts` are
    what a good free-text reply must mention (the envs' reply tasks carry them).
    """

    messages: tuple[dict[str, Any], ...] | list[dict[str, Any]]
    candidates: tuple[Candidate, ...] | list[Candidate]
    tools: str | None = None
    answer: str | None = None
    facts: tuple[str, ...] | list[str] = ()
    task_id: str = ""


@dataclass
class Vote:
    """One judge's verdict on one task: a score per candidate (None = abstained) or an error."""

    judge: str
    scores: list[float | None] | None
    error: str | None = None
    veto: list[bool] | None = None  # candidates this judge forces to the bottom (doom loops, injections)
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def answered(self) -> bool:
        """True when the judge produced at least one score."""
        return self.error is None and self.scores is not None and any(s is not None for s in self.scores)


class Judge(Protocol):
    """Scores the candidates of a task. Must not raise on bad model output; errors go in the Vote."""

    name: str

    def judge(self, task: JudgeTask) -> Vote:
        """Score every candidate of `task` in [0, 1]."""
        ...
