"""The loop verdict of one completion, from the project's doom-loop detector (rlkit.loops)."""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

from rlkit.loops import detect_loop
from rlkit.rollout.base import Completion
from rlkit.toolcall import ToolCall


def loop_report(completion: Completion, calls: Sequence[ToolCall] = ()) -> tuple[bool, dict[str, Any]]:
    """(looped, the detector's report as a dict) for one completion and the calls parsed from it.

    Token ids are the unit (a cycle needs the token limit hit without end-of-turn); repeated
    identical tool calls count with or without end-of-turn (see rlkit.loops).
    """
    report = detect_loop(completion.token_ids, completion.finish_reason == "stop", calls=list(calls))
    return report.is_loop, dataclasses.asdict(report)
