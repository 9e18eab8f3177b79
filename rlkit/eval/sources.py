"""What to evaluate on: an env's test split, a distil JSONL file, a BFCL question file, or BFCL v4.

`load_eval_data(data, ...)` decides from `data` itself: `bfcl:<category>` / `bfcl:all` / a group
(BFCL v4 from the installed bfcl-eval package, see rlkit.data.bfcl), an env name (`smart_home`,
`banking`, `shell`), or a file whose first row shows its format — distil rows have a `question`
string and an `answer`; BFCL rows have `id`, `question` and `function`. Loading is done by the
project's loaders (rlkit.envs, rlkit.data); this module only turns their rows into EvalExamples
and, for BFCL multi-turn rows, into episodes the harness plays on the model's own history.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from rlkit.eval.harness import EvalExample, examples_from_rows

log = logging.getLogger(__name__)
BFCL_PREFIX = "bfcl:"
BFCL_SYSTEM_PROMPT = (
    "You are an assistant that completes the user's requests with the functions provided. Call one or more "
    "functions when a request needs them, using the results to decide the next call; when the request is done, "
    "or cannot be done with these functions, answer in words."
)


@dataclass
class EvalData:
    """Examples to score, plus env episodes to play on own history (env sources only)."""

    examples: list[EvalExample]
    source: str
    kind: str  # "env", "distil" or "bfcl"
    episodes: list[Any] = field(default_factory=list)
    env_factory: Callable[[Any], Any] | None = None
    skipped: dict[str, list[str]] = field(default_factory=dict)  # why -> row ids left out (logged too)


def env_names() -> list[str]:
    """Names of the registered envs."""
    from rlkit.envs.registry import ENVS

    return sorted(ENVS)


def load_eval_data(
    data: str,
    tools: str | None = None,
    answers: str | None = None,
    *,
    split: str = "test",
    episodes: int = 16,
    limit: int = 0,
    seed: int = 0,
) -> EvalData:
    """Examples from an env name, a distil JSONL (+ tools file) or a BFCL question file (+ answers)."""
    if not data:
        raise ValueError("config key 'data' is empty: give an env name, a distil JSONL or a BFCL question file")
    if data.startswith(BFCL_PREFIX):
        return load_bfcl_v4(data[len(BFCL_PREFIX):], limit=limit)
    path = Path(data)
    if not path.exists():
        names = env_names()
        if data in names:
            return load_env_split(data, split=split, n_episodes=episodes, seed=seed, limit=limit)
        raise FileNotFoundError(f"data {data!r} is neither a file nor an env name (envs: {', '.join(names)})")
    first = _first_row(path)
    if isinstance(first.get("question"), str) and "answer" in first:
        if not tools:
            raise ValueError(f"{path} is a distil JSONL file: pass its tool schemas with --tools (config key 'tools')")
        return load_distil(path, Path(tools), limit=limit)
    if "function" in first and isinstance(first.get("question"), list):
        return load_bfcl_file(path, Path(answers) if answers else None, limit=limit)
    raise ValueError(
        f"{path}: first row has keys {sorted(first)}; expected a distil row (question, answer) "
        "or a BFCL question row (id, question, function)"
    )


def _first_row(path: Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    row = json.loads(line)
                except ValueError as error:
                    raise ValueError(f"{path}:{line_number}: not a JSON Lines row: {error}") from None
                if not isinstance(row, dict):
                    raise ValueError(f"{path}:{line_number}: a row must be a JSON object")
                return row
    raise ValueError(f"{path} has no rows")


def _take(rows: Any, limit: int) -> Any:
    return rows.select(range(min(limit, len(rows)))) if limit and limit > 0 else rows


def load_distil(path: Path, tools: Path, limit: int = 0) -> EvalData:
    """A distil JSONL file (`question`, `answer`) with tools from a job_description-style file."""
    from rlkit.data.distil import load_distil_jsonl

    rows = _take(load_distil_jsonl(path, tools), limit)
    return EvalData(examples_from_rows(rows, source=path.name), source=str(path), kind="distil")


def load_bfcl_file(path: Path, answers: Path | None = None, limit: int = 0) -> EvalData:
    """A BFCL v3 question file; answers from `answers` or `possible_answer/<same name>` beside it."""
    from rlkit.data.bfcl import load_bfcl

    rows = _take(load_bfcl(path, answers), limit)
    if len(rows) and rows[0]["answer"] is None:
        raise FileNotFoundError(
            f"no answers for {path}: none at {path.parent / 'possible_answer' / path.name}; pass --answers FILE"
        )
    return EvalData(examples_from_rows(rows, source=path.stem), source=str(path), kind="bfcl")


def load_env_split(env: str, split: str = "test", n_episodes: int = 16, seed: int = 0, limit: int = 0) -> EvalData:
    """`n_episodes` generated episodes of an env split: every step as an example, and the episodes to play."""
    from rlkit.envs.registry import generate_episodes

    generated = generate_episodes(env, split, n_episodes, seed)
    if limit and limit > 0:
        generated = generated[:limit]
    examples = []
    for episode in generated:
        rows = [dict(task.to_example(), episode_id=episode.episode_id) for task in episode.tasks()]
        examples += examples_from_rows(rows, source=env)
    return EvalData(examples, source=f"{env}/{split}", kind="env", episodes=list(generated), env_factory=make_env)


def make_env(episode: Any) -> Any:
    """A fresh env for an episode, in the episode's seeded start state."""
    from rlkit.envs.registry import make_env as make_registered_env

    env = make_registered_env(episode.env, seed=episode.env_seed)
    env.reset()
    return env


