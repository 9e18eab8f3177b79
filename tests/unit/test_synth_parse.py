"""Teacher replies -> conversations: json.loads only, every structural fault rejected with its reason."""

from __future__ import annotations

import json

import pytest

from rlkit.synth.conversation import conversation_from_row, parse_teacher_reply
from rlkit.synth.reasons import BAD_CONVERSATION, MALFORMED_JSON, MISSING_FIELDS, Rejected


def reply(conversation, next_call) -> str:
    return json.dumps({"conversation": conversation, "next_call": next_call})


def parse(text: str, max_user_turns: int = 3, max_turn_chars: int = 200):
    return parse_teacher_reply(text, max_user_turns, max_turn_chars)


def reason_of(text: str, **kwargs) -> str:
    with pytest.raises(Rejected) as caught:
        parse(text, **kwargs)
    return caught.value.drop.reason


def test_multi_turn_reply_becomes_chat_messages_and_distil_row():
    text = reply(
        [
            {"role": "user", "content": "I want to move money"},
            {"role": "assistant", "tool_call": {"name": "transfer_money", "arguments": {}}},
            {"role": "user", "content": "50 from checking"},
        ],
        {"name": "transfer_money", "arguments": {"amount": 50, "from_account": "checking"}},
    )
    conversation = parse(text)
    assert conversation.messages[1] == {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"type": "function", "function": {"name": "transfer_money", "arguments": {}}}],
    }
    assert conversation.user_text() == "I want to move money\n50 from checking"
    assert [c.name for c in conversation.history_calls()] == ["transfer_money"]
    row = conversation.to_distil()
    assert json.loads(row["answer"]) == {"name": "transfer_money", "parameters": {"amount": 50, "from_account": "checking"}}
    assert json.loads(row["question"])[2] == {"role": "user", "content": "50 from checking"}


def test_prose_and_fences_around_the_object_are_tolerated_and_arguments_may_be_a_json_string():
    text = 'Sure! ```json\n{"conversation": [{"role": "user", "content": "hi"}], "next_call": {"name": "greeting", "arguments": "{}"}}\n```'
    conversation = parse(text)
    assert conversation.next_call.name == "greeting" and conversation.next_call.arguments == {}


@pytest.mark.parametrize(
    "text",
    [
        "no json here at all",
        '{"conversation": [}',
        "[1, 2, 3]",
        "{" * 50_000 + "}" * 50_000,  # deep nesting: RecursionError inside json, not a crash
        "{'conversation': []}",  # a Python literal is not JSON and is never evaluated
    ],
)
def test_unreadable_replies_are_malformed_json(text):
    assert reason_of(text) == MALFORMED_JSON


@pytest.mark.parametrize(
    "data",
    [
        {"next_call": {"name": "greeting"}},
        {"conversation": [], "next_call": {"name": "greeting"}},
        {"conversation": [{"role": "user", "content": "hi"}]},
        {"conversation": [{"role": "user", "content": "hi"}], "next_call": {"arguments": {}}},
        {"conversation": [{"role": "user", "content": "hi"}], "next_call": {"name": "greeting", "arguments": [1]}},
        {"conversation": ["hi"], "next_call": {"name": "greeting"}},
        {"conversation": [{"role": "user", "content": 5}], "next_call": {"name": "greeting"}},
    ],
)
def test_missing_or_mistyped_fields(data):
    assert reason_of(json.dumps(data)) == MISSING_FIELDS


@pytest.mark.parametrize(
    "turns",
    [
        [{"role": "assistant", "content": "hello"}, {"role": "user", "content": "hi"}],  # starts with assistant
        [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],  # ends with assistant
        [{"role": "user", "content": "   "}],  # empty user turn
        [{"role": "system", "content": "you are root"}, {"role": "user", "content": "hi"}],  # foreign role
        [{"role": "user", "content": "x" * 201}],  # longer than max_turn_chars
        [{"role": "user", "content": "a"}, {"role": "tool", "content": "r"}],  # tool without a call before it
        [{"role": "user", "content": "a"}, {"role": "assistant", "content": ""}, {"role": "user", "content": "b"}],
        [{"role": "user", "content": str(i)} for i in range(4)],  # 4 user turns > max 3
    ],
)
def test_bad_conversation_structure(turns):
    assert reason_of(reply(turns, {"name": "greeting", "arguments": {}})) == BAD_CONVERSATION


def test_seed_rows_convert_and_bad_seed_rows_name_their_place():
    messages = [
        {"role": "user", "content": "I want to transfer"},
        {"role": "assistant", "content": None, "tool_calls": [{"type": "function", "function": {"name": "t", "arguments": "{}"}}]},
        {"role": "user", "content": "200"},
    ]
    conversation = conversation_from_row(messages, '{"name": "t", "parameters": {"amount": 200}}', "seeds.jsonl row 3")
    assert conversation.next_call.arguments == {"amount": 200}
    assert conversation.history_calls()[0].arguments == {}
    with pytest.raises(ValueError, match="seeds.jsonl row 4"):
        conversation_from_row(messages, "[]", "seeds.jsonl row 4")
