"""The funnel after parsing: schema checks, code-like text, leaks and near-duplicates by n-gram overlap."""

from __future__ import annotations

import pytest

from rlkit.synth.conversation import Conversation
from rlkit.synth.overlap import NgramIndex, jaccard, word_ngrams
from rlkit.synth.reasons import (
    CODE_LIKE_TEXT,
    INVALID_CALL,
    LEAKED_TEST_EXAMPLE,
    NEAR_DUPLICATE,
    NEAR_DUPLICATE_SEED,
    UNKNOWN_TOOL,
)
from rlkit.synth.validate import FilterSettings, Funnel, code_like_fragment, schema_problem
from rlkit.toolcall import ToolCall

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "pay_bill",
            "parameters": {
                "type": "object",
                "properties": {
                    "payee": {"type": "string"},
                    "amount": {"type": "number"},
                    "from_account": {"type": "string", "enum": ["checking", "savings"]},
                },
                "required": ["payee"],
            },
        },
    },
    {"type": "function", "function": {"name": "greeting", "parameters": {"type": "object", "properties": {}}}},
]


def convo(user: str, name: str = "pay_bill", **arguments) -> Conversation:
    return Conversation([{"role": "user", "content": user}], ToolCall(name, arguments))


def test_word_ngrams_pad_short_texts_and_jaccard_is_hand_computed():
    assert word_ngrams("Hi!", n=3) == {("\x00", "\x00", "hi"), ("\x00", "hi", "\x00"), ("hi", "\x00", "\x00")}
    a, b = word_ngrams("pay the bill", n=2), word_ngrams("pay the rent", n=2)
    # a: _ pay, pay the, the bill, bill _ ; b: _ pay, pay the, the rent, rent _ -> 2 shared of 6
    assert jaccard(a, b) == pytest.approx(2 / 6)
    assert word_ngrams("", n=3) == frozenset()


def test_index_finds_the_closest_text_only():
    index = NgramIndex(n=2)
    index.add("a", "pay the bill")
    index.add("b", "check my balance please")
    match = index.closest("Pay the bill!")
    assert match.key == "a" and match.overlap == 1.0
    assert index.closest("transfer money now") is None
    with pytest.raises(KeyError):
        index.add("a", "again")


@pytest.mark.parametrize(
    "conversation, reason, detail",
    [
        (convo("pay it", name="launch_rocket"), UNKNOWN_TOOL, "wrong_function"),
        (convo("pay it", amount=5), INVALID_CALL, "missing_required"),
        (convo("pay it", payee="Gas Co", amount="five"), INVALID_CALL, "wrong_type"),
        (convo("pay it", payee="Gas Co", from_account="__import__('os').system('x')"), INVALID_CALL, "value_not_acceptable"),
        (convo("pay it", payee="Gas Co", tip=1), INVALID_CALL, "unexpected_argument"),
    ],
)
def test_schema_problems_carry_reason_and_checker_detail(conversation, reason, detail):
    drop = schema_problem(conversation, TOOLS)
    assert drop.reason == reason and detail in drop.detail


def test_invalid_earlier_call_in_history_is_caught_too():
    conversation = Conversation(
        [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "", "tool_calls": [ToolCall("nope", {}).to_openai()]},
            {"role": "user", "content": "pay gas"},
        ],
        ToolCall("pay_bill", {"payee": "gas"}),
    )
    drop = schema_problem(conversation, TOOLS)
    assert drop.reason == UNKNOWN_TOOL and drop.detail.startswith("turn call 0")
    assert schema_problem(convo("pay gas 5 dollars", payee="gas", amount=5), TOOLS) is None


@pytest.mark.parametrize(
    "conversation",
    [
        convo("pay it", payee="__import__('os').system('x')"),
        convo("pay it", payee="Gas; rm -rf /"),
        convo("run os.system please", payee="Gas"),
        convo("pay it", payee="$(curl evil)"),
        convo("pay it", payee="eval ('1+1')"),
    ],
)
def test_code_like_text_is_found_in_user_text_and_argument_values(conversation):
    assert code_like_fragment(conversation) is not None


@pytest.mark.parametrize("text", ["I'd like to open an account, it's important", "pay 20 dollars to the system operator co"])
def test_ordinary_speech_is_not_code_like(text):
    assert code_like_fragment(convo(text, payee="System Operators Inc.")) is None


def test_funnel_order_leak_then_seed_then_duplicate_and_only_kept_rows_are_remembered():
    seeds = [convo("please pay my electric bill from checking", payee="electric")]
    tests = [convo("i need to pay the water company forty dollars", payee="water")]
    funnel = Funnel(TOOLS, seeds, tests, FilterSettings(ngram_size=3, seed_overlap=0.8, duplicate_overlap=0.8, leak_overlap=0.6))
    assert funnel.admit("r0", convo("I need to pay the water company forty dollars!", payee="water")).reason == LEAKED_TEST_EXAMPLE
    assert funnel.admit("r1", convo("Please pay my electric bill from checking", payee="electric")).reason == NEAR_DUPLICATE_SEED
    assert funnel.admit("r2", convo("send fifty bucks to the phone company", payee="phone")) is None
    drop = funnel.admit("r3", convo("Send fifty bucks to the phone company.", payee="phone"))
    assert drop.reason == NEAR_DUPLICATE and "r2" in drop.detail
    assert funnel.admit("r4", convo("hello there", name="greeting")) is None
    # A dropped row is not remembered: r0's text would otherwise block this one as a near-duplicate.
    assert funnel.admit("r5", convo("pay the gas company", payee="__import__('os')")).reason == CODE_LIKE_TEXT
    assert funnel.admit("r6", convo("pay the gas company", payee="gas")) is None
    assert len(funnel.kept_index) == 3
