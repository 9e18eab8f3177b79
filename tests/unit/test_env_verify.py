"""Verifiers: reference check via the shared checker, final-state replay, rollout reward."""

import json

from rlkit.envs.base import Episode, Step, Turn
from rlkit.envs.registry import generate_tasks
from rlkit.envs.smart_home import SmartHomeEnv
from rlkit.envs.verify import reference_check, replay_reward, replayed_env
from rlkit.toolcall import ToolCall


def smart_home_row(user: str, calls: list[ToolCall], seed: int = 0) -> dict:
    """A one-turn smart-home task row whose reference is `calls`."""
    env = SmartHomeEnv(seed=seed)
    responses, _, _ = env.step(calls)
    episode = Episode("smart_home", "ep", "train", seed, SmartHomeEnv.system_prompt, SmartHomeEnv.tools,
                      [Turn(user, "smart_home.x.0", [Step(calls, responses), Step(reply="ok", facts=["ok"])])])
    return episode.tasks()[0].to_example()


TWO_ROOMS = [ToolCall("toggle_lights", {"room": "kitchen", "state": "on"}), ToolCall("toggle_lights", {"room": "office", "state": "on"})]


def test_reference_check_accepts_reordered_parallel_calls_and_rejects_wrong_values():
    row = smart_home_row("kitchen and office lights on", TWO_ROOMS)
    assert reference_check(row, list(reversed(TWO_ROOMS))).ok
    wrong = [TWO_ROOMS[0], ToolCall("toggle_lights", {"room": "bedroom", "state": "on"})]
    verdict = reference_check(row, wrong)
    assert not verdict.ok and verdict.reason == "value_not_acceptable"
    assert reference_check(row, TWO_ROOMS[:1]).reason == "wrong_count"


def final_state_check(example: dict, predicted: list, reference: list | None = None) -> bool:
    """True when the predicted calls (one step, or a list of steps) leave the world as the reference does."""
    steps = predicted if predicted and isinstance(predicted[0], list) else [predicted]
    if reference is None:
        reference = [[ToolCall(c["name"], c["arguments"]) for c in json.loads(example["answer"])]]
    return state_after(example, steps) == state_after(example, reference)


def state_after(example: dict, steps: list[list[ToolCall]]) -> dict:
    env = replayed_env(example)
    for calls in steps:
        env.step(calls)
    return env.state()


def test_final_state_accepts_equivalent_sequences():
    row = smart_home_row("kitchen and office lights on", TWO_ROOMS, seed=4)
    # the same effect split over two steps, in the other order
    assert final_state_check(row, [[TWO_ROOMS[1]], [TWO_ROOMS[0]]])
    # the same effect with the state left implicit (toggle flips a light that is off)
    start = SmartHomeEnv(seed=4).state()["lights"]
    implicit = [ToolCall("toggle_lights", {"room": r}) if start[r] == "off" else ToolCall("toggle_lights", {"room": r, "state": "on"})
                for r in ("kitchen", "office")]
    assert final_state_check(row, implicit)
    assert not final_state_check(row, TWO_ROOMS[:1] + [ToolCall("toggle_lights", {"room": "office", "state": "off"})])


def test_final_state_for_shell_paths_spelled_differently():
    task = next(t for t in generate_tasks("shell", "train", 400, seed=0, kind="next_call") if t.step.calls[0].name == "move")
    row = task.to_example()
    call = task.step.calls[0]
    file_name = call.arguments["source"].rsplit("/", 1)[1]
    explicit = ToolCall("move", {"source": call.arguments["source"], "destination": call.arguments["destination"] + "/" + file_name})
    assert final_state_check(row, [explicit])
    assert not final_state_check(row, [ToolCall("remove", {"path": call.arguments["source"]})])


def test_replay_reward_needs_the_calls_the_state_cannot_show():
    env = SmartHomeEnv(seed=0)
    room = next(r for r, s in env.state()["lights"].items() if s == "off")
    already_off = [ToolCall("toggle_lights", {"room": room, "state": "off"})]
    row = smart_home_row(f"{room} lights off", already_off)
    untouched = SmartHomeEnv(seed=0).state()
    assert replay_reward(row, [], untouched) == 0.0  # doing nothing leaves the same state, but is not the task
    assert replay_reward(row, already_off, untouched) == 1.0
    status = [ToolCall("get_device_status", {"device_type": "thermostat"}), ToolCall("get_device_status", {"device_type": "door"})]
    lookup = smart_home_row("thermostat and doors?", status)
    assert replay_reward(lookup, status[:1], untouched) == 0.5
    changed = smart_home_row("kitchen and office lights on", TWO_ROOMS)
    env = SmartHomeEnv(seed=0)
    env.step(TWO_ROOMS)
    assert replay_reward(changed, TWO_ROOMS, env.state()) == 1.0
    assert replay_reward(changed, [], untouched) == 0.0
    assert json.loads(changed["answer"])[0]["name"] == "toggle_lights"
