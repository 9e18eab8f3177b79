"""Verifiers for env tasks: the reference check of the next call, and the final-state replay check.

Both take a task row (the dict `Task.to_example()` produces, or a dataset row) so reward functions
can call them with the dataset columns they receive.
"""

from __future__ import annotations

import json

from rlkit.toolcall import ToolCall, Verdict, check_calls, expected_from_answer


def reference_check(example: dict, predicted: list[ToolCall]) -> Verdict:
    """BFCL-style equivalence of the predicted calls with the row's reference `answer`."""
    return check_calls(predicted, expected_from_answer(example["answer"]), example["tools"])


def prefix_calls(messages: list[dict]) -> list[list[ToolCall]]:
    """The tool-call steps already in a conversation, in order."""
    steps = []
    for message in messages:
        if message.get("role") == "assistant" and message.get("tool_calls"):
            steps.append([ToolCall(c["function"]["name"], dict(c["function"]["arguments"])) for c in message["tool_calls"]])
    return steps


def replayed_env(example: dict):
    """A fresh env seeded as the row's, with the row's conversation so far replayed into it."""
    from rlkit.envs.registry import make_env

    env = make_env(example["env"], example["env_seed"])
    for calls in prefix_calls(example["messages"]):
        env.step(calls)
    return env


def replay_reward(example: dict, made: list[ToolCall], final_state: dict,
                  reference: list[list[ToolCall]] | None = None) -> float:
    """Score a rollout from its final state and the calls it made (used by the TRL adapter).

    0.0 unless `final_state` equals the state the reference calls produce. A reference call that
    changes nothing (a lookup, or switching off a light that is already off) cannot show up in the
    state, so the score is then the share of such calls that the rollout also made (BFCL check).
    """
    if reference is None:
        reference = [[ToolCall(c["name"], c["arguments"]) for c in json.loads(example["answer"])]]
    env = replayed_env(example)
    invisible = []
    for step in reference:
        for call in step:
            before = env.state()
            env.step([call])
            if env.state() == before:
                invisible.append(call)
    if env.state() != final_state:
        return 0.0
    if not invisible:
        return 1.0
    tools = env.tools_json()
    found = sum(any(_same_call(done, wanted, tools) for done in made) for wanted in invisible)
    return found / len(invisible)


def _same_call(done: ToolCall, wanted: ToolCall, tools_json: str) -> bool:
    answer = json.dumps([{"name": wanted.name, "arguments": wanted.arguments}])
    return check_calls([done], expected_from_answer(answer), tools_json).ok
