"""Load a model + tokenizer, and build the embedded default: `tiny-lfm2` (`smollm2-135m`: rlkit/smollm2.py).

`tiny-lfm2` is a real `Lfm2ForCausalLM` (conv + attention layers, ~1.3M parameters) with a byte-level
BPE tokenizer trained offline on text the project generates, the LFM2 special tokens, and TRL's
LFM2 chat template. It is built deterministically from its recipe (shape, vocabulary size, seed,
corpus) and cached under `$RLKIT_CACHE_DIR` (default `~/.cache/rlkit`) in a folder named by a hash of
that recipe, so changing the recipe builds a new model instead of reusing a stale one.

Shape choices: hidden 128 with 4 heads gives head dimension 32, the smallest vLLM's CPU attention
accepts; a 1.3M model learns far more per CPU minute than a 5M one (measured on 2 CPU cores).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from rlkit.chat import chat_template
from rlkit.chat_format import LFM2_SPECIAL_TOKENS, ChatFormat, ensure_chat_format
from rlkit.smollm2 import SMOLLM2_NAME, ensure_smollm2
from rlkit.train.checkpoint import build_folder_once

log = logging.getLogger(__name__)

TINY_NAME = "tiny-lfm2"
NAMED_MODELS = (TINY_NAME, SMOLLM2_NAME)

# Same order as the real LFM2 vocabulary, so ids match: pad 0, bos 1, <|im_end|> 7.
SPECIAL_TOKENS = LFM2_SPECIAL_TOKENS


@dataclass(frozen=True)
class TinyLfm2Recipe:
    """Everything that determines the tiny model's bytes; its hash names the cache folder."""

    seed: int = 0
    vocab_size: int = 3072
    hidden_size: int = 128
    intermediate_size: int = 256
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    layer_types: tuple[str, ...] = ("conv", "conv", "full_attention", "conv", "full_attention", "conv")
    max_position_embeddings: int = 2048
    corpus_samples_per_env: int = 2000
    builder_version: int = 1  # bump when the build code changes its output

    def digest(self, corpus: list[str]) -> str:
        """A short hash of the recipe and the corpus text."""
        h = hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode())
        for line in corpus:
            h.update(line.encode())
            h.update(b"\n")
        return h.hexdigest()[:12]


def cache_root() -> Path:
    """Where built models live: `$RLKIT_CACHE_DIR`, else `~/.cache/rlkit`."""
    return Path(os.environ.get("RLKIT_CACHE_DIR", Path.home() / ".cache" / "rlkit"))


# The chat scaffolding every prompt carries, so its pieces become single tokens early in BPE.
SCAFFOLD_TEXT = [
    "system\nuser\nassistant\ntool\n",
    "List of tools: ",
    "You are a helpful assistant that calls tools.",
    '{"status": "ok", "error": null, "result": true, "value": false}',
    "(name='', arguments={}, type: string|integer|number|boolean|array|object)",
]


def tokenizer_corpus(samples_per_env: int, seed: int) -> list[str]:
    """Text the tokenizer is trained on: chat scaffolding plus generated env utterances and calls."""
    from rlkit.envs.registry import sample_corpus

    return SCAFFOLD_TEXT * 50 + sample_corpus(samples_per_env, seed)


