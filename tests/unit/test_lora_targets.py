"""LoRA targets follow the architecture; a target list that matches nothing is an error; tool-token rows train."""

from __future__ import annotations

import pytest
import torch
from transformers import (
    AutoModelForCausalLM,
    GemmaConfig,
    GPT2Config,
    Lfm2Config,
    LlamaConfig,
    MistralConfig,
    Qwen2Config,
    Qwen3Config,
)

from rlkit.chat_format import ensure_chat_format, tool_format_token_ids
from rlkit.train.lora import (
    LFM2_TARGET_MODULES,
    LLAMA_STYLE_TARGET_MODULES,
    LoraSettings,
    format_token_rows,
    peft_config,
    resolve_target_modules,
    save_merged,
)
from tests.chatml import chatml_tokenizer, small_llama
from tests.unit.test_lora_lfm2 import lora_target_names

SHAPE = dict(vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
             num_key_value_heads=1)
LLAMA_STYLE = [LlamaConfig, Qwen2Config, Qwen3Config, GemmaConfig, MistralConfig]


def build(config_class, **extra):
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(config_class(**SHAPE, **extra))


@pytest.mark.parametrize("config_class", LLAMA_STYLE, ids=lambda c: c.model_type)
def test_llama_style_models_get_attention_and_mlp_projections(config_class):
    from peft import get_peft_model

    model = build(config_class)
    assert resolve_target_modules("auto", model) == LLAMA_STYLE_TARGET_MODULES
    adapted = get_peft_model(model, peft_config(LoraSettings(enabled=True, r=2, alpha=4), model))
    leaves = {name.rsplit(".", 1)[-1] for name in lora_target_names(adapted)}
    assert leaves == set(LLAMA_STYLE_TARGET_MODULES)
    assert len(lora_target_names(adapted)) == 7  # one layer: every projection once


def test_lfm2_keeps_its_own_projection_names():
    model = AutoModelForCausalLM.from_config(Lfm2Config(
        **{**SHAPE, "num_hidden_layers": 2}, layer_types=["conv", "full_attention"], block_auto_adjust_ff_dim=False))
    assert resolve_target_modules("auto", model) == LFM2_TARGET_MODULES
    # Defaults skip names an architecture variant lacks (a conv-only LFM2 has no attention)...
    conv_only = AutoModelForCausalLM.from_config(Lfm2Config(**SHAPE, layer_types=["conv"], block_auto_adjust_ff_dim=False))
    assert resolve_target_modules("auto", conv_only) == ["out_proj", "in_proj", "w1", "w2", "w3"]
    # ...but a list the user wrote must match in full.
    with pytest.raises(ValueError, match=r"\['q_proj'\] match no module of this 'lfm2' model"):
        resolve_target_modules(["q_proj", "in_proj"], conv_only)


def test_auto_targets_of_an_unknown_architecture_are_an_error_naming_it():
    model = build(GPT2Config, n_embd=32, n_layer=1, n_head=2)
    with pytest.raises(ValueError, match=r"no default targets for model type 'gpt2'.*c_attn"):
        resolve_target_modules("auto", model)


def test_a_target_list_that_matches_nothing_names_the_model_type():
    model = build(LlamaConfig)
    with pytest.raises(ValueError, match=r"\['w1', 'w2'\] match no module of this 'llama' model.*gate_proj"):
        resolve_target_modules(["q_proj", "w1", "w2"], model)
    with pytest.raises(ValueError, match="match no module"):
        peft_config(LoraSettings(enabled=True, target_modules=LFM2_TARGET_MODULES), model)
    assert resolve_target_modules(["q_proj", "v_proj"], model) == ["q_proj", "v_proj"]


def test_format_token_rows_cover_the_lm_head_when_it_is_not_tied():
    tokenizer = chatml_tokenizer()
    tied, tokenizer = ensure_chat_format(small_llama(len(tokenizer)), tokenizer, "auto", "t")
    ids = tool_format_token_ids(tokenizer)
    assert format_token_rows(tied, tokenizer) == ids
    untied = small_llama(len(tokenizer), tied=False)
    assert format_token_rows(untied, tokenizer) == {"model.embed_tokens": ids, "lm_head": ids}
    assert format_token_rows(untied, chatml_tokenizer()) is None  # no markers in that vocabulary


@pytest.mark.parametrize("tied", [True, False], ids=["tied", "untied"])
def test_lora_trains_the_grafted_token_rows_and_merging_keeps_them(tied, tmp_path):
    from peft import get_peft_model

    tokenizer = chatml_tokenizer()
    model, tokenizer = ensure_chat_format(small_llama(len(tokenizer), tied=tied), tokenizer, "auto", "t")
    if not tied:
        model.get_output_embeddings().weight.data[:] = model.get_input_embeddings().weight.data  # same start rows
    ids = tool_format_token_ids(tokenizer)
    before_in = model.get_input_embeddings().weight.detach().clone()
    before_out = model.get_output_embeddings().weight.detach().clone()
    adapted = get_peft_model(model, peft_config(LoraSettings(enabled=True, r=2, alpha=4), model, tokenizer))
    optimizer = torch.optim.AdamW([p for p in adapted.parameters() if p.requires_grad], lr=1e-2)
    batch = torch.tensor([[1, *ids, 2, *ids[:2], 2]])
    for _ in range(3):
        adapted(input_ids=batch, labels=batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    assert all(p.abs().sum() > 0 for n, p in adapted.named_parameters() if "lora_B" in n)
    with torch.no_grad():
        expected = adapted(input_ids=batch).logits

    merged = AutoModelForCausalLM.from_pretrained(save_merged(adapted, tokenizer, tmp_path / "merged"))
    rows_in, rows_out = merged.get_input_embeddings().weight, merged.get_output_embeddings().weight
    assert (rows_in[ids] - before_in[ids]).abs().amin(dim=1).gt(0).all()  # every marker row moved...
    assert (rows_out[ids] - before_out[ids]).abs().amax(dim=1).gt(0).all()  # ...on the LM head too
    others = [i for i in range(len(tokenizer)) if i not in ids]
    torch.testing.assert_close(rows_in[others], before_in[others], rtol=0, atol=0)  # and only those
    with torch.no_grad():
        torch.testing.assert_close(merged(input_ids=batch).logits, expected, atol=1e-5, rtol=1e-5)


def test_format_tokens_can_be_left_frozen():
    tokenizer = chatml_tokenizer()
    model, tokenizer = ensure_chat_format(small_llama(len(tokenizer)), tokenizer, "auto", "t")
    config = peft_config(LoraSettings(enabled=True, train_format_tokens=False), model, tokenizer)
    assert config.trainable_token_indices is None
