"""Write an eval run to disk: `results.json` (everything), `summary.md`, and PNG plots."""

from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict
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
    if meta.get("bfcl"):
        lines += ["", *bfcl_table(meta["bfcl"])]
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


# --- BFCL summary: per-category verdicts as BFCL scores them, and its leaderboard aggregates ---

# Aggregate -> (member categories or aggregates, how BFCL combines them: "mean" of the members'
# accuracies, or "weighted" by their row counts), as in bfcl_eval's eval_runner_helper.
BFCL_AGGREGATES = {
    "simple (AST)": (("simple_python", "simple_java", "simple_javascript"), "mean"),
    "non-live (AST)": (("simple (AST)", "multiple", "parallel", "parallel_multiple"), "mean"),
    "live (AST)": (("live_simple", "live_multiple", "live_parallel", "live_parallel_multiple"), "weighted"),
    "irrelevance detection": (("irrelevance", "live_irrelevance"), "mean"),
    "relevance detection": (("live_relevance",), "mean"),
    "multi-turn": (("multi_turn_base", "multi_turn_miss_func", "multi_turn_miss_param", "multi_turn_long_context"),
                   "mean"),
}
# BFCL's overall weights (agentic, weight 40, is not run here): renormalized over the groups present.
BFCL_OVERALL_WEIGHTS = {"non-live (AST)": 10, "live (AST)": 10, "irrelevance detection": 10, "multi-turn": 30}


def bfcl_record_ok(record: Any) -> bool:
    """BFCL's single-turn verdict: no call for irrelevance, any well-formed call for relevance, else the checker's."""
    from rlkit.data.bfcl import ANY_CALL_CATEGORIES, NO_CALL_CATEGORIES

    made_call = record.parse_error is None and bool(record.calls)
    if record.source in NO_CALL_CATEGORIES:
        return not made_call
    if record.source in ANY_CALL_CATEGORIES:
        return made_call
    return bool(record.ok)


def bfcl_summary(result: EvalResult, max_steps_per_turn: int | None = None) -> dict[str, Any]:
    """Per setting: every BFCL category's accuracy, BFCL's aggregates, and the multi-turn failure types.

    Multi-turn episodes are re-scored by replaying each turn's calls (rlkit.envs.bfcl_multi_turn);
    a turn cut off at `max_steps_per_turn` while still calling counts as BFCL's force-termination.
    """
    from rlkit.envs.bfcl_multi_turn import check_multi_turn, multi_turn_row
    from rlkit.toolcall import PARSE_ERROR, ToolCall

    out: dict[str, Any] = {}
    for setting in result.settings:
        verdicts: dict[str, list[bool]] = defaultdict(list)
        for record in result.records:
            if record.setting == setting.name:
                verdicts[record.source].append(bfcl_record_ok(record))
        reasons: Counter = Counter()
        for episode in result.episodes:
            if episode.setting != setting.name:
                continue
            cut = max_steps_per_turn is not None and any(
                t.steps >= max_steps_per_turn and not t.reply and t.reason != PARSE_ERROR for t in episode.turns)
            turns = [[ToolCall(c["name"], c["arguments"]) for c in turn.calls] for turn in episode.turns]
            verdict = check_multi_turn(multi_turn_row(episode.episode_id), turns, force_terminated=cut)
            verdicts[episode.episode_id.rsplit("_", 1)[0]].append(verdict.ok)
            reasons[verdict.reason] += 1
        categories = {name: {"n": len(v), "correct": sum(v), "accuracy": sum(v) / len(v)}
                      for name, v in verdicts.items() if v}
        out[setting.name] = {"categories": categories, "aggregates": bfcl_aggregates(categories),
                             "multi_turn_verdicts": dict(reasons.most_common())}
    return out


def bfcl_aggregates(categories: dict[str, dict]) -> dict[str, dict]:
    """BFCL's aggregates over the categories present; `complete` is False when some member was not run."""
    scores: dict[str, dict] = dict(categories)
    out: dict[str, dict] = {}
    for name, (members, how) in BFCL_AGGREGATES.items():
        present = [scores[m] for m in members if m in scores]
        if not present:
            continue
        n = sum(p["n"] for p in present)
        if how == "weighted":
            accuracy = sum(p["accuracy"] * p["n"] for p in present) / n
        else:
            accuracy = sum(p["accuracy"] for p in present) / len(present)
        complete = len(present) == len(members) and all(p.get("complete", True) for p in present)
        out[name] = scores[name] = {"n": n, "accuracy": accuracy, "complete": complete}
    groups = {name: weight for name, weight in BFCL_OVERALL_WEIGHTS.items() if name in out}
    if groups:
        total = sum(groups.values())
        out["overall"] = {"n": sum(out[g]["n"] for g in groups),
                          "accuracy": sum(out[g]["accuracy"] * w for g, w in groups.items()) / total,
                          "complete": False, "groups": sorted(groups)}
    return out


def bfcl_table(summary: dict[str, Any]) -> list[str]:
    """Markdown lines of the BFCL summary: one row per category, then the aggregates, one column per setting."""
    settings = list(summary)
    first = summary[settings[0]]
    lines = ["## BFCL summary", "", "| category | n | " + " | ".join(settings) + " |",
             "|---|---|" + "---|" * len(settings)]
    for part in ("categories", "aggregates"):
        for name, row in first[part].items():
            mark = "" if part == "categories" or row.get("complete") else " *"
            label = name if part == "categories" else f"**{name}**{mark}"
            cells = [pct(summary[s][part].get(name, {}).get("accuracy")) for s in settings]
            lines.append(f"| {label} | {row['n']} | " + " | ".join(cells) + " |")
    lines += ["", "Aggregates as BFCL computes them: simple, non-live, irrelevance detection and multi-turn are "
              "unweighted means of their categories, live is weighted by rows; overall uses BFCL's weights "
              "(non-live 10, live 10, irrelevance 10, multi-turn 30; agentic not run) over the groups present. "
              "* = not every member category was run (overall always lacks agentic).", ""]
    for setting in settings:
        if summary[setting]["multi_turn_verdicts"]:
            counts = summary[setting]["multi_turn_verdicts"].items()
            verdicts = ", ".join(f"{reason} {count}" for reason, count in counts)
            lines.append(f"Multi-turn verdicts ({setting}): {verdicts}.")
    return lines
