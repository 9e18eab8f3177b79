"""Write an HF LFM2 checkpoint as a GGUF file that llama.cpp runs (F32/F16; Q8_0/Q4_0 via quantize.py).

Route, and why: rlkit writes the file itself with the PyPI `gguf` package's `GGUFWriter`, which
already knows `MODEL_ARCH.LFM2` and its tensor names. llama.cpp's own `convert_hf_to_gguf.py` is
not on PyPI: it ships only inside the 76 MB `llama-cpp-python` sdist, needs a newer `gguf-py` than
PyPI's, and rejects our custom BPE vocabulary unless patched (it recognizes pre-tokenizers by a hash
of known vocabularies). A ~200-line mapping we own, checked by tests against llama.cpp itself
(greedy tokens and tokenization equal HF's), is cheaper to keep working than a vendored converter.

The mapping (facts from llama.cpp's LFM2 loader, `src/models/lfm2.cpp`, and gguf-py's constants):

- metadata `lfm2.*`: context_length, embedding_length, block_count, feed_forward_length,
  attention.head_count, attention.head_count_kv as a per-layer array with 0 for conv layers (that
  zero is how llama.cpp tells conv layers from attention layers), attention.layer_norm_rms_epsilon,
  rope.freq_base, shortconv.l_cache, vocab_size.
- tensors: see `HF_TO_GGUF`. LFM2 uses NeoX-style rotary embeddings in llama.cpp, which is HF's
  `rotate_half` layout, so q/k weights are copied without the permutation Llama needs. The depthwise
  conv kernel `(hidden, 1, L)` is stored 2-D `(hidden, L)`. HF's final norm is `embedding_norm`;
  llama.cpp reads it as `token_embd_norm`. Tied embeddings mean no `output` tensor.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Literal

import numpy as np

from rlkit.export.gguf_vocab import gguf_vocab, read_tokenizer_json, write_vocab

log = logging.getLogger(__name__)

ARCH = "lfm2"
FloatType = Literal["f32", "f16"]

# HF parameter name (per-layer part after `model.layers.N.`) -> GGUF tensor name (after `blk.N.`).
HF_TO_GGUF_LAYER = {
    "conv.conv.weight": "shortconv.conv.weight",
    "conv.in_proj.weight": "shortconv.in_proj.weight",
    "conv.out_proj.weight": "shortconv.out_proj.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.out_proj.weight": "attn_output.weight",
    "self_attn.q_layernorm.weight": "attn_q_norm.weight",
    "self_attn.k_layernorm.weight": "attn_k_norm.weight",
    "operator_norm.weight": "attn_norm.weight",
    "ffn_norm.weight": "ffn_norm.weight",
    "feed_forward.w1.weight": "ffn_gate.weight",
    "feed_forward.w3.weight": "ffn_up.weight",
    "feed_forward.w2.weight": "ffn_down.weight",
}
HF_TO_GGUF_GLOBAL = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.embedding_norm.weight": "token_embd_norm.weight",
    "lm_head.weight": "output.weight",
}
_LAYER_NAME = re.compile(r"^model\.layers\.(\d+)\.(.+)$")


@dataclass(frozen=True)
class Lfm2Hparams:
    """The `lfm2.*` metadata values of one checkpoint."""

    context_length: int
    embedding_length: int
    block_count: int
    feed_forward_length: int
    head_count: int
    head_count_kv: tuple[int, ...]  # per layer; 0 marks a short-conv layer
    rms_norm_eps: float
    rope_freq_base: float
    shortconv_l_cache: int
    vocab_size: int
    tied_embeddings: bool


def read_config(model_dir: Path) -> dict[str, Any]:
    """`config.json` of an LFM2 checkpoint; clear errors for a missing file or another architecture."""
    path = Path(model_dir) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found; `--model` must be an HF checkpoint folder (config.json + safetensors)")
    config = json.loads(path.read_text())
    if config.get("model_type") != ARCH:
        raise ValueError(f"{path}: model_type is {config.get('model_type')!r}; this writer supports only 'lfm2' models (rlkit export gguf also writes 'llama')")
    return config


def _required(config: dict[str, Any], key: str, source: str) -> Any:
    if key not in config:
        raise ValueError(f"{source}: missing config key {key!r} needed for the GGUF metadata")
    return config[key]


def layer_is_attention(config: dict[str, Any], source: str = "config.json") -> list[bool]:
    """Per layer: True for attention, False for short conv (from `layer_types`, else `full_attn_idxs`)."""
    n_layers = int(_required(config, "num_hidden_layers", source))
    if config.get("layer_types"):
        kinds = list(config["layer_types"])
        if len(kinds) != n_layers or set(kinds) - {"conv", "full_attention"}:
            raise ValueError(f"{source}: layer_types {kinds} must list 'conv'/'full_attention' for {n_layers} layers")
        return [kind == "full_attention" for kind in kinds]
    attention = set(_required(config, "full_attn_idxs", source) or [])
    return [i in attention for i in range(n_layers)]


def lfm2_hparams(config: dict[str, Any], feed_forward_length: int, vocab_rows: int, source: str = "config.json") -> Lfm2Hparams:
    """The GGUF metadata values for an LFM2 `config` (FFN width and vocab rows come from the weights)."""
    rope = config.get("rope_parameters") or {}
    theta = rope.get("rope_theta", config.get("rope_theta"))
    if theta is None:
        raise ValueError(f"{source}: no rope_theta (in rope_parameters or at top level)")
    kv_heads = int(_required(config, "num_key_value_heads", source))
    return Lfm2Hparams(
        context_length=int(_required(config, "max_position_embeddings", source)),
        embedding_length=int(_required(config, "hidden_size", source)),
        block_count=int(_required(config, "num_hidden_layers", source)),
        feed_forward_length=int(feed_forward_length),
        head_count=int(_required(config, "num_attention_heads", source)),
        head_count_kv=tuple(kv_heads if attention else 0 for attention in layer_is_attention(config, source)),
        rms_norm_eps=float(_required(config, "norm_eps", source)),
        rope_freq_base=float(theta),
        shortconv_l_cache=int(_required(config, "conv_L_cache", source)),
        vocab_size=int(vocab_rows),
        tied_embeddings=bool(config.get("tie_word_embeddings", True)),
    )


def write_hparams(writer: Any, hp: Lfm2Hparams, name: str) -> None:
    """Add the `general.*` and `lfm2.*` keys to a `gguf.GGUFWriter`."""
    writer.add_name(name)
    writer.add_context_length(hp.context_length)
    writer.add_embedding_length(hp.embedding_length)
    writer.add_block_count(hp.block_count)
    writer.add_feed_forward_length(hp.feed_forward_length)
    writer.add_head_count(hp.head_count)
    writer.add_head_count_kv(list(hp.head_count_kv))
    writer.add_layer_norm_rms_eps(hp.rms_norm_eps)
    writer.add_rope_freq_base(hp.rope_freq_base)
    writer.add_shortconv_l_cache(hp.shortconv_l_cache)
    writer.add_vocab_size(hp.vocab_size)


def gguf_tensor_name(hf_name: str) -> str:
    """The GGUF name of an HF LFM2 parameter; ValueError for a name the mapping does not know.

    >>> gguf_tensor_name("model.layers.3.feed_forward.w1.weight")
    'blk.3.ffn_gate.weight'
    >>> gguf_tensor_name("model.embedding_norm.weight")
    'token_embd_norm.weight'
    """
    return mapped_tensor_name(hf_name, HF_TO_GGUF_GLOBAL, HF_TO_GGUF_LAYER, "LFM2")


def mapped_tensor_name(hf_name: str, global_names: dict[str, str], layer_names: dict[str, str], arch: str) -> str:
    """`hf_name` through an architecture's global and per-layer (`model.layers.N.<rest>`) name tables."""
    if hf_name in global_names:
        return global_names[hf_name]
    match = _LAYER_NAME.match(hf_name)
    if match and match.group(2) in layer_names:
        return f"blk.{match.group(1)}.{layer_names[match.group(2)]}"
    raise ValueError(f"tensor {hf_name!r} has no GGUF mapping for {arch} (is this a plain, merged {arch} checkpoint?)")


