"""The loop verdict of one completion, from the project's doom-loop detector (rlkit.loops)."""

from __future__ import annotations

import dataclasses
from typing import Any

from rlkit.rollout.base import Completion


def loop_report(completion: Completion) -> tuple[bool, dict[str, Any]]:
    """(looped, the detector's report as a dict) for one completion."""
    from rlkit.loops import detect_loop

    report = detect_loop(completion.token_ids, finish_reason=completion.finish_reason)
    data = dataclasses.asdict(report) if dataclasses.is_dataclass(report) else dict(vars(report))
    return bool(report.looped), data
