"""Expose each env to TRL's `GRPOTrainer(environment_factory=...)` for multi-turn tool rollouts.

TRL 1.16's contract (trainer/grpo_trainer.py): the factory is called with no argument and returns an
object whose public methods are the tools. TRL builds each tool's schema from the method's
signature and Google-style docstring (`transformers.utils.get_json_schema`; enums come from
"(choices: [...])"), calls `method(**arguments)` for each parsed call and appends `str(result)` as
the tool message. `reset(**row)` gets every dataset column of the example before generation and may
return text to append to the last user message; `get_reward()`, when defined, scores the finished
rollout and is added to the rewards with weight 1, so the adapter applies the env reward's weight
itself (`environment_factory(env, reward_weight)`).

Usage::

    trainer = GRPOTrainer(model, reward_funcs=[...], train_dataset=grpo_dataset("smart_home", "train", 64, 0),
                          environment_factory=environment_factory("smart_home"), ...)
"""

from __future__ import annotations

import functools
import inspect
import json
from typing import Callable

from rlkit.envs.base import ToolEnv
from rlkit.envs.registry import ENVS, generate_tasks, make_env
from rlkit.envs.verify import prefix_calls, replay_reward
from rlkit.toolcall import ToolCall

JSON_TYPES = {"string": str, "integer": int, "number": float, "boolean": bool, "array": list, "object": dict}

class TRLEnvAdapter:
    """Base of the generated adapters: holds one env, the current row, and the calls made so far."""

    env_name = ""

    def __init__(self, reward_weight: float = 1.0) -> None:
        self.reward_weight = reward_weight
        self._env: ToolEnv = make_env(self.env_name)
        self._row: dict = {}
        self._calls: list[ToolCall] = []

    def reset(self, **row) -> None:
        """Reseed the env from the row and replay the conversation's earlier calls; nothing is appended."""
        self._row = row
        self._calls = []
        self._env = make_env(self.env_name, int(row.get("env_seed", 0)))
        for calls in prefix_calls(row.get("prompt") or row.get("messages") or []):
            self._env.step(calls)
        return None

    def _call(self, name: str, arguments: dict) -> str:
        call = ToolCall(name, {k: v for k, v in arguments.items() if v is not None})
        self._calls.append(call)
        responses, _, _ = self._env.step([call])
        return responses[0]

    def get_reward(self) -> float:
        """`reward_weight` when the rollout leaves the reference final state (rlkit.envs.verify.replay_reward)."""
        if not self._row:
            return 0.0
        row = dict(self._row, messages=self._row.get("prompt") or self._row.get("messages") or [])
        steps = json.loads(row.get("reference_steps") or "[]") or [json.loads(row["answer"])]
        reference = [[ToolCall(c["name"], c["arguments"]) for c in step] for step in steps]
        return self.reward_weight * replay_reward(row, self._calls, self._env.state(), reference)


def tool_method(schema: dict):
    """A method with the tool's name, keyword parameters, type hints and docstring, forwarding to the env."""
    fn = schema["function"]
    properties = fn["parameters"].get("properties", {})
    required = set(fn["parameters"].get("required", []))
    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    annotations: dict = {}
    doc_args = []
    for name, prop in properties.items():
        hint = JSON_TYPES.get(prop.get("type"), str)
        if name not in required:
            hint = hint | None
        annotations[name] = hint
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=hint,
                                        default=inspect.Parameter.empty if name in required else None))
        choices = f" (choices: {json.dumps(prop['enum'])})" if "enum" in prop else ""
        doc_args.append(f"    {name}: {prop.get('description', name)}{choices}")
    annotations["return"] = str

    def method(self, **arguments):
        return self._call(fn["name"], arguments)

    method.__name__ = method.__qualname__ = fn["name"]
    method.__signature__ = inspect.Signature(params, return_annotation=str)
    method.__annotations__ = annotations
    method.__doc__ = fn["description"] + ("\n\nArgs:\n" + "\n".join(doc_args) if doc_args else "") + \
        "\n\nReturns:\n    The tool's JSON result, or an error message.\n"
    return method


def adapter_class(env_name: str) -> type[TRLEnvAdapter]:
    """A TRL environment class for one registered env: one method per tool."""
    env_class = ENVS[env_name]
    methods = {tool["function"]["name"]: tool_method(tool) for tool in env_class.tools}
    return type(f"{env_class.__name__}ForTRL", (TRLEnvAdapter,), {"env_name": env_name, **methods})


SmartHomeForTRL = adapter_class("smart_home")
BankingForTRL = adapter_class("banking")
ShellForTRL = adapter_class("shell")
ADAPTERS = {"smart_home": SmartHomeForTRL, "banking": BankingForTRL, "shell": ShellForTRL}


def environment_factory(env_name: str, reward_weight: float = 1.0) -> Callable[[], TRLEnvAdapter]:
    """The `environment_factory` for GRPOTrainer: each call makes a fresh adapter with that reward weight."""
    return functools.partial(ADAPTERS[env_name], reward_weight=reward_weight)


def grpo_dataset(env_name: str, split: str, n: int, seed: int):
    """Next-call tasks as GRPO rows: `prompt` (messages), the task columns, and `reference_steps`.

    `reference_steps` (JSON list of call lists) holds the reference calls from this step to the
    end of the user turn, so a rollout that does the whole turn is compared with the whole turn.
    """
    from datasets import Dataset, Features, Value

    from rlkit.data.columns import TASK_FEATURES

    features = Features({("prompt" if k == "messages" else k): v for k, v in TASK_FEATURES.items()})
    features["reference_steps"] = Value("string")
    rows = []
    for task in generate_tasks(env_name, split, n, seed, kind="next_call"):
        turn = task.episode.turns[task.turn_index]
        steps = [[{"name": c.name, "arguments": c.arguments} for c in s.calls] for s in turn.steps[task.step_index:] if s.is_call]
        row = task.to_example()
        row["prompt"] = row.pop("messages")
        row["reference_steps"] = json.dumps(steps)
        rows.append(row)
    return Dataset.from_list(rows, features=features)