def gguf_tensor(hf_name: str, array: np.ndarray, out_type: FloatType) -> np.ndarray:
    """The array as stored: conv kernels made 2-D; F16 for matrices, F32 for norms and conv kernels."""
    if hf_name.endswith("conv.conv.weight"):
        if array.ndim != 3 or array.shape[1] != 1:
            raise ValueError(f"tensor {hf_name!r}: expected a depthwise conv kernel (hidden, 1, L), got {array.shape}")
        array = array[:, 0, :]
        return np.ascontiguousarray(array, dtype=np.float32)
    # llama.cpp keeps 1-D tensors (norm weights) in F32 in every file type.
    if out_type == "f16" and array.ndim >= 2:
        return np.ascontiguousarray(array, dtype=np.float16)
    return np.ascontiguousarray(array, dtype=np.float32)


def read_weights(model_dir: Path) -> Iterator[tuple[str, np.ndarray]]:
    """(name, float32 array) for every tensor in the folder's safetensors files, in file order."""
    import torch
    from safetensors import safe_open

    files = sorted(Path(model_dir).glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"{model_dir}: no *.safetensors weights found (merge LoRA adapters first: rlkit export merge)")
    for path in files:
        with safe_open(str(path), framework="pt") as handle:
            for name in handle.keys():
                # float32 first: numpy has no bfloat16, and F16 is made from the exact F32 values.
                yield name, handle.get_tensor(name).to(torch.float32).numpy()


