"""The embedded default: special tokens, template round trip, deterministic build, generation."""

import json

import pytest
import torch

from rlkit.chat import render_prompt
from rlkit.model import SPECIAL_TOKENS, TinyLfm2Recipe, build_tiny_lfm2, tokenizer_corpus
from rlkit.train.checkpoint import file_sha256

pytestmark = pytest.mark.integration

TOOLS = json.dumps(
    [
        {
            "type": "function",
            "function": {
                "name": "toggle_lights",
                "parameters": {
                    "type": "object",
                    "properties": {"room": {"type": "string", "enum": ["kitchen", "office"]}},
                },
            },
        }
    ]
)
CONVERSATION = [
    {"role": "system", "content": "You control a smart home."},
    {"role": "user", "content": "kitchen lights on pls"},
    {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"type": "function", "function": {"name": "toggle_lights", "arguments": {"room": "kitchen"}}}],
    },
    {"role": "tool", "content": '{"room": "kitchen", "state": "on"}'},
    {"role": "assistant", "content": "The kitchen lights are on."},
]


def test_special_tokens_are_single_tokens(tiny_model):
    _, tokenizer = tiny_model
    for token in SPECIAL_TOKENS:
        ids = tokenizer.encode(token, add_special_tokens=False)
        assert len(ids) == 1, f"{token} split into {ids}"
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token_id == 0 and tokenizer.bos_token_id == 1
    assert tokenizer.convert_tokens_to_ids("<|im_end|>") == 7  # same id as real LFM2


def test_template_renders_tools_calls_and_responses_and_retokenizes_intact(tiny_model):
    _, tokenizer = tiny_model
    text = render_prompt(tokenizer, CONVERSATION, TOOLS, add_generation_prompt=False)
    assert "<|tool_list_start|>[toggle_lights(room?: kitchen|office)]<|tool_list_end|>" in text
    assert "<|tool_call_start|>[toggle_lights(room='kitchen')]<|tool_call_end|><|im_end|>" in text
    assert '<|tool_response_start|>{"room": "kitchen", "state": "on"}<|tool_response_end|>' in text
    ids = tokenizer(text, add_special_tokens=False).input_ids
    tokens = tokenizer.convert_ids_to_tokens(ids)
    for special in ["<|startoftext|>", "<|tool_list_start|>", "<|tool_call_start|>", "<|tool_call_end|>",
                    "<|tool_response_start|>", "<|tool_response_end|>", "<|im_start|>", "<|im_end|>"]:
        assert special in tokens, special
    assert tokens.count("<|im_start|>") == 5 and tokens.count("<|im_end|>") == 5
    assert tokenizer.decode(ids) == text


def test_same_recipe_builds_byte_identical_model_and_tokenizer(tmp_path):
    recipe = TinyLfm2Recipe()
    corpus = tokenizer_corpus(200, recipe.seed)  # a smaller corpus keeps this test quick
    first = build_tiny_lfm2(recipe, tmp_path / "a", corpus)
    second = build_tiny_lfm2(recipe, tmp_path / "b", corpus)
    for name in ["model.safetensors", "tokenizer.json", "config.json", "tokenizer_config.json"]:
        assert file_sha256(first / name) == file_sha256(second / name), name
    other = build_tiny_lfm2(TinyLfm2Recipe(seed=1), tmp_path / "c", corpus)
    assert file_sha256(first / "model.safetensors") != file_sha256(other / "model.safetensors")


def test_config_is_servable_by_vllm_cpu(tiny_model_dir, tiny_model):
    config = json.loads((tiny_model_dir / "config.json").read_text())
    assert config["hidden_size"] // config["num_attention_heads"] >= 32  # vLLM-CPU head-size floor
    for key in ["conv_dim", "conv_dim_out", "block_dim", "block_ff_dim"]:
        assert key in config
    model, _ = tiny_model
    n_params = sum(p.numel() for p in model.parameters())
    assert 1_000_000 <= n_params <= 2_000_000, n_params
    assert set(config["layer_types"]) == {"conv", "full_attention"}


def test_tiny_model_generates(tiny_model):
    model, tokenizer = tiny_model
    prompt = render_prompt(tokenizer, CONVERSATION[:2], TOOLS)
    inputs = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=8, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    assert out.shape[1] > inputs.input_ids.shape[1]
