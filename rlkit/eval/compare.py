"""Put two or more eval runs side by side (e.g. base vs SFT vs DPO vs GRPO): Markdown + PNGs.

Runs are read from their `results.json`; a setting missing from a run shows as n/a. Labels
default to the run directories' names.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from rlkit.eval.report import load_results, num, pct

log = logging.getLogger(__name__)

COMPARE_FILE = "compare.md"


def compare_runs(run_dirs: list[str | Path], out_dir: str | Path, labels: list[str] | None = None) -> dict[str, Path]:
    """Read each run's results, write `compare.md` and comparison plots into `out_dir`; return paths."""
    if len(run_dirs) < 2:
        raise ValueError(f"compare needs at least two runs, got {len(run_dirs)}")
    labels = list(labels) if labels else [Path(d).name or str(d) for d in run_dirs]
    if len(labels) != len(run_dirs):
        raise ValueError(f"{len(labels)} labels for {len(run_dirs)} runs")
    runs = {label: load_results(d) for label, d in zip(labels, run_dirs)}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = _ordered_settings(runs)
    tools = sorted({t for run in runs.values() for m in run["metrics"].values() for t in m["calls"]["per_tool"]})
    paths = _compare_plots(runs, settings, tools, out_dir)
    paths["markdown"] = out_dir / COMPARE_FILE
    paths["markdown"].write_text(compare_markdown(runs, settings, tools, [p.name for p in paths.values()]))
    return paths


def _compare_plots(runs: dict[str, dict], settings: list[str], tools: list[str], out_dir: Path) -> dict[str, Path]:
    try:
        from rlkit.eval.plots import grouped_bars
    except ImportError:
        log.warning("matplotlib is not installed: no comparison plots (pip install matplotlib)")
        return {}
    paths = {
        "equivalence": grouped_bars(
            out_dir / "compare_equivalence.png", "Tool-call equivalence by run and setting", "equivalent calls (%)",
            settings, {label: [_metric(run, s, "calls", "equivalence") for s in settings] for label, run in runs.items()},
        ),
        "loops": grouped_bars(
            out_dir / "compare_loop_rate.png", "Loop rate by run and setting", "completions flagged as loops (%)",
            settings, {label: [_metric(run, s, "generation", "loop_rate") for s in settings] for label, run in runs.items()},
        ),
    }
    if tools:
        paths["accuracy_by_tool"] = grouped_bars(
            out_dir / "compare_accuracy_by_tool.png", f"Accuracy by reference tool ({settings[0]})",
            "equivalent calls (%)", tools,
            {label: [_tool_accuracy(run, settings[0], tool) for tool in tools] for label, run in runs.items()},
        )
    return paths


def _ordered_settings(runs: dict[str, dict]) -> list[str]:
    order: list[str] = []
    for run in runs.values():
        order += [s for s in run["metrics"] if s not in order]
    return order


def _metric(run: dict, setting: str, section: str, key: str) -> Any:
    return run["metrics"].get(setting, {}).get(section, {}).get(key)


def _tool_accuracy(run: dict, setting: str, tool: str) -> float | None:
    return run["metrics"].get(setting, {}).get("calls", {}).get("per_tool", {}).get(tool, {}).get("accuracy")


def compare_markdown(runs: dict[str, dict], settings: list[str], tools: list[str], images: list[str] = ()) -> str:
    """The side-by-side Markdown tables (one row per run and setting; per-tool at the first setting)."""
    lines = ["# Eval comparison", "", "| run | model | data | setting | n | equivalence | parse errors | loop rate | "
             "mean length | episode success |", "|---|---|---|---|---|---|---|---|---|---|"]
    for label, run in runs.items():
        meta = run.get("meta", {})
        for setting in settings:
            if setting not in run["metrics"]:
                continue
            m = run["metrics"][setting]
            episodes = m.get("episodes") or {}
            lines.append(
                f"| {label} | {meta.get('model', '?')} | {meta.get('data', '?')} | {setting} | {m['calls']['n']} | "
                f"{pct(m['calls']['equivalence'])} | {pct(m['calls']['parse_error_rate'])} | "
                f"{pct(m['generation']['loop_rate'])} | {num(m['generation']['mean_length'])} | "
                f"{pct(episodes.get('success_rate'))} |"
            )
    if tools:
        lines += ["", f"## Accuracy by reference tool ({settings[0]})", "",
                  "| tool | " + " | ".join(runs) + " |", "|---|" + "---|" * len(runs)]
        for tool in tools:
            lines.append(f"| {tool} | " + " | ".join(pct(_tool_accuracy(r, settings[0], tool)) for r in runs.values()) + " |")
    if images:
        lines += ["", "## Plots", ""] + [f"![{image}]({image})" for image in images if image.endswith(".png")]
    return "\n".join(lines) + "\n"
