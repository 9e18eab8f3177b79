"""The tokenizer half of a GGUF file: a byte-level BPE tokenizer as llama.cpp's `gpt2` model.

llama.cpp tokenizes BPE vocabularies itself, from the token list, token types and merges stored in
the GGUF, after splitting the text with a named pre-tokenizer regex. Our tokenizers (the tiny model's,
and any checkpoint whose `tokenizer.json` is a plain byte-level BPE) split like GPT-2: ByteLevel with
its regex on, no prefix space, no normalizer. That is the `gpt-2` pre-tokenizer, so the GGUF declares
it — after `check_gpt2_compatible` has checked that `tokenizer.json` really has that shape, because a
wrong declaration would tokenize differently without any error. Tests compare llama.cpp's token ids
with the HF tokenizer's on rendered chat prompts.

Special tokens (`<|im_end|>`, the tool-call markers, ...) are CONTROL tokens: llama.cpp parses them
in prompt text only when asked to (`special=True`) and prints them only when asked to, like HF.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GPT2_PRE_TOKENIZER = "gpt-2"

# gguf.TokenType values (kept as ints so this module imports without the `gguf` package).
NORMAL, CONTROL, USER_DEFINED, UNUSED = 1, 3, 4, 5


@dataclass
class GGUFVocab:
    """What the GGUF's `tokenizer.ggml.*` keys hold."""

    tokens: list[str]
    token_types: list[int]
    merges: list[str]
    bos_id: int | None
    eos_id: int | None
    pad_id: int | None
    chat_template: str | None


def read_tokenizer_json(model_dir: Path) -> dict[str, Any]:
    """The parsed `tokenizer.json` of `model_dir` (clear error naming the path when absent)."""
    path = Path(model_dir) / "tokenizer.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no tokenizer.json; GGUF export needs a fast (tokenizers) BPE tokenizer")
    return json.loads(path.read_text())


def check_gpt2_compatible(spec: dict[str, Any], source: str) -> None:
    """Raise unless `spec` (a tokenizer.json) is a byte-level BPE that splits text like GPT-2."""
    model = spec.get("model") or {}
    if model.get("type") != "BPE":
        raise ValueError(f"{source}: model.type is {model.get('type')!r}; only BPE tokenizers are exported")
    pre = spec.get("pre_tokenizer") or {}
    if pre.get("type") != "ByteLevel" or pre.get("add_prefix_space") or not pre.get("use_regex", True):
        raise ValueError(
            f"{source}: pre_tokenizer {pre!r} is not GPT-2's (ByteLevel, use_regex, no prefix space); "
            "declaring it `gpt-2` in the GGUF would tokenize differently"
        )
    if spec.get("normalizer"):
        raise ValueError(f"{source}: has a normalizer {spec['normalizer']!r}, which llama.cpp's gpt-2 path does not apply")


def _merge_string(merge: Any, source: str, index: int) -> str:
    # tokenizers writes merges as ["a", "b"] (new) or "a b" (old); GGUF stores "a b".
    if isinstance(merge, str):
        return merge
    if isinstance(merge, list) and len(merge) == 2 and all(isinstance(part, str) for part in merge):
        if " " in merge[0] or " " in merge[1]:
            raise ValueError(f"{source}: merge #{index} {merge!r} contains a space, which GGUF merges cannot hold")
        return f"{merge[0]} {merge[1]}"
    raise ValueError(f"{source}: merge #{index} is {merge!r}, expected a pair of strings")


def gguf_vocab(spec: dict[str, Any], vocab_rows: int, chat_template: str | None, special_ids: dict[str, int | None],
               source: str = "tokenizer.json") -> GGUFVocab:
    """Tokens, types and merges for a model whose embedding has `vocab_rows` rows.

    Rows without a token (embeddings padded past the vocabulary) get `[PAD<id>]` UNUSED entries,
    as llama.cpp expects one token per embedding row.
    """
    check_gpt2_compatible(spec, source)
    by_id: dict[int, str] = {}
    types: dict[int, int] = {}
    for text, token_id in spec["model"]["vocab"].items():
        by_id[token_id] = text
        types[token_id] = NORMAL
    for added in spec.get("added_tokens") or []:
        by_id[added["id"]] = added["content"]
        types[added["id"]] = CONTROL if added.get("special") else USER_DEFINED
    if by_id and max(by_id) >= vocab_rows:
        raise ValueError(f"{source}: token id {max(by_id)} does not fit the model's {vocab_rows} embedding rows")
    tokens, token_types = [], []
    for token_id in range(vocab_rows):
        tokens.append(by_id.get(token_id, f"[PAD{token_id}]"))
        token_types.append(types.get(token_id, UNUSED))
    merges = [_merge_string(m, source, k) for k, m in enumerate(spec["model"].get("merges") or [])]
    return GGUFVocab(
        tokens=tokens,
        token_types=token_types,
        merges=merges,
        bos_id=special_ids.get("bos"),
        eos_id=special_ids.get("eos"),
        pad_id=special_ids.get("pad"),
        chat_template=chat_template,
    )


def write_vocab(writer: Any, vocab: GGUFVocab) -> None:
    """Add the `tokenizer.ggml.*` keys (and the chat template) to a `gguf.GGUFWriter`."""
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(GPT2_PRE_TOKENIZER)
    writer.add_token_list(vocab.tokens)
    writer.add_token_types(vocab.token_types)
    writer.add_token_merges(vocab.merges)
    if vocab.bos_id is not None:
        writer.add_bos_token_id(vocab.bos_id)
    if vocab.eos_id is not None:
        writer.add_eos_token_id(vocab.eos_id)
    if vocab.pad_id is not None:
        writer.add_pad_token_id(vocab.pad_id)
    # rlkit renders prompts itself and never relies on an implicit BOS (the HF tokenizer adds none).
    writer.add_add_bos_token(False)
    writer.add_add_eos_token(False)
    if vocab.chat_template:
        writer.add_chat_template(vocab.chat_template)
