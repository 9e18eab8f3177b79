"""PNG plots of eval metrics (matplotlib, Agg backend: no display needed).

Every function takes the JSON-form metrics (`{setting: setting_metrics(...)}`, keys may be strings
after a JSON round trip), writes one labelled PNG and returns its path, or None when there is
nothing to plot (e.g. no multi-turn data).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first


def _percent(value: float | None) -> float:
    return 0.0 if value is None else 100.0 * value


def grouped_bars(path: Path, title: str, ylabel: str, groups: list[str], series: dict[str, list[float | None]],
                 percent: bool = True) -> Path:
    """One bar per (group, series), value labels on top; the building block of every bar plot here."""
    width = 0.8 / max(len(series), 1)
    fig, ax = plt.subplots(figsize=(min(13.0, max(6.0, 0.45 * len(groups) * max(len(series), 1) + 2.5)), 5.0))
    for index, (name, values) in enumerate(series.items()):
        xs = [g + (index - (len(series) - 1) / 2) * width for g in range(len(groups))]
        heights = [_percent(v) if percent else (v or 0.0) for v in values]
        bars = ax.bar(xs, heights, width, label=name)
        labels = ["n/a" if v is None else (f"{h:.0f}%" if percent else f"{h:.1f}") for v, h in zip(values, heights)]
        ax.bar_label(bars, labels=labels, fontsize=7, padding=1)
    tilt = len(groups) > 4
    ax.set_xticks(range(len(groups)), groups, rotation=35 if tilt else 0, ha="right" if tilt else "center",
                  rotation_mode="anchor", fontsize=8 if tilt else 10)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if percent:
        ax.set_ylim(0, 110)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_accuracy_by_tool(metrics: dict[str, dict], path: Path) -> Path | None:
    """Tool-call equivalence per reference tool, one bar per generation setting."""
    tools = sorted({tool for m in metrics.values() for tool in m["calls"]["per_tool"]})
    if not tools:
        return None
    series = {
        setting: [m["calls"]["per_tool"].get(tool, {}).get("accuracy") for tool in tools]
        for setting, m in metrics.items()
    }
    groups = [f"{tool} (n={_tool_n(metrics, tool)})" for tool in tools]
    return grouped_bars(path, "Tool-call equivalence by reference tool", "equivalent calls (%)", groups, series)


def _tool_n(metrics: dict[str, dict], tool: str) -> int:
    return max(m["calls"]["per_tool"].get(tool, {}).get("n", 0) for m in metrics.values())


def plot_accuracy_by_turn(metrics: dict[str, dict], path: Path) -> Path | None:
    """Accuracy at user turn k: reference history vs the model's own history, per setting."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    drawn = False
    for index, (setting, m) in enumerate(metrics.items()):
        color = plt.get_cmap("tab10")(index % 10)  # one colour per setting; line style tells the history mode
        for label, table, style in (
            ("correct history", m.get("accuracy_by_turn_correct_history") or {}, "-o"),
            ("own history", (m.get("episodes") or {}).get("accuracy_by_turn_own_history") or {}, "--s"),
        ):
            if not table:
                continue
            turns = sorted(table, key=int)
            ax.plot([int(t) + 1 for t in turns], [_percent(table[t]["accuracy"]) for t in turns], style,
                    color=color, label=f"{setting}, {label}")
            drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.set_xlabel("user turn k (1 = first)")
    ax.set_ylabel("turns with equivalent calls (%)")
    ax.set_title("Accuracy at turn k: correct history vs own history")
    ax.set_ylim(-3, 105)  # lines at 0% stay visible above the axis
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_loops(metrics: dict[str, dict], path: Path) -> Path | None:
    """Loop rate (left) and mean completion length (right) per generation setting."""
    if not metrics:
        return None
    settings = list(metrics)
    generation = [metrics[s]["generation"] for s in settings]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 4.2))
    bars = left.bar(settings, [_percent(g["loop_rate"]) for g in generation], color="tab:red")
    left.bar_label(bars, labels=[f"{_percent(g['loop_rate']):.1f}%\n(n={g['n']})" for g in generation], fontsize=8)
    left.set_ylabel("completions flagged as loops (%)")
    left.set_title("Loop rate by generation setting")
    left.set_ylim(0, max(10.0, 1.3 * max(_percent(g["loop_rate"]) for g in generation)))
    bars = right.bar(settings, [g["mean_length"] or 0.0 for g in generation], color="tab:blue")
    right.bar_label(bars, labels=[f"{g['mean_length'] or 0:.1f}" for g in generation], fontsize=8)
    right.set_ylabel("mean generated tokens")
    right.set_title("Mean completion length")
    for ax in (left, right):
        ax.tick_params(axis="x", labelrotation=15)
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
