"""SFT examples: the assistant mask covers exactly the assistant's tokens; references become turns."""

from __future__ import annotations

import json

import pytest
from datasets import Dataset

from rlkit.chat import with_tool_list
from rlkit.model import build_tokenizer, end_of_turn_id
from rlkit.sft.data import SFTDataError, build_sft_dataset, reference_message, tokenize_conversation

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "set_lights",
            "parameters": {
                "type": "object",
                "properties": {"room": {"type": "string"}, "on": {"type": "boolean"}},
                "required": ["room"],
            },
        },
    }
]
CONVERSATION = [
    {"role": "system", "content": "You control a house."},
    {"role": "user", "content": "kitchen lights on"},
    {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"type": "function", "function": {"name": "set_lights", "arguments": {"room": "kitchen", "on": True}}}],
    },
    {"role": "tool", "content": '{"ok": true}'},
    {"role": "assistant", "content": "The kitchen lights are on."},
    {"role": "user", "content": "thanks"},
    {"role": "assistant", "content": "You're welcome."},
]


@pytest.fixture(scope="module")
def tokenizer():
    corpus = [json.dumps(CONVERSATION), "the kitchen lights are on, you're welcome, thanks"] * 5
    return build_tokenizer(corpus, vocab_size=400)


def test_mask_covers_assistant_calls_replies_and_end_of_turn_only(tokenizer):
    example = tokenize_conversation(tokenizer, CONVERSATION, TOOLS, "compact")
    ids, mask = example["input_ids"], example["assistant_masks"]
    assert len(ids) == len(mask)
    trained = tokenizer.decode([t for t, m in zip(ids, mask) if m], skip_special_tokens=False)
    assert trained == (
        "<|tool_call_start|>[set_lights(room='kitchen', on=True)]<|tool_call_end|><|im_end|>\n"
        "The kitchen lights are on.<|im_end|>\n"
        "You're welcome.<|im_end|>\n"
    )
    # One trained end-of-turn token per assistant turn, none from the system/user/tool turns.
    eot = end_of_turn_id(tokenizer)
    assert sum(1 for t, m in zip(ids, mask) if m and t == eot) == 3
    assert sum(1 for t in ids if t == eot) == 7
    untrained = tokenizer.decode([t for t, m in zip(ids, mask) if not m], skip_special_tokens=False)
    for text in ("You control a house.", "kitchen lights on", '{"ok": true}', "thanks", "set_lights(room: string"):
        assert text in untrained
    # The tool-call markers are special tokens; both are inside the mask.
    for marker in ("<|tool_call_start|>", "<|tool_call_end|>"):
        position = ids.index(tokenizer.convert_tokens_to_ids(marker))
        assert mask[position] == 1


def test_training_template_renders_the_same_text_as_inference(tokenizer):
    example = tokenize_conversation(tokenizer, CONVERSATION, TOOLS, "json")
    inference_text = tokenizer.apply_chat_template(with_tool_list(CONVERSATION, TOOLS, "json"), tokenize=False)
    assert tokenizer.decode(example["input_ids"], skip_special_tokens=False) == inference_text
    assert '"name": "set_lights"' in inference_text  # json tool style: full schemas in the system turn


def test_reference_message_reads_env_distil_and_bfcl_answers():
    env = reference_message('[{"name": "set_lights", "arguments": {"room": "kitchen"}}]')
    assert env["tool_calls"] == [{"type": "function", "function": {"name": "set_lights", "arguments": {"room": "kitchen"}}}]
    distil = reference_message('{"name": "check_balance", "parameters": {"account": "savings"}}')
    assert distil["tool_calls"][0]["function"] == {"name": "check_balance", "arguments": {"account": "savings"}}
    bfcl = reference_message('[{"calc.area": {"base": [10], "unit": ["", "cm"], "height": [5, 5.0]}}]')
    assert bfcl["tool_calls"][0]["function"] == {"name": "calc.area", "arguments": {"base": 10, "height": 5}}
    assert reference_message("[]", reply="Done.") == {"role": "assistant", "content": "Done."}
    assert reference_message("[]") is None
    with pytest.raises(SFTDataError, match="neither"):
        reference_message('[{"oops": 1, "two": 2}]')


def test_build_sft_dataset_appends_references_and_counts_skips(tokenizer):
    prompt = CONVERSATION[:2]
    rows = Dataset.from_list(
        [
            {"messages": prompt, "tools": json.dumps(TOOLS), "answer": '[{"name": "set_lights", "arguments": {"room": "hall"}}]', "reply": ""},
            {"messages": prompt, "tools": json.dumps(TOOLS), "answer": "[]", "reply": ""},  # nothing to learn
            {"messages": CONVERSATION, "tools": json.dumps(TOOLS), "answer": "[]", "reply": ""},
        ]
    )
    full_length = len(tokenize_conversation(tokenizer, CONVERSATION, TOOLS)["input_ids"])
    dataset, report = build_sft_dataset(rows, tokenizer, "compact", max_length=full_length - 1)
    assert report.kept == 1
    assert report.skipped == {"no assistant turn": 1, f"longer than max_length={full_length - 1}": 1}
    (example,) = dataset
    trained = tokenizer.decode([t for t, m in zip(example["input_ids"], example["assistant_masks"]) if m])
    assert "set_lights(room='hall')" in trained


def test_build_sft_dataset_names_the_bad_row(tokenizer):
    rows = Dataset.from_list([{"messages": CONVERSATION[:2], "tools": "[]", "answer": "not json", "reply": ""}])
    with pytest.raises(SFTDataError, match="row 0"):
        build_sft_dataset(rows, tokenizer)
