"""Narrow SFT of smollm2-135m on 2 CPU cores: full weights vs LoRA, fp32 vs bf16, per CPU-minute.

    python benchmarks/sft_smollm2.py --steps 16

Each arm runs `recipes/sft.py` in its own process for `--steps` steps on the same rows (smart-home
and banking env conversations, batch 4, 2 threads), then the held-out eval scores its model at
greedy on the smart-home test split's call steps (vLLM engine). Reported per arm: train wall
time, seconds per step, the first and last logged training loss and the drop per train minute,
equivalence with its 95% interval. The real preset's `sft:` section follows the winner.
Arms are cached under `--work` (a rerun resumes); the table goes to benchmarks/results/sft_smollm2.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "sft_smollm2.md"
ARMS = {  # name -> recipes/sft.py overrides
    "full fp32": ["lora.enabled=false", "train.learning_rate=1.0e-4"],
    "full bf16 autocast": ["lora.enabled=false", "train.learning_rate=1.0e-4", "train.bf16=true"],
    "lora r16 + token rows fp32": ["lora.enabled=true", "lora.r=16", "train.learning_rate=1.0e-3"],
}


def train_arm(name: str, overrides: list[str], steps: int, work: Path) -> dict:
    out = work / name.replace(" ", "_").replace(",", "").replace("+", "plus")
    record = out / "arm.json"
    if record.is_file():
        return json.loads(record.read_text())
    command = [sys.executable, str(ROOT / "recipes" / "sft.py"), "model=smollm2-135m", f"output_dir={out}",
               "data.env=smart_home,banking", "data.num_rows=400", f"train.max_steps={steps}", "train.batch_size=4",
               "train.warmup_steps=2", "train.logging_steps=4", "train.num_threads=2", "train.report_to=none", *overrides]
    started = time.perf_counter()
    subprocess.run(command, check=True)
    wall = time.perf_counter() - started
    history = json.loads((out / "log_history.json").read_text())
    losses = [h["loss"] for h in history if "loss" in h]
    runtime = next(h["train_runtime"] for h in history if "train_runtime" in h)
    result = {"arm": name, "wall_s": wall, "train_runtime_s": runtime, "s_per_step": runtime / steps,
              "first_loss": losses[0], "last_loss": losses[-1], "model": str(out / "model")}
    result.update(eval_arm(result["model"]))
    record.write_text(json.dumps(result, indent=1))
    return result


EVAL_CODE = """
import json, sys
from rlkit.eval import GREEDY, evaluate, load_eval_data
from rlkit.eval.backends import engine_for_model
from rlkit.pipeline.eval import summarize

if __name__ == "__main__":  # vLLM's engine spawns
    data = load_eval_data("smart_home", split="test", episodes=24, seed=0)
    calls = [example for example in data.examples if example.kind == "call"]
    result = evaluate(engine_for_model(sys.argv[1], backend="vllm"), calls, [GREEDY], max_tokens=96)
    print("EVAL " + json.dumps(summarize(result.metrics["greedy"])))
"""


def eval_arm(model: str) -> dict:
    """Greedy equivalence on the smart-home test split's call steps, in a child process (vLLM)."""
    output = subprocess.run([sys.executable, "-c", EVAL_CODE, model], check=True, capture_output=True, text=True).stdout
    metrics = json.loads(next(line for line in output.splitlines() if line.startswith("EVAL "))[5:])
    return {key: metrics[key] for key in ("equivalence", "equivalence_ci", "calls", "parse_error_rate")}


def table(results: list[dict], steps: int) -> str:
    lines = [
        "# Narrow SFT of smollm2-135m: which arm learns most per CPU-minute", "",
        f"`python benchmarks/sft_smollm2.py --steps {steps}` — {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, one run; arms run one after another on the same 400 rows "
        "(smart-home + banking env conversations, batch 4, 2 torch threads). Eval: greedy, the smart-home "
        "test split's call steps (24 episodes), vLLM CPU engine.", "",
        "| arm | s/step | train wall | loss first → last | loss drop / train min | equivalence [95% CI] | parse errors | calls |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        low, high = r["equivalence_ci"]
        lines.append(
            f"| {r['arm']} | {r['s_per_step']:.1f} | {r['train_runtime_s'] / 60:.1f} min | {r['first_loss']:.2f} → {r['last_loss']:.2f} | "
            f"{(r['first_loss'] - r['last_loss']) / (r['train_runtime_s'] / 60):.3f} | "
            f"{100 * r['equivalence']:.1f}% [{100 * low:.1f}–{100 * high:.1f}] | {100 * r['parse_error_rate']:.1f}% | {r['calls']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--arms", default=",".join(ARMS), help="comma-separated arm names")
    parser.add_argument("--work", default="runs/bench_sft_smollm2")
    args = parser.parse_args()
    results = [train_arm(name, ARMS[name], args.steps, Path(args.work)) for name in args.arms.split(",")]
    text = table(results, args.steps)
    RESULTS.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
