"""Format reward: a well-formed tool-call block, or a plain answer."""

from __future__ import annotations

from typing import Any

from rlkit.rewards.completions import parse_completion


def format_reward(prompts: list, completions: list, **columns: Any) -> list[float]:
    """1.0 for a completion whose tool calls all parse (text around them allowed) or a non-empty
    plain answer without call markers; 0.0 for malformed, unterminated or empty blocks and for
    empty completions.

    >>> format_reward(None, ["<|tool_call_start|>[f(a=1)]<|tool_call_end|>", "It is 4.",
    ...                      "<|tool_call_start|>[f(a=1)", "<|tool_call_start|>[f(1)]<|tool_call_end|>", ""])
    [1.0, 1.0, 0.0, 0.0, 0.0]
    """
    scores = []
    for completion in completions:
        parsed = parse_completion(completion)
        well_formed = parsed.error is None and (bool(parsed.calls) or bool(parsed.text))
        scores.append(1.0 if well_formed else 0.0)
    return scores
