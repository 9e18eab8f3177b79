"""GGUF exporter: HF LFM2 names/config -> GGUF names/metadata (hand-checked), tokenizer keys, clear errors.

These run without llama.cpp: the written file is read back with the `gguf` package's reader.
Whether llama.cpp computes the same model is tests/integration/test_gguf_llamacpp.py.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from rlkit.export.gguf_lfm2 import export_float_gguf, gguf_tensor, gguf_tensor_name, lfm2_hparams, read_config
from rlkit.export.gguf_vocab import CONTROL, NORMAL, UNUSED, check_gpt2_compatible, gguf_vocab

gguf = pytest.importorskip("gguf")

TINY_CONFIG = {
    "model_type": "lfm2", "hidden_size": 128, "num_hidden_layers": 6, "num_attention_heads": 4,
    "num_key_value_heads": 2, "layer_types": ["conv", "conv", "full_attention", "conv", "full_attention", "conv"],
    "norm_eps": 1e-5, "conv_L_cache": 3, "max_position_embeddings": 2048,
    "rope_parameters": {"rope_theta": 1000000.0, "rope_type": "default"}, "tie_word_embeddings": True,
}


@pytest.mark.parametrize("hf_name, expected", [
    ("model.embed_tokens.weight", "token_embd.weight"),
    ("model.embedding_norm.weight", "token_embd_norm.weight"),  # HF's final norm
    ("lm_head.weight", "output.weight"),
    ("model.layers.0.conv.conv.weight", "blk.0.shortconv.conv.weight"),
    ("model.layers.0.conv.in_proj.weight", "blk.0.shortconv.in_proj.weight"),
    ("model.layers.1.conv.out_proj.weight", "blk.1.shortconv.out_proj.weight"),
    ("model.layers.2.self_attn.q_proj.weight", "blk.2.attn_q.weight"),
    ("model.layers.2.self_attn.k_proj.weight", "blk.2.attn_k.weight"),
    ("model.layers.2.self_attn.v_proj.weight", "blk.2.attn_v.weight"),
    ("model.layers.2.self_attn.out_proj.weight", "blk.2.attn_output.weight"),
    ("model.layers.2.self_attn.q_layernorm.weight", "blk.2.attn_q_norm.weight"),
    ("model.layers.2.self_attn.k_layernorm.weight", "blk.2.attn_k_norm.weight"),
    ("model.layers.12.operator_norm.weight", "blk.12.attn_norm.weight"),
    ("model.layers.5.ffn_norm.weight", "blk.5.ffn_norm.weight"),
    ("model.layers.5.feed_forward.w1.weight", "blk.5.ffn_gate.weight"),
    ("model.layers.5.feed_forward.w3.weight", "blk.5.ffn_up.weight"),
    ("model.layers.5.feed_forward.w2.weight", "blk.5.ffn_down.weight"),
])
def test_tensor_names(hf_name, expected):
    assert gguf_tensor_name(hf_name) == expected


def test_every_mapped_name_is_an_lfm2_tensor_the_gguf_package_knows():
    known = {gguf.TENSOR_NAMES[t] for t in gguf.MODEL_TENSORS[gguf.MODEL_ARCH.LFM2]}
    for hf_name in ["model.embed_tokens.weight", "model.embedding_norm.weight", "lm_head.weight",
                    *(f"model.layers.0.{part}" for part in [
                        "conv.conv.weight", "conv.in_proj.weight", "conv.out_proj.weight", "self_attn.q_proj.weight",
                        "self_attn.k_proj.weight", "self_attn.v_proj.weight", "self_attn.out_proj.weight",
                        "self_attn.q_layernorm.weight", "self_attn.k_layernorm.weight", "operator_norm.weight",
                        "ffn_norm.weight", "feed_forward.w1.weight", "feed_forward.w2.weight", "feed_forward.w3.weight"])]:
        name = gguf_tensor_name(hf_name).removesuffix(".weight").replace("blk.0.", "blk.{bid}.")
        assert name in known, hf_name


@pytest.mark.parametrize("name", ["model.layers.0.self_attn.lora_A.weight", "model.norm.weight", "foo"])
def test_unknown_tensor_is_an_error_naming_it(name):
    with pytest.raises(ValueError, match="has no GGUF mapping") as info:
        gguf_tensor_name(name)
    assert repr(name) in str(info.value)


def test_hparams_of_the_tiny_shape():
    hp = lfm2_hparams(TINY_CONFIG, feed_forward_length=256, vocab_rows=3072)
    assert hp.head_count_kv == (0, 0, 2, 0, 2, 0)  # 0 = short-conv layer, as llama.cpp reads it
    assert (hp.embedding_length, hp.block_count, hp.head_count, hp.feed_forward_length) == (128, 6, 4, 256)
    assert (hp.shortconv_l_cache, hp.rope_freq_base, hp.rms_norm_eps, hp.context_length) == (3, 1e6, 1e-5, 2048)
    assert hp.vocab_size == 3072 and hp.tied_embeddings


def test_hparams_from_full_attn_idxs_and_missing_key():
    config = {k: v for k, v in TINY_CONFIG.items() if k != "layer_types"} | {"full_attn_idxs": [1, 4]}
    assert lfm2_hparams(config, 256, 10).head_count_kv == (0, 2, 0, 0, 2, 0)
    config = {k: v for k, v in TINY_CONFIG.items() if k != "conv_L_cache"}
    with pytest.raises(ValueError, match="conv_L_cache"):
        lfm2_hparams(config, 256, 10, source="m/config.json")


def test_conv_kernel_is_stored_2d_f32_and_f16_only_for_matrices():
    kernel = np.arange(6, dtype=np.float32).reshape(2, 1, 3)
    stored = gguf_tensor("model.layers.0.conv.conv.weight", kernel, "f16")
    assert stored.shape == (2, 3) and stored.dtype == np.float32 and stored[1, 2] == 5
    assert gguf_tensor("model.layers.0.conv.in_proj.weight", np.ones((4, 2), np.float32), "f16").dtype == np.float16
    assert gguf_tensor("model.layers.0.ffn_norm.weight", np.ones(4, np.float32), "f16").dtype == np.float32
    assert gguf_tensor("model.layers.0.conv.in_proj.weight", np.ones((4, 2), np.float32), "f32").dtype == np.float32


def test_vocab_types_merges_and_padding():
    spec = {
        "model": {"type": "BPE", "vocab": {"a": 2, "b": 3, "ab": 4}, "merges": [["a", "b"]]},
        "added_tokens": [{"id": 0, "content": "<|pad|>", "special": True}, {"id": 1, "content": "<x>", "special": False}],
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True},
        "normalizer": None,
    }
    vocab = gguf_vocab(spec, vocab_rows=6, chat_template="T", special_ids={"bos": 1, "eos": 4, "pad": 0})
    assert vocab.tokens == ["<|pad|>", "<x>", "a", "b", "ab", "[PAD5]"]
    assert vocab.token_types == [CONTROL, 4, NORMAL, NORMAL, NORMAL, UNUSED]
    assert vocab.merges == ["a b"]
    with pytest.raises(ValueError, match="does not fit"):
        gguf_vocab(spec, vocab_rows=4, chat_template=None, special_ids={})


@pytest.mark.parametrize("change, message", [
    ({"pre_tokenizer": {"type": "Metaspace"}}, "not GPT-2's"),
    ({"pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": True}}, "not GPT-2's"),
    ({"normalizer": {"type": "NFC"}}, "normalizer"),
    ({"model": {"type": "Unigram"}}, "only BPE"),
])
def test_non_gpt2_tokenizers_are_refused(change, message):
    spec = {"model": {"type": "BPE"}, "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False}} | change
    with pytest.raises(ValueError, match=message) as info:
        check_gpt2_compatible(spec, "m/tokenizer.json")
    assert "m/tokenizer.json" in str(info.value)


def test_non_lfm2_and_missing_files_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json: not found") as info:
        read_config(tmp_path)
    assert str(tmp_path) in str(info.value)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(ValueError, match="model_type is 'llama'") as info:
        export_float_gguf(tmp_path, tmp_path / "x.gguf")
    assert str(tmp_path / "config.json") in str(info.value)


def test_missing_weights_and_tokenizer_name_the_folder(tiny_model_dir, tmp_path):
    model = tmp_path / "m"
    model.mkdir()
    shutil.copy(tiny_model_dir / "config.json", model / "config.json")
    with pytest.raises(FileNotFoundError, match="no \\*.safetensors") as info:
        export_float_gguf(model, tmp_path / "x.gguf")
    assert str(model) in str(info.value)
    shutil.copy(tiny_model_dir / "model.safetensors", model / "model.safetensors")
    with pytest.raises(FileNotFoundError, match="tokenizer.json") as info:
        export_float_gguf(model, tmp_path / "x.gguf")
    assert str(model / "tokenizer.json") in str(info.value)
    assert not (tmp_path / "x.gguf").exists()


@pytest.mark.parametrize("out_type, matrix_type", [("f32", "F32"), ("f16", "F16")])
def test_written_file_reads_back(tiny_model_dir, tmp_path, out_type, matrix_type):
    from transformers import AutoTokenizer

    path = export_float_gguf(tiny_model_dir, tmp_path / f"tiny-{out_type}.gguf", out_type)
    reader = gguf.GGUFReader(str(path))

    def value(key):
        return reader.get_field(key).contents()

    assert value("general.architecture") == "lfm2"
    assert value("lfm2.attention.head_count_kv") == [0, 0, 2, 0, 2, 0]
    assert value("lfm2.shortconv.l_cache") == 3
    assert value("lfm2.block_count") == 6 and value("lfm2.embedding_length") == 128
    assert value("lfm2.feed_forward_length") == 256
    assert value("tokenizer.ggml.model") == "gpt2" and value("tokenizer.ggml.pre") == "gpt-2"
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    tokens = value("tokenizer.ggml.tokens")
    assert len(tokens) == 3072 and tokens[7] == "<|im_end|>"
    assert value("tokenizer.ggml.eos_token_id") == tokenizer.eos_token_id == 7
    assert value("tokenizer.ggml.bos_token_id") == 1 and value("tokenizer.ggml.padding_token_id") == 0
    assert value("tokenizer.chat_template") == tokenizer.chat_template
    tensors = {t.name: t for t in reader.tensors}
    assert len(tensors) == 56 and "output.weight" not in tensors  # tied embeddings
    assert tensors["blk.2.attn_k.weight"].tensor_type.name == matrix_type
    assert tuple(tensors["blk.2.attn_k.weight"].shape) == (128, 64)  # ggml order: (in, out)
    assert tuple(tensors["blk.0.shortconv.conv.weight"].shape) == (3, 128)
    assert tensors["token_embd_norm.weight"].tensor_type.name == "F32"


@pytest.mark.parametrize("module_name", ["rlkit.export.gguf_lfm2", "rlkit.export.gguf_llama", "rlkit.rollout.llamacpp"])
def test_doctests(module_name):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module_name))
    assert result.attempted > 0 and result.failed == 0