def build_tokenizer(corpus: list[str], vocab_size: int) -> Any:
    """A byte-level BPE tokenizer with the LFM2 special tokens (each a single token) and template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    # Byte-level like GPT-2, so llama.cpp's converter can treat it as the `gpt-2` pre-tokenizer.
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|startoftext|>",
        eos_token="<|im_end|>",
        pad_token="<|pad|>",
        additional_special_tokens=SPECIAL_TOKENS[2:],
        model_max_length=2048,
    )
    tokenizer.chat_template = chat_template()
    return tokenizer


def build_tiny_lfm2(recipe: TinyLfm2Recipe, out_dir: Path, corpus: list[str]) -> Path:
    """Build the tiny LFM2 (weights from `recipe.seed`) and its tokenizer into `out_dir`."""
    from transformers import Lfm2Config, Lfm2ForCausalLM

    tokenizer = build_tokenizer(corpus, recipe.vocab_size)
    config = Lfm2Config(
        vocab_size=len(tokenizer),
        hidden_size=recipe.hidden_size,
        intermediate_size=recipe.intermediate_size,
        num_hidden_layers=len(recipe.layer_types),
        num_attention_heads=recipe.num_attention_heads,
        num_key_value_heads=recipe.num_key_value_heads,
        max_position_embeddings=recipe.max_position_embeddings,
        layer_types=list(recipe.layer_types),
        block_auto_adjust_ff_dim=False,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=True,
        dtype="float32",
    )
    torch.manual_seed(recipe.seed)
    model = Lfm2ForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    add_vllm_config_fields(out_dir)
    return out_dir


def add_vllm_config_fields(model_dir: Path) -> None:
    """Write the LFM2 fields vLLM's loader reads but transformers does not save (its CPU build needs them)."""
    path = Path(model_dir) / "config.json"
    config = json.loads(path.read_text())
    if config.get("model_type") != "lfm2":
        return
    config.setdefault("conv_dim", config["hidden_size"])
    config.setdefault("conv_dim_out", config["hidden_size"])
    config.setdefault("block_dim", config["hidden_size"])
    config.setdefault("block_ff_dim", config["intermediate_size"])
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def ensure_tiny_lfm2(recipe: TinyLfm2Recipe | None = None) -> Path:
    """The cached tiny model's folder, building it first if its recipe has no cache entry yet."""
    recipe = recipe or TinyLfm2Recipe()
    corpus = tokenizer_corpus(recipe.corpus_samples_per_env, recipe.seed)
    target = cache_root() / f"{TINY_NAME}-{recipe.digest(corpus)}"
    if (target / "config.json").is_file():
        return target
    log.info("building %s into %s", TINY_NAME, target)
    return build_folder_once(target, lambda tmp: build_tiny_lfm2(recipe, tmp, corpus))


def resolve_model_path(name: str) -> str:
    """A named model (`tiny-lfm2`, `smollm2-135m`) → its cached folder, built on first use; other names unchanged."""
    if name == TINY_NAME:
        return str(ensure_tiny_lfm2())
    if name == SMOLLM2_NAME:
        return str(ensure_smollm2(cache_root()))
    return name


def require_stage_input(model: str, made_by: str) -> str:
    """The model a stage continues from; a missing local folder is an error naming the command that makes it.

    A stage never trains the stages before it by itself: run them (or `recipes/pipeline.py`) first.
    """
    looks_local = model.startswith((".", "/", "~")) or model.count("/") != 1
    if model not in NAMED_MODELS and looks_local and not Path(model).expanduser().is_dir():
        raise FileNotFoundError(f"model={model!r} does not exist: make it with `{made_by}`, or pass model=<folder or Hub id>")
    log.info("starting from model %s", model)
    return model


def load_model_and_tokenizer(
    name: str = TINY_NAME, dtype: torch.dtype = torch.float32, chat_format: ChatFormat = "auto", **model_kwargs: Any
):
    """A causal LM and its tokenizer (a named model, a local folder, or a Hub id) whose chat template keeps tool calls.

    `chat_format` (rlkit.chat_format): the template is probed before anything trains or samples;
    `auto` grafts the LFM2 tool-call format onto one that drops calls, `native` refuses it.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve_model_path(name)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, **model_kwargs)
    return ensure_chat_format(model, tokenizer, chat_format, name)


def end_of_turn_id(tokenizer: Any) -> int:
    """The token that ends an assistant turn (`<|im_end|>` for LFM2), used to stop generation."""
    token_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    if token_id is None or token_id == tokenizer.unk_token_id:
        return tokenizer.eos_token_id
    return token_id


__all__ = [
    "TINY_NAME",
    "NAMED_MODELS",
    "SPECIAL_TOKENS",
    "TinyLfm2Recipe",
    "build_tiny_lfm2",
    "build_tokenizer",
    "ensure_tiny_lfm2",
    "load_model_and_tokenizer",
    "resolve_model_path",
    "end_of_turn_id",
    "cache_root",
]
