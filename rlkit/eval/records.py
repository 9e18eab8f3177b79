"""What the eval harness keeps per generated completion and per multi-turn episode.

Records are plain dataclasses of JSON-able values, so a run's JSON report holds every one of them
and the metrics (rlkit.eval.metrics) are pure functions over lists of records.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from rlkit.rollout.base import Decoding

TaskKind = Literal["call", "reply"]


@dataclass
class GenerationSetting(Decoding):
    """A named set of sampling parameters the harness evaluates under (`max_tokens` comes from the run)."""

    name: str


# The two settings the project reports loops at: the LFM2 model cards' tool-use settings, and
# plain temperature-1 sampling (where undertrained models loop most).
LFM2_RECOMMENDED = GenerationSetting("lfm2_recommended", temperature=0.1, top_k=50, repetition_penalty=1.05)
TEMPERATURE_1 = GenerationSetting("temperature_1.0", temperature=1.0)
GREEDY = GenerationSetting("greedy", temperature=0.0)


def default_settings() -> list[GenerationSetting]:
    """LFM2 recommended settings first (the headline number), then temperature 1.0."""
    return [LFM2_RECOMMENDED, TEMPERATURE_1]


@dataclass
class ExampleRecord:
    """One completion for one eval example under one setting, with how it was scored.

    `ok` is the tool-call verdict for call tasks and None for reply tasks; `reason`/`detail` are the
    checker's words (or the parser's error). Reply tasks are scored by loop and facts mentioned.
    """

    example_id: str
    setting: str
    kind: TaskKind
    completion: str
    finish_reason: str
    length: int
    calls: list[dict[str, Any]] = field(default_factory=list)
    parse_error: str | None = None
    expected: Any = None
    expected_tools: list[str] = field(default_factory=list)
    ok: bool | None = None
    reason: str = ""
    detail: str = ""
    looped: bool = False
    loop: dict[str, Any] = field(default_factory=dict)
    facts: list[str] = field(default_factory=list)
    facts_mentioned: list[str] = field(default_factory=list)
    turn_index: int | None = None
    episode_id: str | None = None
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The record as a JSON-able dict."""
        return asdict(self)


@dataclass
class TurnRecord:
    """One user turn of an episode played on the model's own history."""

    turn_index: int
    ok: bool
    reason: str
    calls: list[dict[str, Any]] = field(default_factory=list)
    expected: list[dict[str, Any]] = field(default_factory=list)
    reply: str = ""
    looped: bool = False  # reply text cycled to the token limit, or the turn repeated one call
    facts: list[str] = field(default_factory=list)
    facts_mentioned: list[str] = field(default_factory=list)
    steps: int = 0


@dataclass
class EpisodeRecord:
    """A whole multi-turn episode played against a live env on the model's own history."""

    episode_id: str
    setting: str
    env: str
    num_turns: int
    turns: list[TurnRecord] = field(default_factory=list)
    final_state_match: bool = False

    @property
    def success(self) -> bool:
        """Every turn's calls were equivalent to the reference's (turns are scored on own history)."""
        return len(self.turns) == self.num_turns and all(turn.ok for turn in self.turns)

    def to_dict(self) -> dict[str, Any]:
        """The record as a JSON-able dict (with `success`)."""
        return {**asdict(self), "success": self.success}
