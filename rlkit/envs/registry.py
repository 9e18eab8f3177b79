"""The env registry and seeded data entry points: episodes, tasks, `datasets.Dataset`s, tokenizer corpus."""

from __future__ import annotations

import json
import random
from typing import Callable

from rlkit.envs import banking_tasks, shell_tasks, smart_home_tasks
from rlkit.envs.banking import BankingEnv
from rlkit.envs.base import Episode, Task, ToolEnv, episode_rng
from rlkit.envs.shell import ShellEnv
from rlkit.envs.smart_home import SmartHomeEnv


SPLITS = ("train", "test")
KINDS = ("next_call", "reply", "episode", "all")


ENVS: dict[str, type[ToolEnv]] = {"smart_home": SmartHomeEnv, "banking": BankingEnv, "shell": ShellEnv}

EPISODE_GENERATORS: dict[str, Callable[[random.Random, str, str, int], Episode]] = {
    "smart_home": smart_home_tasks.generate_episode,
    "banking": banking_tasks.generate_episode,
    "shell": shell_tasks.generate_episode,
}


def _check_name(env_name: str) -> None:
    if env_name not in ENVS:
        raise KeyError(f"unknown env {env_name!r}; known: {', '.join(ENVS)}")


def make_env(env_name: str, seed: int = 0) -> ToolEnv:
    """A fresh env instance."""
    _check_name(env_name)
    return ENVS[env_name](seed=seed)


def generate_episodes(env_name: str, split: str, n: int, seed: int, start: int = 0) -> list[Episode]:
    """Episodes `start .. start+n-1` of the seeded stream for (env, split, seed)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    _check_name(env_name)
    generate, out = EPISODE_GENERATORS[env_name], []
    for index in range(start, start + n):
        rng = episode_rng(env_name, split, seed, index)
        env_seed = rng.randrange(2**31)
        out.append(generate(rng, split, f"{env_name}-{split}-{seed}-{index}", env_seed))
    return out


def _wanted(task: Task, kind: str) -> bool:
    return kind == "all" or (kind == "next_call") == (task.kind == "call")


def generate_tasks(env_name: str, split: str, n: int, seed: int, kind: str = "all") -> list[Task]:
    """The first `n` tasks of the given kind ('next_call', 'reply' or 'all') from the seeded episode stream."""
    if kind not in ("next_call", "reply", "all"):
        raise ValueError(f"task kind must be next_call, reply or all, got {kind!r}")
    tasks: list[Task] = []
    index = 0
    while len(tasks) < n:
        for episode in generate_episodes(env_name, split, 64, seed, start=index):
            tasks.extend(t for t in episode.tasks() if _wanted(t, kind))
        index += 64
    return tasks[:n]


def make_dataset(env_name: str, split: str, n: int, seed: int, kind: str = "next_call"):
    """A `datasets.Dataset` of `n` rows: next-call tasks, reply tasks, whole episodes, or all tasks."""
    from rlkit.data.columns import TASK_FEATURES, task_dataset

    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if kind == "episode":
        rows = [e.to_example() for e in generate_episodes(env_name, split, n, seed)]
    else:
        rows = [t.to_example() for t in generate_tasks(env_name, split, n, seed, kind)]
    return task_dataset(rows, TASK_FEATURES)


def sample_corpus(n_per_env: int, seed: int) -> list[str]:
    """Plain-text lines (prompts, utterances, replies, tool names, arguments, responses) for tokenizer training.

    Uses `n_per_env` train episodes of each env, plus every tool schema once.
    """
    lines: list[str] = []
    for name, env_class in ENVS.items():
        lines.append(env_class.system_prompt)
        lines.extend(json.dumps(tool) for tool in env_class.tools)
        for episode in generate_episodes(name, "train", n_per_env, seed):
            for turn in episode.turns:
                lines.append(turn.user)
                for step in turn.steps:
                    if step.reply:
                        lines.append(step.reply)
                    for call in step.calls:
                        lines.append(call.name)
                        lines.append(json.dumps(call.arguments))
                        lines.extend(str(v) for v in call.arguments.values())
                    lines.extend(step.responses)
    return lines
