"""LoRA defaults reach every LFM2 projection (attention, short conv, MLP); merging gives a plain model."""

from __future__ import annotations

import torch
from transformers import AutoModelForCausalLM, Lfm2Config, Lfm2ForCausalLM

from rlkit.train.lora import LoraSettings, peft_config, save_merged
from rlkit.model import build_tokenizer


def lora_target_names(model) -> list[str]:
    """Names of the modules a PEFT-wrapped model put LoRA adapters on."""
    return sorted(name for name, module in model.named_modules() if hasattr(module, "lora_A") and module.lora_A)


def small_lfm2() -> Lfm2ForCausalLM:
    torch.manual_seed(0)
    config = Lfm2Config(
        vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, layer_types=["conv", "full_attention"], block_auto_adjust_ff_dim=False,
    )
    return Lfm2ForCausalLM(config)


def test_default_targets_cover_attention_conv_and_mlp_projections():
    from peft import get_peft_model

    base = small_lfm2()
    model = get_peft_model(base, peft_config(LoraSettings(enabled=True, r=4, alpha=8), base))
    targets = {name[name.index("layers."):] for name in lora_target_names(model)}
    assert targets == {
        "layers.0.conv.in_proj", "layers.0.conv.out_proj",
        "layers.0.feed_forward.w1", "layers.0.feed_forward.w2", "layers.0.feed_forward.w3",
        "layers.1.self_attn.q_proj", "layers.1.self_attn.k_proj", "layers.1.self_attn.v_proj",
        "layers.1.self_attn.out_proj",
        "layers.1.feed_forward.w1", "layers.1.feed_forward.w2", "layers.1.feed_forward.w3",
    }


def test_lora_off_means_no_peft_config():
    assert peft_config(LoraSettings(enabled=False)) is None


def test_merge_writes_a_plain_model_with_the_adapted_outputs(tmp_path):
    from peft import get_peft_model

    base = small_lfm2()
    model = get_peft_model(base, peft_config(LoraSettings(enabled=True, r=4, alpha=8), base))
    with torch.no_grad():  # LoRA's B starts at zero; give the adapters a visible effect
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)
    tokenizer = build_tokenizer(["hello world"] * 4, vocab_size=300)
    inputs = torch.tensor([[1, 5, 9, 12]])
    expected = model(inputs).logits
    out = save_merged(model, tokenizer, tmp_path / "merged")
    merged = AutoModelForCausalLM.from_pretrained(out)
    assert not any("lora" in name for name, _ in merged.named_parameters())
    assert not (out / "adapter_config.json").exists()
    torch.testing.assert_close(merged(inputs).logits, expected, atol=1e-4, rtol=1e-4)
    assert not torch.allclose(small_lfm2()(inputs).logits, expected, atol=1e-3)
