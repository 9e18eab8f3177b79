"""The chat-format probe finds what a template drops; `auto` grafts the LFM2 format, `native` refuses; masks cover calls."""

from __future__ import annotations

import pytest
import torch

from rlkit.chat import chat_template
from rlkit.chat_format import (
    ChatFormatError,
    ensure_chat_format,
    probe_chat_format,
    probe_conversation,
    require_served_chat_format,
    tool_format_token_ids,
    training_template,
)
from rlkit.model import build_tokenizer
from tests.chatml import SMOLLM2_TEMPLATE, chatml_tokenizer, small_llama

CORPUS = ["system user assistant tool probe lookup key value result reply"] * 20


def lfm2_tokenizer():
    return build_tokenizer(CORPUS, vocab_size=400)


def with_template(template: str):
    tokenizer = lfm2_tokenizer()
    tokenizer.chat_template = template
    return tokenizer


def broken_training_template(old: str, new: str) -> str:
    template = chat_template(training=True)
    assert old in template
    return template.replace(old, new)


def test_probe_passes_on_the_lfm2_template():
    assert probe_chat_format(lfm2_tokenizer()) == []


def test_probe_names_what_smollm2s_template_drops():
    assert probe_chat_format(chatml_tokenizer()) == ["drops the assistant's tool calls"]


def test_probe_finds_a_template_that_drops_tool_responses():
    skips_tool_turns = SMOLLM2_TEMPLATE.replace("{% for message in messages %}",
                                                "{% for message in messages if message['role'] != 'tool' %}")
    problems = probe_chat_format(with_template(skips_tool_turns))
    assert "drops tool responses" in problems


def test_probe_finds_a_training_mask_that_leaves_the_tool_call_out():
    template = broken_training_template('{{- render_tool_calls(message["tool_calls"]) -}}',
                                        '{% endgeneration %}{{- render_tool_calls(message["tool_calls"]) -}}{% generation %}')
    assert training_template(with_template(template)) == template  # its own markers are used as they are
    assert "its training template's assistant mask misses the tool call" in probe_chat_format(with_template(template))


def test_probe_finds_a_training_mask_that_covers_user_and_tool_turns():
    template = broken_training_template('{%- else -%}\n\t\t{{- content + "<|im_end|>\\n" -}}',
                                        '{%- else -%}\n\t\t{% generation %}{{- content + "<|im_end|>\\n" -}}{% endgeneration %}')
    problems = probe_chat_format(with_template(template))
    assert "its training template's assistant mask covers the user turn" in problems
    assert "its training template's assistant mask covers the tool response" in problems
    assert "its training template's assistant mask covers the system turn" not in problems


def test_probe_finds_a_training_mask_without_the_end_of_turn_token():
    template = broken_training_template('{% generation %}{{- content + "<|im_end|>\\n" -}}{% endgeneration %}',
                                        '{% generation %}{{- content -}}{% endgeneration %}{{- "<|im_end|>\\n" -}}')
    assert probe_chat_format(with_template(template)) == [
        "its training template's assistant mask misses the end-of-turn token '<|im_end|>'"
    ]


def test_native_refuses_a_template_that_drops_calls_naming_model_and_problem():
    tokenizer = chatml_tokenizer()
    model = small_llama(len(tokenizer))
    with pytest.raises(ChatFormatError, match=r"chat_format=native: the chat template of my-model drops the assistant's tool calls"):
        ensure_chat_format(model, tokenizer, "native", "my-model")


def test_auto_keeps_a_template_that_passes():
    tokenizer = lfm2_tokenizer()
    model = small_llama(len(tokenizer))
    rows = model.get_input_embeddings().weight.shape[0]
    kept_model, kept_tokenizer = ensure_chat_format(model, tokenizer, "auto", "m")
    assert kept_model.get_input_embeddings().weight.shape[0] == rows
    assert kept_tokenizer.chat_template == chat_template()


