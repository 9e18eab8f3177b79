"""Smart-home env: every tool's state transition, invalid calls as tool errors, determinism."""

import json

import pytest

from rlkit.envs.smart_home import DOORS, ROOMS, SCENE_EFFECTS, SmartHomeEnv
from rlkit.toolcall import ToolCall


def run(env, name, **arguments):
    responses, done, info = env.step([ToolCall(name, arguments)])
    assert not done
    return json.loads(responses[0]), info


def test_tool_surface_is_exact():
    tools = {t["function"]["name"]: t["function"]["parameters"] for t in SmartHomeEnv.tools}
    assert set(tools) == {"toggle_lights", "set_thermostat", "lock_door", "get_device_status", "set_scene", "intent_unclear"}
    assert all(p["required"] == [] for p in tools.values())
    assert tools["toggle_lights"]["properties"]["room"]["enum"] == list(ROOMS)
    assert tools["toggle_lights"]["properties"]["state"]["enum"] == ["on", "off"]
    assert tools["set_thermostat"]["properties"]["temperature"]["type"] == "integer"
    assert tools["set_thermostat"]["properties"]["mode"]["enum"] == ["heat", "cool", "auto"]
    assert tools["lock_door"]["properties"]["door"]["enum"] == ["front", "back", "garage", "side"]
    assert tools["lock_door"]["properties"]["state"]["enum"] == ["lock", "unlock"]
    assert tools["get_device_status"]["properties"]["device_type"]["enum"] == ["lights", "thermostat", "door", "all"]
    assert tools["get_device_status"]["properties"]["room"]["type"] == "string"
    assert tools["set_scene"]["properties"]["scene"]["enum"] == ["movie_night", "bedtime", "morning", "away", "party"]
    assert tools["intent_unclear"]["properties"]["reason"]["enum"] == ["ambiguous", "off_topic", "incomplete", "unsupported_device"]


def test_toggle_lights_changes_only_that_room():
    env = SmartHomeEnv(seed=1)
    before = env.state()
    data, info = run(env, "toggle_lights", room="kitchen", state="on")
    assert data == {"room": "kitchen", "lights": "on"} and info["errors"] == 0
    after = env.state()
    assert after["lights"]["kitchen"] == "on"
    assert {r: s for r, s in after["lights"].items() if r != "kitchen"} == {r: s for r, s in before["lights"].items() if r != "kitchen"}
    run(env, "toggle_lights", room="kitchen", state="off")
    assert env.state()["lights"]["kitchen"] == "off"


def test_set_thermostat_temperature_and_mode():
    env = SmartHomeEnv(seed=2)
    data, _ = run(env, "set_thermostat", temperature=72, mode="cool")
    assert data == {"temperature": 72, "mode": "cool"}
    run(env, "set_thermostat", temperature=65)
    assert env.state()["thermostat"] == {"temperature": 65, "mode": "cool"}
    run(env, "set_thermostat", mode="heat")
    assert env.state()["thermostat"] == {"temperature": 65, "mode": "heat"}


def test_lock_door_and_status():
    env = SmartHomeEnv(seed=3)
    run(env, "lock_door", door="back", state="unlock")
    assert env.state()["doors"]["back"] == "unlocked"
    data, _ = run(env, "lock_door", door="back", state="lock")
    assert data == {"door": "back", "status": "locked"}
    status, _ = run(env, "get_device_status", device_type="door")
    assert status["doors"]["back"] == "locked" and set(status["doors"]) == set(DOORS)
    lights, _ = run(env, "get_device_status", device_type="lights", room="office")
    assert lights == {"lights": {"office": env.state()["lights"]["office"]}}
    everything, _ = run(env, "get_device_status", device_type="all")
    assert set(everything) == {"lights", "thermostat", "doors"}


def test_scene_applies_its_effects():
    env = SmartHomeEnv(seed=4)
    run(env, "set_scene", scene="bedtime")
    state = env.state()
    assert set(state["lights"].values()) == {"off"}
    assert set(state["doors"].values()) == {"locked"}
    assert state["thermostat"]["temperature"] == SCENE_EFFECTS["bedtime"]["temperature"]
    assert state["scene"] == "bedtime"


def test_intent_unclear_records_reason_without_acting():
    env = SmartHomeEnv(seed=5)
    before = env.state()
    data, _ = run(env, "intent_unclear", reason="unsupported_device")
    assert data["reason"] == "unsupported_device"
    after = env.state()
    assert after["unclear_requests"] == ["unsupported_device"]
    assert {k: v for k, v in after.items() if k != "unclear_requests"} == {k: v for k, v in before.items() if k != "unclear_requests"}


@pytest.mark.parametrize(
    "name, arguments, needle",
    [
        ("open_garage", {}, "unknown tool"),
        ("set_thermostat", {"temperature": 95}, "out of range"),
        ("set_thermostat", {"temperature": 59}, "out of range"),
        ("set_thermostat", {"temperature": "72"}, "invalid call"),
        ("set_thermostat", {"temperature": 72.5}, "invalid call"),
        ("toggle_lights", {"room": "garage", "state": "on"}, "invalid call"),
        ("toggle_lights", {"room": "kitchen", "brightness": 5}, "invalid call"),
        ("toggle_lights", {"state": "on"}, "needs a room"),
        ("lock_door", {"door": 3}, "invalid call"),
        ("set_scene", {}, "needs a scene"),
        ("get_device_status", {"device_type": "lights", "room": "attic"}, "unknown room"),
    ],
)
def test_invalid_calls_return_error_and_change_nothing(name, arguments, needle):
    env = SmartHomeEnv(seed=6)
    before = env.state()
    responses, done, info = env.step([ToolCall(name, arguments)])
    assert needle in json.loads(responses[0])["error"]
    assert info["errors"] == 1 and not done
    assert env.state() == before


def test_error_in_a_batch_does_not_stop_other_calls():
    env = SmartHomeEnv(seed=7)
    responses, _, info = env.step([ToolCall("set_thermostat", {"temperature": 100}), ToolCall("toggle_lights", {"room": "hallway", "state": "on"})])
    assert "error" in json.loads(responses[0]) and json.loads(responses[1]) == {"room": "hallway", "lights": "on"}
    assert info == {"errors": 1, "calls": 2}


def test_same_seed_same_world_and_reset_restores_it():
    assert SmartHomeEnv(seed=11).state() == SmartHomeEnv(seed=11).state()
    assert any(SmartHomeEnv(seed=s).state() != SmartHomeEnv(seed=11).state() for s in range(12, 20))
    env = SmartHomeEnv(seed=11)
    start = env.state()
    run(env, "set_scene", scene="party")
    assert env.state() != start
    env.reset()
    assert env.state() == start
