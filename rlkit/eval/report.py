"""Write an eval run to disk: `results.json` (everything), `summary.md`, and PNG plots."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from rlkit.eval.harness import EvalResult

log = logging.getLogger(__name__)

RESULTS_FILE = "results.json"
SUMMARY_FILE = "summary.md"


def pct(value: float | None) -> str:
    """A rate as `12.3%`, or `n/a` when nothing was counted."""
    return "n/a" if value is None else f"{100 * value:.1f}%"


def num(value: float | None) -> str:
    """A mean as `12.3`, or `n/a`."""
    return "n/a" if value is None else f"{value:.1f}"


def write_report(result: EvalResult, out_dir: str | Path) -> dict[str, Path]:
    """Write the JSON, the Markdown summary and the plots of one run; return their paths by kind."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # A JSON round trip first, so the summary is built from exactly what a later reader sees.
    data = json.loads(json.dumps(result.to_dict(), ensure_ascii=False, default=str))
    data["summary_line"] = result.summary_line()
    paths = {"json": out_dir / RESULTS_FILE}
    paths["json"].write_text(json.dumps(data, indent=1, ensure_ascii=False))
    plots = write_plots(data["metrics"], out_dir)
    paths.update({name: path for name, path in plots.items() if path is not None})
    paths["markdown"] = out_dir / SUMMARY_FILE
    paths["markdown"].write_text(summary_markdown(data, [p.name for p in plots.values() if p is not None]))
    return paths


def write_plots(metrics: dict[str, dict], out_dir: Path) -> dict[str, Path | None]:
    """The run's PNGs (none, with a warning, when matplotlib is not installed: it is a dev extra)."""
    try:
        from rlkit.eval.plots import plot_accuracy_by_tool, plot_accuracy_by_turn, plot_loops
    except ImportError:
        log.warning("matplotlib is not installed: no PNG plots written to %s (pip install matplotlib)", out_dir)
        return {}
    return {
        "accuracy_by_tool": plot_accuracy_by_tool(metrics, out_dir / "accuracy_by_tool.png"),
        "accuracy_by_turn": plot_accuracy_by_turn(metrics, out_dir / "accuracy_by_turn.png"),
        "loops": plot_loops(metrics, out_dir / "loop_rate_by_setting.png"),
    }


def load_results(run_dir: str | Path) -> dict[str, Any]:
    """The JSON report of a run directory (or of a `results.json` path)."""
    path = Path(run_dir)
    path = path / RESULTS_FILE if path.is_dir() else path
    if not path.is_file():
        raise FileNotFoundError(f"no eval results at {path} (expected the {RESULTS_FILE} an eval run writes)")
    return json.loads(path.read_text())


def summary_markdown(data: dict[str, Any], images: list[str] = ()) -> str:
    """The Markdown summary of one run's JSON report."""
    metrics, meta = data["metrics"], data.get("meta", {})
    lines = [f"# Eval: {meta.get('model', '?')} on {meta.get('data', '?')}", "", f"**{data['summary_line']}** "
             f"(first setting: {data['settings'][0]['name']})", ""]
    lines += ["| setting | call examples | equivalence | parse errors | loop rate | mean length | hit limit | reply facts recall |",
              "|---|---|---|---|---|---|---|---|"]
    for name, m in metrics.items():
        c, g, r = m["calls"], m["generation"], m["replies"]
        lines.append(f"| {name} | {c['n']} | {pct(c['equivalence'])} | {pct(c['parse_error_rate'])} | "
                     f"{pct(g['loop_rate'])} | {num(g['mean_length'])} | {pct(g['hit_length_limit_rate'])} | "
                     f"{pct(r['facts_recall'])} |")
    settings = list(metrics)
    tools = sorted({tool for m in metrics.values() for tool in m["calls"]["per_tool"]})
    if tools:
        lines += ["", "## Accuracy by reference tool", "", "| tool | n | " + " | ".join(settings) + " |",
                  "|---|---|" + "---|" * len(settings)]
        for tool in tools:
            cells = [pct(metrics[s]["calls"]["per_tool"].get(tool, {}).get("accuracy")) for s in settings]
            n = metrics[settings[0]]["calls"]["per_tool"].get(tool, {}).get("n", 0)
            lines.append(f"| {tool} | {n} | " + " | ".join(cells) + " |")
    lines += _turn_tables(metrics)
    lines += ["", "## Failure reasons", "", "| setting | reason | count |", "|---|---|---|"]
    for name, m in metrics.items():
        for reason, count in m["calls"]["reasons"].items():
            lines.append(f"| {name} | {reason} | {count} |")
    if images:
        lines += ["", "## Plots", ""] + [f"![{image}]({image})" for image in images]
    return "\n".join(lines) + "\n"


def _turn_tables(metrics: dict[str, dict]) -> list[str]:
    lines: list[str] = []
    for name, m in metrics.items():
        correct = m.get("accuracy_by_turn_correct_history") or {}
        episodes = m.get("episodes") or {}
        own = episodes.get("accuracy_by_turn_own_history") or {}
        if not correct and not own:
            continue
        lines += ["", f"## Multi-turn ({name})", "", "| turn k | correct history | own history |", "|---|---|---|"]
        for turn in sorted(set(correct) | set(own), key=int):
            cells = [f"{pct(t[turn]['accuracy'])} (n={t[turn]['n']})" if turn in t else "n/a" for t in (correct, own)]
            lines.append(f"| {int(turn) + 1} | {cells[0]} | {cells[1]} |")
        if episodes:
            lines += ["", f"Episodes: {episodes['n']}, success {pct(episodes['success_rate'])}, final state matches "
                      f"{pct(episodes['final_state_match_rate'])}, turn loop rate {pct(episodes['turn_loop_rate'])}.",
                      "", "| user turns | episodes | success |", "|---|---|---|"]
            for turns, row in sorted(episodes["success_by_num_turns"].items(), key=lambda kv: int(kv[0])):
                lines.append(f"| {turns} | {row['n']} | {pct(row['accuracy'])} |")
    return lines
