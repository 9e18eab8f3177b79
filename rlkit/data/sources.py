"""Where a recipe's rows come from: an env generator, a distil JSONL file, or a BFCL question file.

One config section (`data:`) and one loader shared by the SFT and GRPO recipes, so both read the
same three sources the same way. Every source yields the shared columns `messages`, `tools` (JSON
string) and `answer` (JSON string); env rows add `reply`, `env`, `task_id`, `kind`, ...
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from datasets import Dataset

log = logging.getLogger(__name__)

SourceKind = Literal["env", "distil", "bfcl"]


@dataclass
class TaskSource:
    """The `data:` section: which rows to load (env fields, or a file path for distil/BFCL)."""

    source: SourceKind = "env"
    env: str = "smart_home"  # several, comma-separated ("smart_home,banking"): num_rows shared, rows alternate
    split: str = "train"
    kind: str = "episode"  # env rows: "episode" (whole conversations), "next_call", or "all"
    num_rows: int = 2000  # env rows to generate; file sources use at most this many (0 = all)
    seed: int = 0
    path: str = ""  # distil JSONL or BFCL question file
    tools_path: str = ""  # distil: the job description / tool list JSON
    answer_path: str = ""  # BFCL: possible-answer file (default: possible_answer/<same name>)


def load_task_rows(source: TaskSource) -> Dataset:
    """The rows `source` describes, as a Dataset with at least `messages`, `tools`, `answer`."""
    if source.source == "env":
        from datasets import concatenate_datasets

        from rlkit.envs.registry import make_dataset

        envs = [name.strip() for name in source.env.split(",") if name.strip()]
        if not envs:
            raise ValueError("data.env is empty: name an env (or several, comma-separated)")
        shares = [source.num_rows // len(envs) + (i < source.num_rows % len(envs)) for i in range(len(envs))]
        parts = [make_dataset(env, source.split, n, source.seed, kind=source.kind) for env, n in zip(envs, shares)]
        # Alternating rows, so a run cut short (max_steps) has still seen every domain.
        if len(parts) == 1:
            return parts[0]
        starts = [sum(shares[:i]) for i in range(len(shares))]
        order = [start + i for i in range(max(shares)) for start, n in zip(starts, shares) if i < n]
        return concatenate_datasets(parts).select(order)
    if not source.path:
        raise ValueError(f"data.path is required when data.source is {source.source!r}")
    if source.source == "distil":
        from rlkit.data.distil import load_distil_jsonl

        if not source.tools_path:
            raise ValueError("data.tools_path is required when data.source is 'distil'")
        rows = load_distil_jsonl(source.path, source.tools_path)
    elif source.source == "bfcl":
        from rlkit.data.bfcl import load_bfcl

        rows = load_bfcl(source.path, source.answer_path or None)
    else:
        raise ValueError(f"data.source must be one of env, distil, bfcl; got {source.source!r}")
    if source.num_rows and len(rows) > source.num_rows:
        log.info("using the first %d of %d rows of %s", source.num_rows, len(rows), source.path)
        rows = rows.select(range(source.num_rows))
    return rows
