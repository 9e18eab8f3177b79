"""TRL-contract reward functions: tool-call correctness, n-gram repetition penalty, format."""

from rlkit.rewards.format import format_reward
from rlkit.rewards.repetition import (
    NgramRepetitionPenalty,
    dense_repetition_penalty,
    ngram_repetition_penalty,
    repetition_penalty_of,
)
from rlkit.rewards.tool_call import ToolCallReward, score_calls, tool_call_reward

__all__ = [
    "NgramRepetitionPenalty",
    "ToolCallReward",
    "dense_repetition_penalty",
    "format_reward",
    "ngram_repetition_penalty",
    "repetition_penalty_of",
    "score_calls",
    "tool_call_reward",
]