def export_float_gguf(model_dir: str | Path, out_path: str | Path, out_type: FloatType = "f32") -> Path:
    """Write `model_dir` (HF LFM2 folder) as an F32 or F16 GGUF at `out_path`; returns the path."""
    import gguf

    if out_type not in ("f32", "f16"):
        raise ValueError(f"float GGUF type must be 'f32' or 'f16', got {out_type!r}")
    model_dir, out_path = Path(model_dir), Path(out_path)
    config = read_config(model_dir)
    source = str(model_dir / "config.json")
    weights = dict(read_weights(model_dir))
    tied = bool(config.get("tie_word_embeddings", True))
    if tied and "lm_head.weight" in weights:
        del weights["lm_head.weight"]  # the same matrix as the embedding; llama.cpp reuses token_embd
        log.info("tied embeddings: lm_head.weight not written (llama.cpp reuses token_embd)")
    embedding = weights.get("model.embed_tokens.weight")
    ffn_gate = weights.get("model.layers.0.feed_forward.w1.weight")
    if embedding is None or ffn_gate is None:
        raise ValueError(f"{model_dir}: weights lack model.embed_tokens / layer 0 feed_forward.w1; not an LFM2 checkpoint")
    hp = lfm2_hparams(config, ffn_gate.shape[0], embedding.shape[0], source)
    tokenizer_spec = read_tokenizer_json(model_dir)
    chat_template, special_ids = tokenizer_extras(model_dir)
    vocab = gguf_vocab(tokenizer_spec, hp.vocab_size, chat_template, special_ids, str(model_dir / "tokenizer.json"))

    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".tmp")
    writer = gguf.GGUFWriter(str(tmp), ARCH)
    try:
        write_hparams(writer, hp, model_dir.name)
        writer.add_file_type(int(gguf.LlamaFileType.ALL_F32 if out_type == "f32" else gguf.LlamaFileType.MOSTLY_F16))
        write_vocab(writer, vocab)
        for name, array in weights.items():
            writer.add_tensor(gguf_tensor_name(name), gguf_tensor(name, array, out_type))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()
    tmp.replace(out_path)  # a reader never sees a half-written file under the final name
    log.info("wrote %s (%s, %d tensors, %.1f MB)", out_path, out_type, len(weights), out_path.stat().st_size / 1e6)
    return out_path


def tokenizer_extras(model_dir: Path) -> tuple[str | None, dict[str, int | None]]:
    """The chat template and bos/eos/pad ids, as the HF tokenizer of `model_dir` reports them."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    template = tokenizer.chat_template if isinstance(tokenizer.chat_template, str) else None
    ids = {"bos": tokenizer.bos_token_id, "eos": tokenizer.eos_token_id, "pad": tokenizer.pad_token_id}
    return template, ids
