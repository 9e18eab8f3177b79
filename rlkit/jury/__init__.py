"""Judges (LLM over HTTP, rules), the Jury that aggregates them, and the on-disk judge cache."""

from rlkit.jury.base import Candidate, Judge, JudgeTask, Vote
from rlkit.jury.cache import JudgeCache, cache_key
from rlkit.jury.jury import Jury, JuryStats, JuryVerdict, aggregate, decide, rank_candidates
from rlkit.jury.llm_judge import JudgeCallError, LLMJudge, LLMJudgeStats
from rlkit.jury.rule_judges import (
    JudgeAddressingVeto,
    LengthJudge,
    LoopVeto,
    ToolCallJudge,
    addresses_judge,
    default_rule_judges,
)

__all__ = [
    "Candidate",
    "Judge",
    "JudgeAddressingVeto",
    "JudgeCache",
    "JudgeCallError",
    "JudgeTask",
    "Jury",
    "JuryStats",
    "JuryVerdict",
    "LLMJudge",
    "LLMJudgeStats",
    "LengthJudge",
    "LoopVeto",
    "ToolCallJudge",
    "Vote",
    "addresses_judge",
    "aggregate",
    "cache_key",
    "decide",
    "default_rule_judges",
    "rank_candidates",
]
