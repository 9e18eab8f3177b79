"""Put back the tool-call markers that OpenAI-compatible servers strip from completions.

LFM2's `<|tool_call_start|>` / `<|tool_call_end|>` are special tokens. Servers decode replies with
special tokens skipped (`transformers serve` always; vLLM unless asked otherwise), so the model's
`<|tool_call_start|>[f(a=1)]<|tool_call_end|>` arrives as `[f(a=1)]` and the same output would
score as "no call" through a server but correct through HF generate. `RestoredCallBlocks` wraps an
endpoint engine and re-inserts the markers around a trailing call list that parses cleanly.

Caveat, stated in the report: through such a server a model that wrote the call list *without*
markers is indistinguishable from one that wrote them, so both count as calls.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

from rlkit.rollout.base import Completion, Prompt, RolloutEngine, SamplingParams
from rlkit.toolcall import TOOL_CALL_END, TOOL_CALL_START, parse_tool_calls


def restore_call_block(text: str) -> str:
    """`text` with markers around its trailing `[call(...), ...]` list, when that parses; else unchanged.

    >>> restore_call_block("[set_scene(scene='party')]")
    "<|tool_call_start|>[set_scene(scene='party')]<|tool_call_end|>"
    >>> restore_call_block("The lights are [on].")
    'The lights are [on].'
    """
    if TOOL_CALL_START in text or TOOL_CALL_END in text:
        return text
    body = text.rstrip()
    if not body.endswith("]"):
        return text
    start = body.find("[")
    while start != -1:
        candidate = TOOL_CALL_START + body[start:] + TOOL_CALL_END
        parsed = parse_tool_calls(candidate)
        if parsed.calls and parsed.error is None:
            return body[:start] + candidate
        start = body.find("[", start + 1)
    return text


class RestoredCallBlocks:
    """A RolloutEngine wrapper: the inner engine's completions with call-block markers restored."""

    def __init__(self, engine: RolloutEngine):
        self.engine = engine
        self.stats = engine.stats

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[list[Completion]]:
        """The inner engine's completions, each passed through `restore_call_block`."""
        return [
            [replace(c, text=restore_call_block(c.text)) for c in group] for group in self.engine.generate(prompts, params)
        ]
