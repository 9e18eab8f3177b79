"""A model given the LFM2 format by the graft, trained briefly with LoRA, really writes `<|tool_call_start|>`.

Done on a small random Llama with SmolLM2's ChatML template and special tokens (tests/chatml.py),
trained by TRL's SFTTrainer on one env conversation for a few dozen steps: the 135M model would
take minutes per dozen steps here. The control run freezes the new token rows, as plain LoRA does,
and the model then cannot write the marker (LoRA with frozen rows): the mean-start
row's logit stays below the trained rows'.
"""

from __future__ import annotations

import pytest
import torch

from rlkit.chat import render_prompt
from rlkit.chat_format import ensure_chat_format, tool_format_token_ids
from rlkit.envs.registry import make_dataset
from rlkit.sft.data import build_sft_dataset
from rlkit.train.lora import LoraSettings, fit_fused_lm_head, peft_config
from tests.chatml import chatml_tokenizer, small_llama

pytestmark = pytest.mark.integration


def train_and_sample(train_format_tokens: bool, tmp_path) -> tuple[list[int], object]:
    from trl import SFTConfig, SFTTrainer

    rows = make_dataset("smart_home", "train", 1, seed=0, kind="next_call")
    corpus = [m["content"] for m in rows[0]["messages"]] + [rows[0]["tools"]]
    tokenizer = chatml_tokenizer(corpus * 10, vocab_size=600)
    model, tokenizer = ensure_chat_format(small_llama(len(tokenizer)), tokenizer, "auto", "small-chatml")
    train_set, _ = build_sft_dataset(rows, tokenizer, "compact")
    settings = LoraSettings(enabled=True, r=8, alpha=16, train_format_tokens=train_format_tokens)
    args = SFTConfig(output_dir=str(tmp_path), max_steps=40, per_device_train_batch_size=1, learning_rate=2e-2,
                     lr_scheduler_type="constant", report_to="none", gradient_checkpointing=False, use_cpu=True,
                     save_strategy="no", seed=0)
    # TRL's own trainer, with its fused LM head (the path GRPO always takes and SFT takes on CUDA).
    trainer = SFTTrainer(model=model, args=args, train_dataset=train_set, processing_class=tokenizer,
                         peft_config=peft_config(settings, model, tokenizer))
    fit_fused_lm_head(trainer.model)
    trainer.train()
    prompt = render_prompt(tokenizer, list(rows[0]["messages"]), rows[0]["tools"], "compact")
    inputs = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    trained = trainer.model.eval()
    with torch.no_grad():
        out = trained.generate(**inputs, max_new_tokens=24, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    return out[0, inputs["input_ids"].shape[1]:].tolist(), tokenizer


def test_lora_with_trainable_marker_rows_learns_to_write_the_call(tmp_path):
    generated, tokenizer = train_and_sample(True, tmp_path)
    text = tokenizer.decode(generated, skip_special_tokens=False)
    # The first token of the reference turn; the rest of the call is beyond 40 LoRA steps on random weights.
    assert generated[0] == tokenizer.convert_tokens_to_ids("<|tool_call_start|>"), text


def test_lora_with_frozen_marker_rows_never_writes_it(tmp_path):
    generated, tokenizer = train_and_sample(False, tmp_path)
    assert tokenizer.convert_tokens_to_ids("<|tool_call_start|>") not in generated


def test_grpo_with_lora_trains_the_marker_rows_through_trls_fused_lm_head(tiny_model_dir, tmp_path):
    """TRL's GRPO always scores through its fused LM head; with trainable token rows it must still run and train them."""
    from safetensors.torch import load_file

    from rlkit.config import load_config
    from tests.recipes import REPO, load_recipe

    recipe = load_recipe("grpo_toolcall")
    config = load_config(recipe.GRPORecipeConfig, REPO / "recipes" / "configs" / "grpo_toolcall.yaml", [
        f"model={tiny_model_dir}", f"output_dir={tmp_path}", "data.num_rows=8", "train.max_steps=2",
        "train.prompts_per_step=2", "rollout.num_generations=4", "rollout.max_completion_length=16",
        "train.report_to=none", "train.learning_rate=5e-2", "lora.enabled=true", "lora.r=4", "lora.alpha=8",
    ])
    model_dir = recipe.main(config)
    start = load_file(str(tiny_model_dir / "model.safetensors"))["model.embed_tokens.weight"]
    trained = load_file(str(model_dir / "model.safetensors"))["model.embed_tokens.weight"]
    moved = set((trained != start).any(dim=1).nonzero().flatten().tolist())
    from transformers import AutoTokenizer

    markers = set(tool_format_token_ids(AutoTokenizer.from_pretrained(tiny_model_dir)))
    assert moved and moved <= markers  # only the tool-format rows of the (tied) embedding train
