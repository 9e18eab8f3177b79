"""TRL adapter: the schemas TRL derives from the adapter methods match the env's, and calls reach the env."""

import inspect
import json

import pytest
from transformers.utils import get_json_schema

from rlkit.envs.registry import ENVS
from rlkit.envs.trl_adapter import ADAPTERS, grpo_dataset


def trl_tools(adapter):
    """The tool methods exactly as GRPOTrainer collects them from an environment instance."""
    return [getattr(adapter, name) for name, _ in inspect.getmembers(type(adapter), predicate=inspect.isfunction)
            if name not in ("reset", "get_reward") and not name.startswith("_")]


@pytest.mark.parametrize("env_name", list(ENVS))
def test_schemas_trl_derives_match_the_env(env_name):
    derived = {s["function"]["name"]: s["function"] for s in map(get_json_schema, trl_tools(ADAPTERS[env_name]()))}
    for tool in ENVS[env_name].tools:
        fn = tool["function"]
        got = derived.pop(fn["name"])
        assert got["description"] == fn["description"]
        assert set(got["parameters"]["properties"]) == set(fn["parameters"]["properties"])
        assert sorted(got["parameters"].get("required", [])) == sorted(fn["parameters"]["required"])
        for name, prop in fn["parameters"]["properties"].items():
            assert got["parameters"]["properties"][name].get("enum") == prop.get("enum")
            assert got["parameters"]["properties"][name]["type"] == prop["type"]
    assert derived == {}


@pytest.mark.parametrize("env_name", list(ENVS))
def test_reset_then_reference_calls_earn_full_reward(env_name):
    rows = grpo_dataset(env_name, "train", 12, seed=0)
    adapter = ADAPTERS[env_name]()
    for row in rows:
        adapter.reset(**row)
        assert adapter.get_reward() < 1.0 or not json.loads(row["reference_steps"])  # nothing done yet
        adapter.reset(**row)
        for step in json.loads(row["reference_steps"]):
            for call in step:
                response = getattr(adapter, call["name"])(**call["arguments"])  # how TRL invokes a tool
                assert "error" not in json.loads(response)
        assert adapter.get_reward() == 1.0


def test_bad_model_call_is_an_error_message_not_an_exception():
    adapter = ADAPTERS["smart_home"]()
    adapter.reset(**grpo_dataset("smart_home", "train", 1, seed=0)[0])
    assert "out of range" in adapter.set_thermostat(temperature=120)
    assert "invalid call" in adapter.toggle_lights(room="kitchen", colour="red")
