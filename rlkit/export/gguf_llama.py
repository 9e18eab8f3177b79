"""Write an HF Llama checkpoint (SmolLM2 and other `LlamaForCausalLM`s) as a GGUF file llama.cpp runs.

Same route as rlkit.export.gguf_lfm2 (the PyPI `gguf` writer, a mapping rlkit owns, checked against
llama.cpp by tests), for llama.cpp's `llama` architecture. The facts the mapping rests on, from
llama.cpp's `convert_hf_to_gguf.py` (LlamaModel) and gguf-py's constants:

- metadata `llama.*`: context_length, embedding_length, block_count, feed_forward_length,
  rope.dimension_count (the head dimension), attention.head_count, attention.head_count_kv,
  attention.layer_norm_rms_epsilon, rope.freq_base, vocab_size.
- q and k weights are permuted: HF's Llama rotates halves of each head (`rotate_half`), llama.cpp's
  `llama` rope rotates adjacent pairs, so the converter reorders each head's rows from
  [first half, second half] to interleaved pairs (`permute_qk`).
- tied embeddings mean no `output` tensor: llama.cpp then reuses `token_embd`.
- only the default rope is supported; a checkpoint with rope scaling is refused by name.

The vocabulary goes through rlkit.export.gguf_vocab (a byte-level BPE declared as `gpt-2`, checked
against tokenizer.json), as for LFM2.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from rlkit.export.gguf_lfm2 import FloatType, gguf_tensor, mapped_tensor_name, read_weights, tokenizer_extras
from rlkit.export.gguf_vocab import gguf_vocab, read_tokenizer_json, write_vocab

log = logging.getLogger(__name__)

ARCH = "llama"
HF_TO_GGUF_LAYER = {
    "input_layernorm.weight": "attn_norm.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}
HF_TO_GGUF_GLOBAL = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
    "lm_head.weight": "output.weight",
}


def llama_tensor_name(hf_name: str) -> str:
    """The GGUF name of an HF Llama parameter; ValueError for a name the mapping does not know.

    >>> llama_tensor_name("model.layers.7.mlp.gate_proj.weight")
    'blk.7.ffn_gate.weight'
    >>> llama_tensor_name("model.norm.weight")
    'output_norm.weight'
    """
    return mapped_tensor_name(hf_name, HF_TO_GGUF_GLOBAL, HF_TO_GGUF_LAYER, "Llama")


def permute_qk(weight: np.ndarray, n_heads: int) -> np.ndarray:
    """Rows of a q/k projection reordered from HF's half-split rotary layout to llama.cpp's paired one.

    >>> permute_qk(np.arange(4).reshape(4, 1), 1)[:, 0].tolist()  # one head of dim 4: [a b | c d] -> a c b d
    [0, 2, 1, 3]
    """
    rows = weight.shape[0]
    return weight.reshape(n_heads, 2, rows // n_heads // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def _config(model_dir: Path) -> dict[str, Any]:
    path = model_dir / "config.json"
    config = json.loads(path.read_text())
    if config.get("model_type") != ARCH:
        raise ValueError(f"{path}: model_type is {config.get('model_type')!r}; this exporter writes 'llama' models")
    rope = config.get("rope_parameters") or config.get("rope_scaling") or {}
    if rope.get("rope_type", "default") != "default":
        raise ValueError(f"{path}: rope_type {rope['rope_type']!r} is not supported by rlkit's Llama GGUF export (default only)")
    for key in ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "max_position_embeddings"):
        if key not in config:
            raise ValueError(f"{path}: missing config key {key!r} needed for the GGUF metadata")
    return config


def export_llama_gguf(model_dir: str | Path, out_path: str | Path, out_type: FloatType = "f32") -> Path:
    """Write `model_dir` (HF Llama folder) as an F32 or F16 GGUF at `out_path`; returns the path."""
    import gguf

    if out_type not in ("f32", "f16"):
        raise ValueError(f"float GGUF type must be 'f32' or 'f16', got {out_type!r}")
    model_dir, out_path = Path(model_dir), Path(out_path)
    config = _config(model_dir)
    heads = int(config["num_attention_heads"])
    kv_heads = int(config.get("num_key_value_heads") or heads)
    head_dim = int(config.get("head_dim") or config["hidden_size"] // heads)
    rope = config.get("rope_parameters") or {}
    weights = dict(read_weights(model_dir))
    if config.get("tie_word_embeddings", False):
        weights.pop("lm_head.weight", None)  # llama.cpp reuses token_embd when `output` is absent
    vocab_rows = weights["model.embed_tokens.weight"].shape[0]
    template, special_ids = tokenizer_extras(model_dir)
    vocab = gguf_vocab(read_tokenizer_json(model_dir), vocab_rows, template, special_ids, str(model_dir / "tokenizer.json"))

    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".tmp")
    writer = gguf.GGUFWriter(str(tmp), ARCH)
    try:
        writer.add_name(model_dir.name)
        writer.add_context_length(int(config["max_position_embeddings"]))
        writer.add_embedding_length(int(config["hidden_size"]))
        writer.add_block_count(int(config["num_hidden_layers"]))
        writer.add_feed_forward_length(int(config["intermediate_size"]))
        writer.add_rope_dimension_count(head_dim)
        writer.add_head_count(heads)
        writer.add_head_count_kv(kv_heads)
        if head_dim * heads != int(config["hidden_size"]):
            writer.add_key_length(head_dim)
            writer.add_value_length(head_dim)
        writer.add_layer_norm_rms_eps(float(config.get("rms_norm_eps", 1e-6)))
        writer.add_rope_freq_base(float(rope.get("rope_theta", config.get("rope_theta", 10000.0))))
        writer.add_vocab_size(vocab_rows)
        writer.add_file_type(int(gguf.LlamaFileType.ALL_F32 if out_type == "f32" else gguf.LlamaFileType.MOSTLY_F16))
        write_vocab(writer, vocab)
        for name, array in weights.items():
            if name.endswith("self_attn.q_proj.weight"):
                array = permute_qk(array, heads)
            elif name.endswith("self_attn.k_proj.weight"):
                array = permute_qk(array, kv_heads)
            writer.add_tensor(llama_tensor_name(name), gguf_tensor(name, array, out_type))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()
    tmp.replace(out_path)  # a reader never sees a half-written file under the final name
    log.info("wrote %s (llama, %s, %d tensors, %.1f MB)", out_path, out_type, len(weights), out_path.stat().st_size / 1e6)
    return out_path


__all__ = ["export_llama_gguf", "llama_tensor_name", "permute_qk"]