def test_auto_grafts_the_lfm2_format_onto_smollm2s_template():
    tokenizer = chatml_tokenizer()
    model = small_llama(len(tokenizer))
    old_rows = model.get_input_embeddings().weight.shape[0]
    old_mean = model.get_input_embeddings().weight.detach().mean(dim=0)

    model, tokenizer = ensure_chat_format(model, tokenizer, "auto", "chatml")

    assert probe_chat_format(tokenizer) == []
    assert tokenizer.chat_template == chat_template()  # unchanged TRL text, so TRL finds its training variant
    weight = model.get_input_embeddings().weight
    assert weight.shape[0] % 64 == 0 and weight.shape[0] == len(tokenizer) > old_rows
    torch.testing.assert_close(weight[old_rows:], old_mean.expand(weight.shape[0] - old_rows, -1))
    assert model.get_output_embeddings().weight.data_ptr() == weight.data_ptr()  # still tied
    # Each marker is one special token, kept when decoding (rollouts decode with special tokens).
    ids = tool_format_token_ids(tokenizer)
    assert len(ids) == 6 and all(i >= old_rows for i in ids)
    assert tokenizer("<|tool_call_start|>[f()]<|tool_call_end|>").input_ids[0] == tokenizer.convert_tokens_to_ids("<|tool_call_start|>")
    # No doubled BOS: the template starts with bos_token, which must not be <|im_start|> again.
    text = tokenizer.apply_chat_template(probe_conversation(), tokenize=False)
    assert text.startswith("<|endoftext|><|im_start|>system\n")
    assert model.config.bos_token_id == tokenizer.bos_token_id == tokenizer.convert_tokens_to_ids("<|endoftext|>")
    assert tokenizer.pad_token == "<|pad|>" and model.config.pad_token_id == tokenizer.pad_token_id
    assert model.config.eos_token_id == tokenizer.eos_token_id == tokenizer.convert_tokens_to_ids("<|im_end|>")


def test_grafted_training_mask_covers_every_call_token_and_no_other_role():
    tokenizer = chatml_tokenizer()
    _, tokenizer = ensure_chat_format(small_llama(len(tokenizer)), tokenizer, "auto", "chatml")
    encoded = tokenizer.apply_chat_template(probe_conversation(), chat_template=training_template(tokenizer),
                                            tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    ids, mask = encoded["input_ids"], encoded["assistant_masks"]
    start, end = (ids.index(tokenizer.convert_tokens_to_ids(t)) for t in ("<|tool_call_start|>", "<|tool_call_end|>"))
    assert start < end and all(mask[start:end + 1])  # the whole call, markers included
    assert mask[end + 1] == 1 and ids[end + 1] == tokenizer.eos_token_id  # and the end of the turn
    response = ids.index(tokenizer.convert_tokens_to_ids("<|tool_response_start|>"))
    assert not any(mask[:start]) and mask[response] == 0
    assert tokenizer.decode([i for i, m in zip(ids, mask) if m]).count("<|im_end|>") == 2


def test_lfm2_mode_replaces_a_passing_template_that_auto_keeps():
    # The training variant as the chat template: it has its own generation markers and passes.
    tokenizer = with_template(chat_template(training=True))
    assert probe_chat_format(tokenizer) == []
    _, kept = ensure_chat_format(small_llama(len(tokenizer)), tokenizer, "auto", "m")
    assert kept.chat_template == chat_template(training=True)
    _, grafted = ensure_chat_format(small_llama(len(tokenizer)), with_template(chat_template(training=True)), "lfm2", "m")
    assert grafted.chat_template == chat_template()


def test_served_models_must_already_pass_the_probe():
    with pytest.raises(ChatFormatError, match=r"model smol: its chat template drops the assistant's tool calls"):
        require_served_chat_format(chatml_tokenizer(), "auto", "smol")
    assert require_served_chat_format(lfm2_tokenizer(), "native", "tiny") is not None


def test_unknown_chat_format_is_an_error():
    tokenizer = lfm2_tokenizer()
    with pytest.raises(ChatFormatError, match="chat_format must be one of"):
        ensure_chat_format(small_llama(len(tokenizer)), tokenizer, "jinja", "m")
