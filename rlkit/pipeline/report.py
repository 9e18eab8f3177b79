"""The pipeline's per-stage table: printed, and written as Markdown, JSON and a PNG chart."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

log = logging.getLogger(__name__)


@dataclass
class StageRow:
    """One stage's outcome: its model, held-out metrics per generation setting, and wall times."""

    stage: str
    model: str
    metrics: dict[str, dict[str, Any]]  # setting name -> equivalence, loop_rate, mean_length, ...
    wall_seconds: float
    eval_seconds: float = 0.0
    skipped: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _percent(value: float | None, interval: list[float] | None = None) -> str:
    if value is None:
        return "n/a"
    return f"{100 * value:.1f}%" + (f" [{100 * interval[0]:.1f}–{100 * interval[1]:.1f}]" if interval else "")


LoopOn = Literal["all", "replies"]


def pipeline_table(rows: list[StageRow], total_seconds: float | None = None, loop_on: LoopOn = "all") -> str:
    """Markdown table: per stage, equivalence and loop rate under each setting, mean length, wall time.

    `loop_on="all"` reports loops over every completion; `"replies"` over the free-text reply steps
    alone (where loops live), with the replies scored and each stage's eval wall time. A column
    with nothing to count in any stage (a reply-only setting's equivalence) is left out; rates
    show their 95% interval when the metrics carry one.

    >>> row = StageRow("sft", "m", {"greedy": {"equivalence": 0.5, "loop_rate": 0.0, "mean_length": 12.0, "calls": 8}}, 61.0)
    >>> print(pipeline_table([row]))
    | stage | equivalence (greedy) | loop rate (greedy) | mean length (tokens) | calls scored | train wall time |
    |---|---|---|---|---|---|
    | sft | 50.0% | 0.0% | 12.0 | 8 | 1.0 min |
    """
    done = [r for r in rows if r.metrics]
    settings = list(dict.fromkeys(name for r in done for name in r.metrics))
    loop_key, loop_name = ("reply_loop_rate", "free-text loop rate") if loop_on == "replies" else ("loop_rate", "loop rate")
    columns = []  # (header, setting, value key, interval key)
    for name in settings:
        if any(r.metrics.get(name, {}).get("calls", 1) for r in done):
            columns.append((f"equivalence ({name})", name, "equivalence", "equivalence_ci"))
        if loop_on == "all" or any(r.metrics.get(name, {}).get("replies") for r in done):
            columns.append((f"{loop_name} ({name})", name, loop_key, "reply_loop_ci" if loop_on == "replies" else ""))
    header = ["stage"] + [c[0] for c in columns] + ["mean length (tokens)", "calls scored"]
    header += ["replies scored", "train wall time", "eval wall time"] if loop_on == "replies" else ["train wall time"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        if row.skipped:
            lines.append(f"| {row.stage} | skipped: {row.skipped} |" + " |" * (len(header) - 2))
            continue
        cells = [row.stage]
        for _, name, key, interval in columns:
            metrics = row.metrics.get(name, {})
            cells.append(_percent(metrics.get(key), metrics.get(interval) if interval else None))
        first = row.metrics[settings[0]] if settings else {}
        length = first.get("mean_length")
        cells += ["n/a" if length is None else f"{length:.1f}", str(first.get("calls", ""))]
        if loop_on == "replies":
            cells.append(str(first.get("replies", "")))
        cells.append(f"{row.wall_seconds / 60:.1f} min" if row.wall_seconds else "-")
        if loop_on == "replies":
            cells.append(f"{row.eval_seconds / 60:.1f} min")
        lines.append("| " + " | ".join(cells) + " |")
    if total_seconds is not None:
        lines.append("")
        lines.append(f"Total wall time (training + evals): {total_seconds / 60:.1f} min.")
    return "\n".join(lines)


def write_pipeline_report(rows: list[StageRow], output_dir: Path, title: str, total_seconds: float,
                          loop_on: LoopOn = "all") -> str:
    """Write pipeline.md / pipeline.json / pipeline.png under `output_dir`; return the Markdown table."""
    output_dir.mkdir(parents=True, exist_ok=True)
    table = pipeline_table(rows, total_seconds, loop_on)
    (output_dir / "pipeline.md").write_text(f"# {title}\n\n{table}\n")
    (output_dir / "pipeline.json").write_text(
        json.dumps({"title": title, "total_seconds": total_seconds, "stages": [asdict(r) for r in rows]}, indent=1)
    )
    _plot(rows, output_dir / "pipeline.png", title, loop_on)
    return table


def _plot(rows: list[StageRow], path: Path, title: str, loop_on: LoopOn = "all") -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.warning("matplotlib is not installed: %s not written (pip install matplotlib)", path)
        return
    done = [r for r in rows if r.metrics]
    if not done:
        return
    setting = next(iter(done[0].metrics))
    names = [r.stage for r in done]
    equivalence = [100 * (r.metrics[setting]["equivalence"] or 0.0) for r in done]
    loop_key = "reply_loop_rate" if loop_on == "replies" else "loop_rate"
    loops = [100 * (r.metrics[setting][loop_key] or 0.0) for r in done]
    figure, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    axes[0].bar(names, equivalence, color="tab:blue")
    axes[0].set_title(f"tool-call equivalence ({setting})")
    axes[0].set_ylabel("%")
    axes[0].set_ylim(0, 100)
    axes[1].bar(names, loops, color="tab:red")
    axes[1].set_title(f"{'free-text ' if loop_on == 'replies' else ''}loop rate ({setting})")
    axes[1].set_ylim(0, max(10.0, max(loops) * 1.2))
    for axis, values in zip(axes, (equivalence, loops)):
        for x, value in enumerate(values):
            axis.text(x, value, f"{value:.1f}", ha="center", va="bottom", fontsize=8)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
