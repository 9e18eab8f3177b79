"""recipes/sft.py trains the tiny LFM2 a few steps on env conversations (full weights and LoRA)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from rlkit.envs.registry import make_dataset
from rlkit.config import load_config
from rlkit.sft.data import build_sft_dataset
from tests.recipes import load_recipe

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


def test_direct_loss_equals_trls_fused_loss_and_gradients(tmp_path, tiny_model_dir):
    """rlkit's CPU loss path computes TRL's loss (and gradients) from plain logits."""
    from trl import SFTConfig, SFTTrainer

    from rlkit.model import load_model_and_tokenizer
    from rlkit.sft.trainer import DirectLossSFTTrainer

    rows = make_dataset("smart_home", "train", 4, seed=1, kind="episode")
    results = []
    for trainer_class in (SFTTrainer, DirectLossSFTTrainer):
        model, tokenizer = load_model_and_tokenizer(str(tiny_model_dir))
        dataset, _ = build_sft_dataset(rows, tokenizer, "compact")
        args = SFTConfig(output_dir=str(tmp_path), per_device_train_batch_size=4, report_to="none",
                         gradient_checkpointing=False, use_cpu=True)
        trainer = trainer_class(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
        batch = trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))
        model.train()
        loss = trainer.compute_loss(model, batch)
        loss.backward()
        results.append((loss.item(), model.lm_head.weight.grad.clone(), trainer._metrics["train"]["mean_token_accuracy"][-1]))
    (fused_loss, fused_grad, fused_acc), (direct_loss, direct_grad, direct_acc) = results
    assert direct_loss == pytest.approx(fused_loss, rel=1e-5)
    assert torch.allclose(direct_grad, fused_grad, atol=1e-6, rtol=1e-4)
    assert direct_acc == pytest.approx(fused_acc)