def load_bfcl_v4(spec: str, limit: int = 0) -> EvalData:
    """BFCL v4 categories (`all`, a group, or `a,b`): single-turn rows as examples, multi-turn rows as episodes.

    `limit` keeps the first N rows of every category. Irrelevance rows are call tasks whose answer
    is "no call"; live_relevance rows have no reference call, so they are reply tasks here and the
    BFCL summary (rlkit.eval.report.bfcl_summary) scores them as BFCL does: right when a call is made.
    """
    from rlkit.data.bfcl import ANY_CALL_CATEGORIES, MULTI_TURN_CATEGORIES, load_bfcl_category, resolve_categories

    examples: list[EvalExample] = []
    episodes: list[Any] = []
    skipped: dict[str, list[str]] = {}
    for category in resolve_categories(spec):
        if category in MULTI_TURN_CATEGORIES:
            episodes += bfcl_episodes(category, limit, skipped)
            continue
        rows = load_bfcl_category(category, limit)
        kind = "reply" if category in ANY_CALL_CATEGORIES else "call"
        examples += examples_from_rows([dict(row, kind=kind) for row in rows], source=category)
    return EvalData(examples, source=BFCL_PREFIX + spec, kind="bfcl", episodes=episodes,
                    env_factory=make_bfcl_env if episodes else None, skipped=skipped)


def bfcl_episodes(category: str, limit: int = 0, skipped: dict[str, list[str]] | None = None) -> list[Any]:
    """The first `limit` rows of a BFCL multi-turn category as Episodes (ground truth replayed for responses).

    A turn must be exactly one user message (the episode player sends one per turn); rows with
    another turn shape are skipped, counted in `skipped` and logged.
    """
    from rlkit.data.bfcl import PLAYABLE_MULTI_TURN
    from rlkit.envs.base import Episode, Step, Turn
    from rlkit.envs.bfcl_multi_turn import BfclMultiTurnEnv, load_multi_turn_rows, reference_turns

    if category not in PLAYABLE_MULTI_TURN:
        raise ValueError(f"BFCL {category} reveals functions in the middle of an episode, which the episode player "
                         f"cannot do; playable multi-turn categories: {', '.join(PLAYABLE_MULTI_TURN)}")
    rows = load_multi_turn_rows(category)
    rows = rows[:limit] if limit and limit > 0 else rows
    out, left_out = [], []
    for row in rows:
        if any(len(turn) != 1 or turn[0].get("role") != "user" for turn in row["question"]):
            left_out.append(row["id"])
            continue
        env = BfclMultiTurnEnv(row)
        turns = []
        for messages, calls in zip(row["question"], reference_turns(row)):
            # BFCL has no reference reply: the closing empty reply only marks where the turn ends.
            steps = ([Step(calls=calls, responses=env.step(calls)[0])] if calls else []) + [Step(reply="")]
            turns.append(Turn(user=messages[0]["content"], template_id=category, steps=steps))
        out.append(Episode(env=env.name, episode_id=row["id"], split=category, env_seed=0, system=BFCL_SYSTEM_PROMPT,
                           tools=env.tools, turns=turns, final_state=env.state()))
    if left_out:
        why = f"{category}: a turn is not exactly one user message"
        log.warning("skipped %d of %d rows (%s), e.g. %s", len(left_out), len(rows), why, left_out[0])
        if skipped is not None:
            skipped[why] = left_out
    return out


def make_bfcl_env(episode: Any) -> Any:
    """A fresh env for a BFCL multi-turn episode: its row's initial config loaded into the simulated APIs."""
    from rlkit.envs.bfcl_multi_turn import BfclMultiTurnEnv, multi_turn_row

    return BfclMultiTurnEnv(multi_turn_row(episode.episode_id))
