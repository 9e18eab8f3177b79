"""Run a rollout engine over eval examples under several generation settings and score every output.

The plain API other stages call:

    result = evaluate(engine, examples, settings=default_settings(), max_tokens=128)
    print(result.summary_line())   # "tool-call equivalence: 87.5% (n=40)"

`examples` come from rlkit.eval.sources (env test splits, distil JSONL, BFCL files) or from any
dataset with `messages`, `tools`, `answer` columns (`examples_from_rows`). Episodes given with an
env factory are also played turn by turn on the model's own history (rlkit.eval.episodes).
Model output is only parsed, never executed.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Literal

from rlkit.eval.episodes import play_episodes
from rlkit.eval.metrics import facts_mentioned, setting_metrics
from rlkit.eval.records import EpisodeRecord, ExampleRecord, GenerationSetting, default_settings
from rlkit.eval.scoring import completion_length, loop_report
from rlkit.rollout.base import ChatPrompt, Completion, RolloutEngine
from rlkit.toolcall import PARSE_ERROR, check_calls, expected_from_answer, parse_tool_calls

log = logging.getLogger(__name__)


@dataclass
class EvalExample:
    """One prompt to continue: a call task (reference `answer`) or a reply task (reference facts)."""

    example_id: str
    messages: list[dict[str, Any]]
    tools: str
    answer: str | None = None
    kind: Literal["call", "reply"] = "call"
    reply: str = ""
    facts: list[str] = field(default_factory=list)
    turn_index: int | None = None
    episode_id: str | None = None
    source: str = ""


@dataclass
class EvalResult:
    """Every record, episode and metric of one eval run; `settings[0]` gives the headline number."""

    settings: list[GenerationSetting]
    records: list[ExampleRecord]
    episodes: list[EpisodeRecord]
    metrics: dict[str, dict]
    meta: dict[str, Any] = field(default_factory=dict)

    def headline(self) -> tuple[float | None, int]:
        """(tool-call equivalence, number of call examples) under the first setting."""
        calls = self.metrics[self.settings[0].name]["calls"]
        return calls["equivalence"], calls["n"]

    def summary_line(self) -> str:
        """`tool-call equivalence: X.X% (n=N)` (the line the eval recipe prints last)."""
        value, n = self.headline()
        shown = "n/a" if value is None else f"{100 * value:.1f}%"
        return f"tool-call equivalence: {shown} (n={n})"

    def to_dict(self) -> dict[str, Any]:
        """Everything as JSON-able data (the JSON report)."""
        return {
            "meta": self.meta,
            "settings": [vars(s) for s in self.settings],
            "metrics": self.metrics,
            "records": [r.to_dict() for r in self.records],
            "episodes": [e.to_dict() for e in self.episodes],
        }


def examples_from_rows(rows: Iterable[dict[str, Any]], source: str = "") -> list[EvalExample]:
    """EvalExamples from dataset rows with `messages`, `tools`, `answer` (env rows may add `kind`, `facts`...)."""
    examples = []
    for index, row in enumerate(rows):
        for column in ("messages", "tools"):
            if column not in row:
                raise ValueError(f"{source or 'dataset'} row {index}: missing column {column!r}")
        kind = row.get("kind") or "call"
        if kind not in ("call", "reply"):
            raise ValueError(f"{source or 'dataset'} row {index}: kind must be 'call' or 'reply', got {kind!r}")
        if kind == "call" and not row.get("answer"):
            raise ValueError(f"{source or 'dataset'} row {index}: call task without an 'answer' (reference calls)")
        facts = row.get("facts") or []
        examples.append(
            EvalExample(
                example_id=str(row.get("task_id") or row.get("id") or f"{source or 'row'}:{index}"),
                messages=list(row["messages"]),
                tools=row["tools"] if isinstance(row["tools"], str) else json.dumps(row["tools"]),
                answer=row.get("answer"),
                kind=kind,
                reply=row.get("reply") or "",
                facts=json.loads(facts) if isinstance(facts, str) else list(facts),
                turn_index=row.get("turn_index"),
                episode_id=row.get("episode_id"),
                source=row.get("env") or source,
            )
        )
    return examples


def score_completion(example: EvalExample, completion: Completion, setting: str) -> ExampleRecord:
    """Parse one completion and score it against the example's reference (calls, facts, loops)."""
    parsed = parse_tool_calls(completion.text)
    looped, loop = loop_report(completion, parsed.calls)
    record = ExampleRecord(
        example_id=example.example_id,
        setting=setting,
        kind=example.kind,
        completion=completion.text,
        finish_reason=completion.finish_reason,
        length=completion_length(completion),
        calls=[{"name": c.name, "arguments": c.arguments} for c in parsed.calls],
        parse_error=parsed.error,
        looped=looped,
        loop=loop,
        turn_index=example.turn_index,
        episode_id=example.episode_id,
        source=example.source,
    )
    if example.kind == "reply":
        record.facts = list(example.facts)
        record.facts_mentioned = facts_mentioned(parsed.text, example.facts)
        return record
    expected = expected_from_answer(example.answer)
    record.expected = json.loads(example.answer) if isinstance(example.answer, str) else example.answer
    record.expected_tools = [call.name for call in expected]
    if parsed.error:
        record.ok, record.reason, record.detail = False, PARSE_ERROR, parsed.error
    else:
        verdict = check_calls(parsed.calls, expected, example.tools)
        record.ok, record.reason, record.detail = verdict.ok, verdict.reason, verdict.detail
    return record


def evaluate(
    engine: RolloutEngine,
    examples: list[EvalExample],
    settings: list[GenerationSetting] | None = None,
    *,
    max_tokens: int = 128,
    seed: int = 0,
    episodes: list[Any] | None = None,
    env_factory: Callable[[Any], Any] | None = None,
    max_steps_per_turn: int = 4,
    meta: dict[str, Any] | None = None,
) -> EvalResult:
    """Generate for every example under every setting, score, and aggregate (see module doc)."""
    settings = list(settings) if settings else default_settings()
    if len({s.name for s in settings}) != len(settings):
        raise ValueError(f"generation setting names must be unique: {[s.name for s in settings]}")
    if episodes and env_factory is None:
        raise ValueError("episodes were given without an env_factory to play them in")
    prompts = [ChatPrompt(example.messages, example.tools) for example in examples]
    records: list[ExampleRecord] = []
    played: list[EpisodeRecord] = []
    metrics: dict[str, dict] = {}
    for setting in settings:
        start = time.perf_counter()
        params = setting.sampling_params(max_tokens, seed=seed)
        outputs = engine.generate(prompts, params) if prompts else []
        if len(outputs) != len(prompts):
            raise RuntimeError(f"engine returned {len(outputs)} results for {len(prompts)} prompts")
        batch = [score_completion(ex, group[0], setting.name) for ex, group in zip(examples, outputs)]
        setting_episodes = (
            play_episodes(engine, episodes, env_factory, setting.name, params, max_steps_per_turn)
            if episodes
            else []
        )
        records.extend(batch)
        played.extend(setting_episodes)
        metrics[setting.name] = setting_metrics(batch, setting_episodes)
        log.info("eval %s: %d examples, %d episodes in %.1fs", setting.name, len(batch), len(setting_episodes),
                 time.perf_counter() - start)
    meta = {**(meta or {}), "examples": len(examples), "episodes": len(episodes or [])}
    return EvalResult(settings=settings, records=records, episodes=played, metrics=metrics, meta=meta)
