"""The Env protocol, a small tool-dispatching base, and the episode/task types every env shares.

An `Episode` is a whole generated conversation: per user turn, the assistant's reference tool-call
steps (with the simulated env's responses) and a closing free-text reply with the facts it must
mention. A `Task` is a prefix of an episode that ends right before one assistant message: either
a next-call task (reference calls) or a reply task (reference reply + facts).
"""

from __future__ import annotations

import functools
import inspect
import json
import random
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, runtime_checkable

from rlkit.toolcall.call import ToolCall


@runtime_checkable
class Env(Protocol):
    """A simulated tool environment: OpenAI-style `tools`, `reset`, `step`, `state`."""

    name: str
    tools: list[dict]

    def reset(self, task: "Task | None" = None) -> list[dict]:
        """Restore the seeded start state (replaying a task's earlier calls); return the prompt messages."""

    def step(self, tool_calls: list[ToolCall]) -> tuple[list[str], bool, dict]:
        """Run calls in order; return one response string per call, whether the dialogue ended, info."""

    def state(self) -> dict:
        """A JSON-able deep copy of the simulated world, for final-state comparison."""


class ToolError(Exception):
    """Raised by a tool handler for a call it cannot carry out; `step` turns it into a tool message."""


def error_response(message: str) -> str:
    """The tool message returned for an invalid call."""
    return json.dumps({"error": message})


def ok_response(**fields: Any) -> str:
    """A compact JSON tool message."""
    return json.dumps(fields)


class ToolEnv:
    """Shared dispatch: subclasses define `name`, `tools`, `initial_state(rng)` and `tool_<name>` handlers.

    Every call is checked against the tool schemas first (unknown tool, unknown or mistyped
    argument); handlers then check meaning (ranges, missing paths) by raising `ToolError`.
    `step` never raises on a bad call: the model's output is untrusted input.
    """

    name = "base"
    tools: list[dict] = []
    system_prompt = ""

    def __init__(self, seed: int = 0):
        self.seed = seed
        self._world: dict = {}
        self.done = False
        self.reset()

    def initial_state(self, rng: random.Random) -> dict:
        """The seeded start world (override)."""
        raise NotImplementedError

    def reset(self, task: "Task | None" = None) -> list[dict]:
        """Restore the seeded world; with a task, use its env seed and replay its earlier reference calls."""
        if task is not None:
            self.seed = task.episode.env_seed
        self._world = self.initial_state(random.Random(self.seed))
        self.done = False
        if task is None:
            return []
        for calls in task.prefix_calls():
            self.step(calls)
        return task.messages()

    def state(self) -> dict:
        """A deep copy of the world."""
        return _clone(self._world)

    def step(self, tool_calls: list[ToolCall]) -> tuple[list[str], bool, dict]:
        """Run the calls in order; invalid ones get an error message and change nothing."""
        responses, errors = [], 0
        for call in tool_calls:
            response, failed = self._run_one(call)
            responses.append(response)
            errors += failed
        return responses, self.done, {"errors": errors, "calls": len(tool_calls)}

    def _run_one(self, call: ToolCall) -> tuple[str, bool]:
        if not isinstance(call, ToolCall) or not isinstance(call.arguments, dict):
            return error_response("a tool call needs a name and a dict of arguments"), True
        handler = getattr(self, f"tool_{call.name}", None)
        if handler is None or call.name not in self.tool_names():
            return error_response(f"unknown tool '{call.name}'; available: {', '.join(self.tool_names())}"), True
        problem = schema_problem(call, self.tools_json())
        if problem:
            return error_response(problem), True
        try:
            _signature(handler.__func__).bind(None, **call.arguments)
        except TypeError as exc:  # missing or unexpected argument the schema check let through
            return error_response(f"invalid call to {call.name}: {exc}"), True
        snapshot = self.snapshot()
        try:
            return handler(**call.arguments), False
        except ToolError as exc:
            self._world = snapshot  # a failed call leaves the world untouched
            return error_response(str(exc)), True

    def view(self) -> dict:
        """The live world, for generators that only read it (cheaper than `state()`)."""
        return self._world

    def snapshot(self) -> dict:
        """A copy to roll back to if a call fails halfway (override with a cheaper structural copy)."""
        return _clone(self._world)

    @classmethod
    def tools_json(cls) -> str:
        """The schemas as one JSON string (the shared validator caches its parse of a string)."""
        if cls.__dict__.get("_tools_json") is None:
            cls._tools_json = json.dumps(cls.tools)
        return cls._tools_json

    def tool_names(self) -> list[str]:
        """Names of the tools, in schema order."""
        return [tool["function"]["name"] for tool in self.tools]


@functools.lru_cache(maxsize=256)
def _signature(function: Callable) -> inspect.Signature:
    return inspect.signature(function)


def _clone(world: dict) -> dict:
    # Worlds are JSON data; a JSON round trip copies them several times faster than deepcopy.
    return json.loads(json.dumps(world))


def schema_problem(call: ToolCall, tools: str | list[dict]) -> str:
    """Why `call` does not fit its schema (via the shared validator), or "" when it does."""
    from rlkit.toolcall import validate_call  # imported late: the toolcall package is a sibling in flux

    verdict = validate_call(call, tools)
    if verdict.ok:
        return ""
    detail = f": {verdict.detail}" if getattr(verdict, "detail", "") else ""
    return f"invalid call to {call.name} ({verdict.reason}{detail})"


