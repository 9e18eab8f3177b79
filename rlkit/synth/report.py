"""Counts of the synthetic-data funnel per stage, per reason and per tool, as a dict and as Markdown."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from rlkit.synth.reasons import REASONS, STAGE_OF, STAGES, Drop


@dataclass
class Outcome:
    """What became of one request: kept, or dropped with a reason; the tools asked for and written."""

    request_id: int
    target_tool: str | None
    call_name: str | None  # the next_call name the teacher wrote (None when it could not be read)
    drop: Drop | None = None

    @property
    def kept(self) -> bool:
        """True when the row reached the output."""
        return self.drop is None


def summarize(outcomes: list[Outcome]) -> dict:
    """Funnel (in/dropped/out per stage), drops per reason, and per-tool counts."""
    by_reason = Counter(o.drop.reason for o in outcomes if o.drop is not None)
    remaining = len(outcomes)
    funnel = []
    for stage, reasons in STAGES.items():
        dropped = sum(by_reason[reason] for reason in reasons)
        funnel.append({"stage": stage, "in": remaining, "dropped": dropped, "out": remaining - dropped})
        remaining -= dropped
    tools: dict[str, Counter] = {}
    for outcome in outcomes:
        if outcome.target_tool is not None:
            tools.setdefault(outcome.target_tool, Counter())["requested"] += 1
        if outcome.call_name is not None:
            counts = tools.setdefault(outcome.call_name, Counter())
            counts["written"] += 1
            counts["kept" if outcome.kept else "dropped"] += 1
    return {
        "requests": len(outcomes),
        "kept": sum(o.kept for o in outcomes),
        "funnel": funnel,
        "drops": {reason: by_reason[reason] for reason in REASONS if by_reason[reason]},
        "tools": {name: dict(counts) for name, counts in sorted(tools.items())},
    }


def render_markdown(outcomes: list[Outcome], title: str, notes: list[str] = ()) -> str:
    """The report: header notes, funnel table, drops by reason (with one example each), per-tool table."""
    summary = summarize(outcomes)
    total = summary["requests"]
    share = f"{summary['kept'] / total:.1%}" if total else "n/a"
    lines = [f"# {title}", "", *[f"- {note}" for note in notes], f"- requests: {total}, kept: {summary['kept']} ({share})", ""]
    lines += ["## Funnel", "", "| stage | in | dropped | out |", "|---|---:|---:|---:|"]
    lines += [f"| {s['stage']} | {s['in']} | {s['dropped']} | {s['out']} |" for s in summary["funnel"]]
    examples = {}
    for outcome in outcomes:
        if outcome.drop is not None:
            examples.setdefault(outcome.drop.reason, outcome)
    lines += ["", "## Drops by reason", "", "| reason | stage | count | example (request: detail) |", "|---|---|---:|---|"]
    for reason, count in summary["drops"].items():
        example = examples[reason]
        detail = example.drop.detail[:160].replace("|", "\\|").replace("\n", " ").replace("<", "&lt;")
        lines.append(f"| {reason} | {STAGE_OF[reason]} | {count} | #{example.request_id}: {detail} |")
    if not summary["drops"]:
        lines.append("| (none) | | 0 | |")
    lines += ["", "## Per tool", "", "| tool | requested | written by teacher | kept | dropped after parsing |", "|---|---:|---:|---:|---:|"]
    for name, counts in summary["tools"].items():
        lines.append(
            f"| {name} | {counts.get('requested', 0)} | {counts.get('written', 0)} | {counts.get('kept', 0)} | {counts.get('dropped', 0)} |"
        )
    return "\n".join(lines) + "\n"
