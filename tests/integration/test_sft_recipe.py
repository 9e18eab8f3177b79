"""recipes/sft.py trains the tiny LFM2 a few steps on env conversations (full weights and LoRA)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from envs.registry import make_dataset
from rlkit.config import load_config
from rlkit.sft_data import build_sft_dataset
from rlkit.stages import load_recipe

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def changed_fraction(model_dir: Path, base_dir: Path) -> float:
    trained = AutoModelForCausalLM.from_pretrained(model_dir).state_dict()
    base = AutoModelForCausalLM.from_pretrained(base_dir).state_dict()
    assert trained.keys() == base.keys()
    return sum(not torch.equal(trained[k], base[k]) for k in base) / len(base)


def test_env_episode_masks_cover_every_assistant_tool_call(tiny_model):
    _, tokenizer = tiny_model
    rows = make_dataset("smart_home", "train", 4, seed=0, kind="episode")
    dataset, report = build_sft_dataset(rows, tokenizer, "compact")
    assert report.kept == 4
    for row, example in zip(rows, dataset):
        ids, mask = example["input_ids"], example["assistant_masks"]
        trained = tokenizer.decode([t for t, m in zip(ids, mask) if m], skip_special_tokens=False)
        assistant_turns = [m for m in row["messages"] if m["role"] == "assistant"]
        calls = sum(bool(m.get("tool_calls")) for m in assistant_turns)
        assert trained.count("<|tool_call_start|>") == calls > 0
        assert trained.count("<|tool_call_end|>") == calls
        assert trained.count("<|im_end|>") == len(assistant_turns)
        for forbidden in ("<|im_start|>", "<|tool_response_start|>", "<|tool_list_start|>"):
            assert forbidden not in trained
        user_text = next(m["content"] for m in row["messages"] if m["role"] == "user")
        untrained = tokenizer.decode([t for t, m in zip(ids, mask) if not m], skip_special_tokens=False)
        assert user_text in untrained


@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
def test_sft_recipe_trains_and_saves_a_plain_model(tmp_path, tiny_model_dir, lora):
    recipe = load_recipe("sft")
    config = load_config(
        recipe.SFTRecipeConfig,
        REPO / "recipes" / "configs" / "sft.yaml",
        [
            f"model={tiny_model_dir}", f"output_dir={tmp_path}", "data.num_rows=8", "train.max_steps=3",
            "train.batch_size=2", "train.report_to=none", "train.logging_steps=1", f"lora.enabled={str(lora).lower()}",
        ],
    )
    model_dir = recipe.main(config)
    assert (model_dir / "config.json").is_file() and (tmp_path / "config.yaml").is_file()
    assert not (model_dir / "adapter_config.json").exists()
    fraction = changed_fraction(model_dir, tiny_model_dir)
    if lora:  # merged LoRA moves only the targeted projection weights
        assert 0 < fraction < 1
    else:
        assert fraction > 0.5


def test_packing_an_lfm2_without_the_conv_kernel_is_a_config_error(tmp_path, tiny_model_dir):
    import importlib.util

    from rlkit.config import ConfigError

    if importlib.util.find_spec("causal_conv1d") is not None:
        pytest.skip("causal_conv1d is installed: packing works here")
    recipe = load_recipe("sft")
    config = load_config(recipe.SFTRecipeConfig, None, [f"model={tiny_model_dir}", f"output_dir={tmp_path}", "train.packing=true"])
    with pytest.raises(ConfigError, match="train.packing"):
        recipe.main(config)
