"""A real GRPOTrainer step on the tiny model with all three envs as `environment_factory` (multi-env)."""

import json

import pytest

pytestmark = pytest.mark.integration


def test_grpo_step_runs_against_every_env(tiny_model_dir, tmp_path, monkeypatch):
    import torch
    from datasets import concatenate_datasets
    from trl import GRPOConfig, GRPOTrainer

    from rlkit.envs.registry import ENVS
    from rlkit.envs.trl_adapter import ADAPTERS, environment_factory, grpo_dataset
    from rlkit.model import load_model_and_tokenizer

    monkeypatch.setenv("TRL_EXPERIMENTAL_SILENCE", "1")
    torch.manual_seed(0)
    model, tokenizer = load_model_and_tokenizer(str(tiny_model_dir))
    dataset = concatenate_datasets([grpo_dataset(name, "train", 1, seed=0).add_column("environment", [name]) for name in ADAPTERS])
    args = GRPOConfig(output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=6, num_generations=2,
                      max_completion_length=8, report_to=[], use_cpu=True, logging_steps=1, save_strategy="no",
                      max_tool_calling_iterations=2, shuffle_dataset=False)
    trainer = GRPOTrainer(model=model, processing_class=tokenizer, args=args, train_dataset=dataset,
                          environment_factory={name: environment_factory(name) for name in ADAPTERS})
    trainer.train()

    logged = trainer.state.log_history[0]
    for adapter in ADAPTERS.values():  # each env's get_reward became a reward source
        assert 0.0 <= logged[f"rewards/{adapter.__name__}/mean"] <= 1.0
    # every rollout got its own env instance, reset with its own example
    assert [e._row["task_id"] for e in trainer.environments] == [t for t in dataset["task_id"] for _ in range(2)]
    for name in ADAPTERS:  # TRL exposed exactly the env's tools for each env
        assert sorted(t.__name__ for t in trainer._env_tools[name]) == sorted(t["function"]["name"] for t in ENVS[name].tools)
    # the tool dicts TRL dispatches model calls through reach the env of that rollout
    index = next(i for i, e in enumerate(trainer.environments) if type(e) is ADAPTERS["smart_home"])
    response = trainer._sync_tool_dicts[index]["toggle_lights"](room="kitchen", state="on")
    assert json.loads(response) == {"room": "kitchen", "lights": "on"}
    assert trainer.environments[index]._env.state()["lights"]["kitchen"] == "on"
