"""The loop verdict of one completion, from the project's doom-loop detector (rlkit.loops)."""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

from rlkit.loops import detect_loop
from rlkit.rollout.base import Completion
from rlkit.toolcall import ToolCall


def loop_report(completion: Completion, calls: Sequence[ToolCall] = ()) -> tuple[bool, dict[str, Any]]:
    """(looped, the detector's report as a dict) for one completion and the calls parsed from it.

    Token ids are the unit (a cycle needs the token limit hit without end-of-turn), or words when
    the engine returned no ids; repeated
    identical tool calls count with or without end-of-turn (see rlkit.loops).
    """
    # Endpoints without a tokenizer return text only: fall back to words as the unit.
    sequence = completion.token_ids or completion.text
    report = detect_loop(sequence, completion.finish_reason == "stop", calls=list(calls))
    return report.is_loop, dataclasses.asdict(report)


def completion_length(completion: Completion) -> int:
    """Generated tokens (end-of-turn included when emitted), or words when the engine gave no ids."""
    return len(completion.token_ids) if completion.token_ids else len(completion.text.split())