@dataclass
class Step:
    """One assistant message: tool calls with the env's responses, or a free-text reply with facts."""

    calls: list[ToolCall] = field(default_factory=list)
    responses: list[str] = field(default_factory=list)
    reply: str = ""
    facts: list[str] = field(default_factory=list)

    @property
    def is_call(self) -> bool:
        """True for a tool-call step."""
        return bool(self.calls)


@dataclass
class Turn:
    """A user message and the assistant steps that answer it (calls first, one reply last)."""

    user: str
    template_id: str
    steps: list[Step]
    off_domain: bool = False


@dataclass
class Episode:
    """A generated multi-turn conversation with reference calls, responses and replies."""

    env: str
    episode_id: str
    split: str
    env_seed: int
    system: str
    tools: list[dict]
    turns: list[Turn]
    final_state: dict = field(default_factory=dict)

    def messages(self) -> list[dict]:
        """The whole conversation in chat-message form."""
        out = [{"role": "system", "content": self.system}]
        for turn in self.turns:
            out.append({"role": "user", "content": turn.user})
            for step in turn.steps:
                out.extend(step_messages(step))
        return out

    def tasks(self) -> list["Task"]:
        """One task per assistant step."""
        return [
            Task(self, t, s) for t, turn in enumerate(self.turns) for s in range(len(turn.steps))
        ]

    def to_example(self) -> dict:
        """A whole-episode row (SFT): the task columns with no next-turn answer."""
        row = self.tasks()[-1].to_example()
        row.update(
            messages=self.messages(), answer="[]", reply="", facts="[]", kind="episode",
            task_id=self.episode_id, template_id=",".join(t.template_id for t in self.turns),
            turn_index=len(self.turns) - 1, off_domain=any(t.off_domain for t in self.turns),
        )
        return row


def step_messages(step: Step) -> list[dict]:
    """Chat messages of one assistant step (the call message plus tool messages, or the reply)."""
    if not step.is_call:
        return [{"role": "assistant", "content": step.reply}]
    out = [{"role": "assistant", "content": "", "tool_calls": [c.to_openai() for c in step.calls]}]
    out.extend({"role": "tool", "content": r} for r in step.responses)
    return out


@dataclass
class Task:
    """An episode prefix ending right before assistant step `step_index` of turn `turn_index`."""

    episode: Episode
    turn_index: int
    step_index: int

    @property
    def step(self) -> Step:
        """The reference assistant step."""
        return self.episode.turns[self.turn_index].steps[self.step_index]

    @property
    def kind(self) -> str:
        """'call' (next assistant message is a tool call) or 'reply' (free text)."""
        return "call" if self.step.is_call else "reply"

    @property
    def task_id(self) -> str:
        """Stable id: episode id plus turn and step."""
        return f"{self.episode.episode_id}.t{self.turn_index}.s{self.step_index}"

    def messages(self) -> list[dict]:
        """The conversation up to (not including) the reference step."""
        ep = self.episode
        out = [{"role": "system", "content": ep.system}]
        for t, turn in enumerate(ep.turns[: self.turn_index + 1]):
            out.append({"role": "user", "content": turn.user})
            steps = turn.steps if t < self.turn_index else turn.steps[: self.step_index]
            for step in steps:
                out.extend(step_messages(step))
        return out

    def prefix_calls(self) -> list[list[ToolCall]]:
        """The reference call steps already in the prefix, in order (to rebuild the env state)."""
        out = []
        for t, turn in enumerate(self.episode.turns[: self.turn_index + 1]):
            steps = turn.steps if t < self.turn_index else turn.steps[: self.step_index]
            out.extend(step.calls for step in steps if step.is_call)
        return out

    def to_example(self) -> dict:
        """The dataset row (see rlkit.data.columns.TASK_FEATURES)."""
        ep, turn, step = self.episode, self.episode.turns[self.turn_index], self.step
        return {
            "messages": self.messages(),
            "tools": json.dumps(ep.tools),
            "answer": json.dumps([{"name": c.name, "arguments": c.arguments} for c in step.calls]),
            "reply": step.reply,
            "facts": json.dumps(step.facts),
            "env": ep.env,
            "env_seed": ep.env_seed,
            "task_id": self.task_id,
            "kind": self.kind,
            "split": ep.split,
            "template_id": turn.template_id,
            "turn_index": self.turn_index,
            "num_turns": len(ep.turns),
            "off_domain": turn.off_domain,
        }

    def to_distil(self) -> dict | None:
        """The distil JSONL row (`question`, `answer`), or None for tasks it cannot hold.

        The distil format expects exactly one next call and keeps the system prompt out of the
        conversation (it lives in job_description.json), so reply tasks and parallel calls return None.
        """
        if len(self.step.calls) != 1:
            return None
        call = self.step.calls[0]
        question = [m for m in self.messages() if m["role"] != "system"]
        return {
            "question": json.dumps(question),
            "answer": json.dumps({"name": call.name, "parameters": call.arguments}),
        }


def call_step(env: ToolEnv, calls: list[ToolCall]) -> Step:
    """Run reference calls in the env and record them with its responses (generators use this)."""
    responses, _, info = env.step(calls)
    if info["errors"]:
        raise RuntimeError(f"{env.name}: reference calls {calls} failed: {responses}")
    return Step(calls=list(calls), responses=responses)


def episode_rng(env_name: str, split: str, seed: int, index: int) -> random.Random:
    """The independent random stream of one generated episode (stable across processes)."""
    return random.Random(f"{env_name}/{split}/{seed}/{index}")
