"""Reward functions: tool-call (reference and verifier), n-gram repetition penalty, format."""

import doctest
import pickle

import numpy as np
import pytest

import rlkit.loops
import rlkit.rewards.format
import rlkit.rewards.repetition
import rlkit.rewards.tool_call
from rlkit.rewards import (
    NgramRepetitionPenalty,
    ToolCallReward,
    dense_repetition_penalty,
    format_reward,
    ngram_repetition_penalty,
    repetition_penalty_of,
    tool_call_reward,
)
from rlkit.toolcall import Verdict

CALL = "<|tool_call_start|>[transfer_money(amount=50, to='Bob')]<|tool_call_end|>"
ANSWER = '{"name": "transfer_money", "parameters": {"amount": 50, "to": "bob"}}'
TOOLS = '[{"type": "function", "function": {"name": "transfer_money", "parameters": {"type": "object", "properties": {"amount": {"type": "number"}, "to": {"type": "string"}}, "required": ["amount", "to"]}}}]'


@pytest.mark.parametrize("module", [rlkit.rewards.tool_call, rlkit.rewards.repetition, rlkit.rewards.format, rlkit.loops])
def test_doctests(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


def test_tool_call_reward_values_by_hand():
    completions = [
        CALL,  # equivalent (name case-insensitive value) -> 1
        "<|tool_call_start|>[transfer_money(amount=60, to='Bob')]<|tool_call_end|>",  # 0.1 + 0.3 + 0.6 * 2*1/(2+2)
        "<|tool_call_start|>[transfer_money(amount=50)]<|tool_call_end|>",  # 0.1 + 0.3 + 0.6 * 2*1/(1+2)
        "<|tool_call_start|>[check_balance()]<|tool_call_end|>",  # 0.1 + 0 + 0
        "<|tool_call_start|>[transfer_money(amount=50, to='Bob')]",  # unterminated: not well-formed: 0.3 + 0.6
        "<|tool_call_start|>[transfer_money(50)]<|tool_call_end|>",  # parse error, no calls
        "I sent it.",
        CALL + CALL,  # one call too many: names 2*1/3, args 2*2/(4+2)
    ]
    rewards = tool_call_reward(None, completions, answer=[ANSWER] * len(completions), tools=[TOOLS] * len(completions))
    assert rewards == pytest.approx([1.0, 0.7, 0.8, 0.1, 0.9, 0.0, 0.0, 0.1 + 0.3 * 2 / 3 + 0.6 * 4 / 6])


def test_tool_call_reward_conversational_and_missing_answer():
    conversational = [[{"role": "assistant", "content": CALL}], [{"role": "assistant", "content": "", "tool_calls": [
        {"type": "function", "function": {"name": "transfer_money", "arguments": '{"amount": 50, "to": "Bob"}'}}]}]]
    assert tool_call_reward(None, conversational, answer=[ANSWER, ANSWER]) == [1.0, 1.0]
    assert tool_call_reward(None, [CALL], answer=[None]) == [None]  # e.g. a row scored by another reward
    with pytest.raises(ValueError, match="'answer' dataset column"):
        tool_call_reward(None, [CALL])
    assert tool_call_reward(None, ["hello"], answer=["[]"]) == [1.0]  # no call expected, none made
    assert tool_call_reward(None, [CALL], answer=["[]"]) == [0.0]


def test_calls_without_arguments_get_argument_credit_only_by_name():
    answer = ['[{"name": "greeting", "arguments": {}}, {"name": "goodbye", "arguments": {}}]']
    completion = "<|tool_call_start|>[greeting(), thank_you()]<|tool_call_end|>"  # names F1 = 1/2
    assert tool_call_reward(None, [completion], answer=answer) == [0.1 + 0.3 * 0.5 + 0.6 * 0.5]


def test_bfcl_ground_truth_answer():
    answer = '[{"f": {"x": [1, 2], "y": ["", "a"]}}, {"g": {}}]'
    completion = "<|tool_call_start|>[g(), f(x=2)]<|tool_call_end|>"
    assert tool_call_reward(None, [completion], answer=[answer]) == [1.0]


def env_verifier(calls, target=None, **row):
    """Module-level so the reward stays picklable."""
    if target == "verdict":
        return Verdict(calls[0].name == "f", "ok")
    return 0.25 if calls and calls[0].name == "f" else False


def test_verifier_variant_and_pickling():
    reward = ToolCallReward(verifier=env_verifier)
    assert reward.__name__ == "tool_call_reward_env_verifier"
    completions = ["<|tool_call_start|>[f()]<|tool_call_end|>", "<|tool_call_start|>[g()]<|tool_call_end|>",
                   "<|tool_call_start|>[f(1)]<|tool_call_end|>", "<|tool_call_start|>[f()]<|tool_call_end|>"]
    targets = [None, None, None, "verdict"]
    assert reward(None, completions, target=targets) == [0.25, 0.0, 0.0, 1.0]
    restored = pickle.loads(pickle.dumps(reward))
    assert restored(None, completions, target=targets) == [0.25, 0.0, 0.0, 1.0]
    assert pickle.loads(pickle.dumps(ToolCallReward())).__name__ == "tool_call_reward"


def reference_penalty(units, n, max_penalty=1.0):
    grams = [tuple(units[i : i + n]) for i in range(len(units) - n + 1)]
    return -max_penalty * (1 - len(set(grams)) / len(grams)) if grams else 0.0


def test_penalty_matches_pure_python_reference_on_random_sequences():
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(1, 6))
        ids = rng.integers(0, int(rng.integers(2, 50)), size=int(rng.integers(0, 300))).tolist()
        got = repetition_penalty_of(ids, n=n, max_penalty=0.5, unit="tokens", min_ngrams=1)
        assert got == pytest.approx(reference_penalty(ids, n, 0.5), abs=1e-6)
        dense = dense_repetition_penalty(ids, n=n, max_penalty=0.5)
        assert dense.shape == (len(ids),) and dense.sum() == pytest.approx(reference_penalty(ids, n, 0.5), abs=1e-9)


def test_penalty_units_and_short_texts():
    assert repetition_penalty_of("a b a b a b", n=2, min_ngrams=1) == pytest.approx(-0.6)  # ab ba ab ba ab
    assert repetition_penalty_of("abab", n=2, unit="chars", min_ngrams=1) == pytest.approx(-1 / 3)
    assert repetition_penalty_of("one two", n=4) == 0.0
    assert ngram_repetition_penalty(None, [[{"role": "assistant", "content": "x y z " * 10}]]) == [pytest.approx(-(1 - 3 / 27))]
    tokens = NgramRepetitionPenalty(n=3, max_penalty=2.0, unit="tokens", min_ngrams=1)
    assert tokens(None, ["", ""], completion_ids=[[1, 1, 1, 1], [1, 2, 3]]) == [pytest.approx(-1.0), 0.0]
    with pytest.raises(ValueError, match="completion_ids"):
        tokens(None, ["a"])
    with pytest.raises(ValueError, match="unit"):
        NgramRepetitionPenalty(unit="bytes")
    assert pickle.loads(pickle.dumps(tokens)).__name__ == "ngram_repetition_penalty_tokens3"


def test_format_reward_cases():
    completions = [CALL, "Plain answer.", "Text then " + CALL, "<|tool_call_start|>[]<|tool_call_end|>",
                   "<|tool_call_start|>[f(a=1)]", "stray <|tool_call_end|>", "   ", [{"role": "assistant", "content": CALL}]]
    assert format_reward(None, completions) == [1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0]
