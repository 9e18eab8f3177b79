"""What to evaluate on: an env's test split, a distil JSONL file, or a BFCL v3 question file.

`load_eval_data(data, ...)` decides from `data` itself: an env name (`smart_home`, `banking`,
`shell`), or a file whose first row shows its format — distil rows have a `question` string and an
`answer`; BFCL rows have `id`, `question` and `function`. Loading is done by the project's loaders
(rlkit.envs.registry, rlkit.data); this module only turns their rows into EvalExamples.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from rlkit.eval.harness import EvalExample, examples_from_rows


@dataclass
class EvalData:
    """Examples to score, plus env episodes to play on own history (env sources only)."""

    examples: list[EvalExample]
    source: str
    kind: str  # "env", "distil" or "bfcl"
    episodes: list[Any] = field(default_factory=list)
    env_factory: Callable[[Any], Any] | None = None


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
