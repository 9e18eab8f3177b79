"""BFCL multi-turn as a GRPO env: per-turn rows, one TRL env class per class set, final-state replay reward."""

from __future__ import annotations

import inspect

import pytest

pytest.importorskip("bfcl_eval", reason="BFCL v4 comes from the bfcl-eval package (scripts/install.sh installs it)")

from rlkit.envs.bfcl_grpo import environment_factories, grpo_dataset  # noqa: E402
from rlkit.envs.bfcl_multi_turn import function_docs, multi_turn_row, reference_turns  # noqa: E402


@pytest.fixture(scope="module")
def dataset():
    return grpo_dataset("multi_turn_base", limit=4, system="sys")


def tool_methods(instance):
    # The members TRL exposes as tools (grpo_trainer: public functions of the class, not reset/get_reward).
    return {name: getattr(instance, name) for name, _ in inspect.getmembers(type(instance), inspect.isfunction)
            if not name.startswith("_") and name not in ("reset", "get_reward")}


def test_one_row_per_turn_with_the_ground_truth_history(dataset):
    turns = [len(multi_turn_row(f"multi_turn_base_{i}")["question"]) for i in range(4)]
    assert len(dataset) == sum(turns)
    row = dataset[2]
    assert row["bfcl_id"] == "multi_turn_base_0" and row["turn_index"] == 2
    assert row["prompt"][0] == {"role": "system", "content": "sys", "tool_calls": []}
    assert row["prompt"][-1]["role"] == "user"
    assert sum(1 for m in row["prompt"] if m["role"] == "assistant") == 2
    assert row["environment"] == "bfcl:TwitterAPI+GorillaFileSystem"


def test_trl_env_exposes_the_declared_functions_and_rewards_a_correct_turn(dataset):
    from transformers.utils import get_json_schema

    factories = environment_factories(dataset)
    row = dataset[1]
    env = factories[row["environment"]]()
    methods = tool_methods(env)
    assert set(methods) == {doc["name"] for doc in function_docs(multi_turn_row(row["bfcl_id"]))}
    for method in methods.values():  # TRL builds each tool's schema this way; it must not fail
        assert get_json_schema(method)["function"]["name"] == method.__name__
    reference = reference_turns(multi_turn_row(row["bfcl_id"]))[row["turn_index"]]
    env.reset(**row)
    for call in reference:
        assert not methods[call.name](**call.arguments).startswith("Error")
    assert env.get_reward() == 1.0
    env.reset(**row)
    assert env.get_reward() == 0.0  # no call made
    env.reset(**row)
    methods[reference[0].name](**reference[0].arguments)
    methods[reference[0].name](**reference[0].arguments)  # the same call twice changes the state
    assert env.get_reward() == 0.0


def test_a_row_of_other_classes_is_refused(dataset):
    factories = environment_factories(dataset)
    other = next(r for r in dataset if r["environment"] != dataset[0]["environment"]) if len(factories) > 1 else None
    if other is None:
        pytest.skip("the first rows share one class set")
    env = factories[dataset[0]["environment"]]()
    with pytest.raises(ValueError, match="involves"):
        env.reset(**other)
