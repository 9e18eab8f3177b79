"""BFCL multi-turn as a GRPO env: one TRL environment class per set of involved API classes.

Each GRPO row is one turn of a BFCL multi-turn row, with the earlier turns' ground-truth calls and
results in the prompt; the env replays that history, runs the policy's calls on the simulated
APIs (rlkit.envs.bfcl_multi_turn) and rewards the turn with BFCL's own per-turn check.
TRL adds an env's `get_reward` with weight 1, so the class applies its `reward_weight` itself.
"""

from __future__ import annotations

import functools
import json
import logging
from typing import Callable

from rlkit.envs.bfcl_multi_turn import (
    ERROR_PREFIX,
    BfclMultiTurnEnv,
    check_multi_turn,
    function_docs,
    load_multi_turn_rows,
    multi_turn_row,
    reference_turns,
)
from rlkit.envs.trl_adapter import tool_method
from rlkit.toolcall.call import ToolCall

log = logging.getLogger(__name__)


def turn_reward(row: dict, turn_index: int, calls: list[ToolCall]) -> float:
    """Final-state replay reward of one turn on the ground-truth history: 1.0 when BFCL's turn check passes."""
    reference = reference_turns(row)
    history = [list(turn) for turn in reference[:turn_index]]
    truncated = dict(row, ground_truth=row["ground_truth"][: turn_index + 1])
    return float(check_multi_turn(truncated, history + [list(calls)]).ok)


# BFCL docs use Python type names; TRL builds tool schemas from JSON-Schema-typed hints.
_JSON_SCHEMA_TYPES = {"dict": "object", "float": "number", "tuple": "array", "any": "string"}


class BfclTRLEnv:
    """TRL `environment_factory` env: `reset(**row)` loads row `bfcl_id` at turn `turn_index` (ground-truth history)."""

    involved: tuple[str, ...] = ()

    def __init__(self, reward_weight: float = 1.0) -> None:
        self.reward_weight = reward_weight
        self._row: dict = {}
        self._turn = 0
        self._env: BfclMultiTurnEnv | None = None
        self._calls: list[ToolCall] = []

    def reset(self, **row) -> None:
        """Load the row's initial config and replay its earlier turns; nothing is appended to the prompt."""
        self._row, self._turn, self._calls = multi_turn_row(row["bfcl_id"]), int(row["turn_index"]), []
        if tuple(self._row["involved_classes"]) != self.involved:
            raise ValueError(
                f"{row['bfcl_id']} involves {self._row['involved_classes']}, not {list(self.involved)}")
        self._env = BfclMultiTurnEnv(self._row)
        self._env.reset(task=self._turn)
        return None

    def _call(self, name: str, arguments: dict) -> str:
        # TRL passes every optional parameter; None means "not given".
        call = ToolCall(name, {key: value for key, value in arguments.items() if value is not None})
        self._calls.append(call)
        if self._env is None:
            return ERROR_PREFIX + "reset was not called"
        return self._env.step([call])[0][0]

    def get_reward(self) -> float:
        """`reward_weight` when BFCL's check of this turn passes on the ground-truth history (`turn_reward`), else 0."""
        return self.reward_weight * turn_reward(self._row, self._turn, self._calls) if self._row else 0.0


def environment_name(involved_classes: list[str]) -> str:
    """The `environment` column value (and factory key) of rows involving these classes, in row order."""
    return "bfcl:" + "+".join(involved_classes)


def trl_environment_class(involved_classes: list[str]) -> type[BfclTRLEnv]:
    """A TRL environment class whose public methods are the involved classes' declared functions."""
    methods = {}
    for doc in function_docs({"involved_classes": involved_classes}):
        parameters = doc.get("parameters") or {}
        properties = {name: dict(prop, type=_JSON_SCHEMA_TYPES.get(prop.get("type"), prop.get("type")))
                      for name, prop in (parameters.get("properties") or {}).items()}
        schema = {"function": {"name": doc["name"], "description": doc.get("description", ""),
                               "parameters": {"properties": properties, "required": parameters.get("required", [])}}}
        methods[doc["name"]] = tool_method(schema)
    name = "Bfcl" + "".join(involved_classes) + "ForTRL"
    return type(name, (BfclTRLEnv,), {"involved": tuple(involved_classes), **methods})


def grpo_dataset(category: str, limit: int = 0, system: str = ""):
    """One GRPO row per (row, turn) of the first `limit` rows: `prompt`, `environment`, `bfcl_id`, `turn_index`, `tools`.

    The prompt holds the earlier turns with their ground-truth calls and results. Turns that are
    not one user message (miss_func's reveal turns) are skipped, counted and logged.
    """
    from datasets import Dataset, Features, List, Value

    from rlkit.data.columns import MESSAGE_FEATURE

    rows = load_multi_turn_rows(category)
    out, skipped = [], []
    for row in rows[:limit] if limit and limit > 0 else rows:
        env = BfclMultiTurnEnv(row)
        # The declared functions as tool schemas: what the policy's tool list shows (rlkit.chat).
        tools = json.dumps([{"type": "function", "function": doc} for doc in function_docs(row)])
        for turn_index, turn in enumerate(row["question"]):
            if len(turn) != 1 or turn[0].get("role") != "user":
                skipped.append(f"{row['id']} turn {turn_index}")
                continue
            prompt = ([{"role": "system", "content": system}] if system else []) + env.reset(task=turn_index)
            # Arrow needs the same message keys everywhere (rlkit.data.columns.task_dataset does the same).
            prompt = [{"role": m["role"], "content": m.get("content") or "", "tool_calls": m.get("tool_calls") or []}
                      for m in prompt]
            out.append({"prompt": prompt, "environment": environment_name(row["involved_classes"]),
                        "bfcl_id": row["id"], "turn_index": turn_index, "tools": tools})
    if skipped:
        log.warning("%s: skipped %d turns that are not one user message, e.g. %s", category, len(skipped), skipped[0])
    features = Features({"prompt": List(MESSAGE_FEATURE), "environment": Value("string"), "bfcl_id": Value("string"),
                         "turn_index": Value("int64"), "tools": Value("string")})
    return Dataset.from_list(out, features=features)


def environment_factories(dataset, reward_weight: float = 1.0) -> dict[str, Callable[[], BfclTRLEnv]]:
    """GRPOTrainer's `environment_factory` dict for a `grpo_dataset`: one env class per `environment` value."""
    out: dict[str, Callable[[], BfclTRLEnv]] = {}
    for name, row_id in zip(dataset["environment"], dataset["bfcl_id"]):
        if name not in out:
            env_class = trl_environment_class(multi_turn_row(row_id)["involved_classes"])
            out[name] = functools.partial(env_class, reward_weight=reward_weight)
    return out
