"""Base models before any training: tool-call equivalence, parse errors and free-text loop rate.

    python benchmarks/base_models.py                                  # tiny-lfm2 and smollm2-135m
    python benchmarks/base_models.py --models smollm2-135m --episodes 4 --backend vllm

For each model, data set and tool style (`compact`, `json`), the eval harness runs every held-out
example at greedy, temperature 0.3 and temperature 1.0 with 256 new tokens: the env test splits
(smart_home, banking, shell: every next-call and reply step of `--episodes` generated episodes)
and the real banking rows in ../shared/data/banking (distil format, never trained on). Reported:
equivalence over call steps, parse-error rate, loop rate over free-text (reply) steps, and the
wall time of each eval. Each cell is cached under `--work` (a rerun resumes); the table goes to
benchmarks/results/base_models.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "base_models.md"
BANKING = Path(__file__).resolve().parents[2] / "shared" / "data" / "banking"
SETTINGS = [("greedy", 0.0), ("T=0.3", 0.3), ("T=1.0", 1.0)]


def data_sets(episodes: int, limit: int = 0) -> dict[str, dict[str, Any]]:
    """Name -> load_eval_data arguments."""
    sets = {env: {"data": env, "episodes": episodes} for env in ("smart_home", "banking", "shell")}
    if (BANKING / "train.jsonl").is_file():
        sets["banking (real rows)"] = {"data": str(BANKING / "train.jsonl"), "tools": str(BANKING / "job_description.json"),
                                       "limit": limit}
    return sets


def run_cell(model: str, backend: str, data_args: dict[str, Any], tool_style: str, max_tokens: int, batch_size: int) -> dict:
    """One eval: metrics per setting and its wall time."""
    from rlkit.eval import GenerationSetting, evaluate, load_eval_data
    from rlkit.eval.backends import engine_for_model

    data = load_eval_data(data_args["data"], data_args.get("tools"), None, split="test",
                          episodes=data_args.get("episodes", 8), limit=data_args.get("limit", 0), seed=0)
    settings = [GenerationSetting(name, temperature=t) for name, t in SETTINGS]
    started = time.perf_counter()
    engine = engine_for_model(model, backend=backend, tool_style=tool_style, batch_size=batch_size)
    # Whole episodes on the model's own history are the multi-turn eval; the base table scores steps.
    result = evaluate(engine, data.examples, settings, max_tokens=max_tokens, seed=0)
    seconds = time.perf_counter() - started
    close = getattr(engine, "close", None)
    if callable(close):
        close()
    cells = {}
    for name, metrics in result.metrics.items():
        cells[name] = {
            "equivalence": metrics["calls"]["equivalence"], "calls": metrics["calls"]["n"],
            "parse_error_rate": metrics["calls"]["parse_error_rate"],
            "reply_loop_rate": metrics["replies"]["loop_rate"], "replies": metrics["replies"]["n"],
        }
    return {"settings": cells, "seconds": seconds, "examples": len(data.examples)}


def pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def table(results: dict[str, dict], machine: str, command: str) -> str:
    """The Markdown report."""
    lines = [
        "# Base models before training", "",
        f"`{command}`", "", f"Machine: {machine}. One run per cell; n = call steps / reply steps.", "",
        "| model | data | tool style | equivalence greedy / T0.3 / T1.0 | parse errors (greedy) | free-text loop rate greedy / T0.3 / T1.0 | n calls / replies | eval wall |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, cell in results.items():
        model, data, style = key.split(" | ")
        s = cell["settings"]
        first = s[SETTINGS[0][0]]
        lines.append(
            f"| {model} | {data} | {style} | {' / '.join(pct(s[n]['equivalence']) for n, _ in SETTINGS)} | "
            f"{pct(first['parse_error_rate'])} | {' / '.join(pct(s[n]['reply_loop_rate']) for n, _ in SETTINGS)} | "
            f"{first['calls']} / {first['replies']} | {cell['seconds'] / 60:.1f} min |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="tiny-lfm2,smollm2-135m")
    parser.add_argument("--episodes", type=int, default=4, help="env test episodes per env")
    parser.add_argument("--styles", default="compact,json")
    parser.add_argument("--rows", type=int, default=0, help="the first N real banking rows (0 = all 77)")
    parser.add_argument("--data", default="", help="comma-separated subset of the data set names")
    parser.add_argument("--backend", default="auto", help="eval backend: auto | hf | vllm")
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work", default="runs/base_models")
    parser.add_argument("--table-only", action="store_true", help="write the table from the cached cells, run nothing")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    cache = work / "cells.json"
    results: dict[str, dict] = json.loads(cache.read_text()) if cache.is_file() else {}
    sets = data_sets(args.episodes, args.rows)
    wanted = [d.strip() for d in args.data.split(",") if d.strip()] or list(sets)
    for model in [] if args.table_only else args.models.split(","):
        for data_name in wanted:
            for style in args.styles.split(","):
                key = f"{model} | {data_name} | {style}"
                if key in results:
                    continue
                print(f"evaluating {key} ...", flush=True)
                results[key] = run_cell(model, args.backend, sets[data_name], style, args.max_tokens, args.batch_size)
                cache.write_text(json.dumps(results, indent=1))  # resumable: one cell at a time
                print(f"  {results[key]['seconds'] / 60:.1f} min", flush=True)
    machine = f"{platform.machine()}, {os.cpu_count()} CPU cores, torch threads {args.threads}, backend {args.backend}"
    command = "python benchmarks/base_models.py " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k not in ("work", "table_only"))
    RESULTS.write_text(table(results, machine, command))
    print(RESULTS.read_text())


if __name__ == "__main__":
    main()
