"""Dynamic-sampling batch surgery, marker-keeping decode and rollout metrics, on hand-built inputs."""

from __future__ import annotations

import json

import pytest
import torch

from rlkit.grpo.trainer import concat_batches, decode_keeping_markers, groups_with_signal, rollout_metrics, take_rows
from rlkit.model import build_tokenizer

ANSWER = json.dumps([{"name": "lights", "arguments": {"room": "hall"}}])


def scored_batch(prompt_width: int, completion_width: int, advantages: list[float], start: int) -> dict:
    rows = len(advantages)
    return {
        "prompt_ids": torch.arange(start, start + rows * prompt_width).view(rows, prompt_width),
        "prompt_mask": torch.ones(rows, prompt_width, dtype=torch.long),
        "completion_ids": torch.arange(start, start + rows * completion_width).view(rows, completion_width),
        "completion_mask": torch.ones(rows, completion_width, dtype=torch.long),
        "old_per_token_logps": torch.full((rows, completion_width), -1.0),
        "advantages": torch.tensor(advantages),
        "num_items_in_batch": torch.tensor(rows * completion_width),
    }


def test_groups_with_signal_flags_groups_with_unequal_rewards():
    advantages = torch.tensor([0.0, 0.0, 0.0, 1.0, -1.0, 0.0, 1e-9, -1e-9])
    assert groups_with_signal(advantages, 2).tolist() == [False, True, True, False]


def test_take_rows_indexes_per_row_tensors_and_keeps_scalars():
    batch = scored_batch(2, 3, [0.0, 0.5, -0.5, 0.0], start=0)
    taken = take_rows(batch, torch.tensor([1, 2]))
    assert taken["advantages"].tolist() == [0.5, -0.5]
    assert taken["prompt_ids"].tolist() == [[2, 3], [4, 5]]
    assert taken["num_items_in_batch"] is batch["num_items_in_batch"]


def test_concat_batches_pads_prompts_left_and_completions_right():
    first = scored_batch(2, 3, [1.0], start=10)
    second = scored_batch(3, 1, [-1.0], start=50)
    merged = concat_batches([first, second], pad_token_id=0)
    assert merged["prompt_ids"].tolist() == [[0, 10, 11], [50, 51, 52]]
    assert merged["prompt_mask"].tolist() == [[0, 1, 1], [1, 1, 1]]
    assert merged["completion_ids"].tolist() == [[10, 11, 12], [50, 0, 0]]
    assert merged["completion_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert merged["old_per_token_logps"].tolist() == [[-1.0, -1.0, -1.0], [-1.0, 0.0, 0.0]]
    assert merged["advantages"].tolist() == [1.0, -1.0]


def test_decode_keeping_markers_keeps_tool_call_tokens_and_drops_end_of_turn():
    tokenizer = build_tokenizer(["lights hall room"] * 4, vocab_size=300)
    text = "<|tool_call_start|>[lights(room='hall')]<|tool_call_end|>"
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    ids = tokenizer(text, add_special_tokens=False).input_ids + [end]
    assert decode_keeping_markers(tokenizer, ids, end) == text
    assert tokenizer.decode(ids, skip_special_tokens=True) == "[lights(room='hall')]"  # what TRL gives rewards


def test_rollout_metrics_counts_loops_parse_errors_and_equivalence():
    good = "<|tool_call_start|>[lights(room='hall')]<|tool_call_end|>"
    wrong = "<|tool_call_start|>[lights(room='kitchen')]<|tool_call_end|>"
    broken = "<|tool_call_start|>[lights(room="
    looping = [4, 5, 6] * 20  # hit the length limit while cycling: a doom loop
    metrics = rollout_metrics(
        [good, wrong, broken, "la la la"],
        [[1, 2], [1, 3], [1], looping],
        [True, True, False, False],
        [ANSWER, ANSWER, ANSWER, None],
        [None] * 4,
    )
    assert metrics == pytest.approx({"loops/loop_rate": 0.25, "toolcall/parse_error_rate": 0.25, "toolcall/equivalence": 1 / 3})


def test_grpo_micro_batches_accumulate_one_generated_batch():
    from tests.recipes import load_recipe

    recipe = load_recipe("grpo_toolcall")
    config = recipe.GRPORecipeConfig()
    config.train.prompts_per_step, config.rollout.num_generations, config.train.micro_batch_size = 4, 4, 4
    args = recipe.grpo_args(config, [1.0])
    # 16 completions generated once per step, trained 4 at a time over 4 accumulation steps
    assert (args.per_device_train_batch_size, args.gradient_accumulation_steps) == (4, 4)
    assert (args.generation_batch_size, args.steps_per_generation) == (16, 4)
    config.train.micro_batch_size = 0
    assert recipe.grpo_args(config, [1.0]).per_device_train_batch_size == 16
    config.train.micro_batch_size = 5
    with pytest.raises(ValueError, match="train.micro_batch_size"):
        recipe.grpo_args(config, [1.0])
