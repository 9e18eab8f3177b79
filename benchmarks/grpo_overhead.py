"""python benchmarks/grpo_overhead.py [--steps 4] [--rounds 3] [--pipeline runs/pipeline_quick]

GRPO step time of rlkit's trainer (ToolCallGRPOTrainer: marker-keeping reward text + rollout
metrics; dynamic sampling off, since it does more generation per step by design) against plain
TRL `GRPOTrainer` with the same reward functions, weights, data, model and seeds. The two run
alternately (A B A B ...) in one process so machine load hits both alike; the ratio of median
step times is the overhead. Also reports the pipeline's wall time per stage when `--pipeline`
points at a finished pipeline run. Writes benchmarks/results/grpo_overhead.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch
from transformers import TrainerCallback
from trl import GRPOConfig, GRPOTrainer

from rlkit.envs.registry import make_dataset
from rlkit.chat import render_prompt
from rlkit.grpo.trainer import ToolCallGRPOTrainer
from rlkit.model import end_of_turn_id, ensure_tiny_lfm2, load_model_and_tokenizer
from rlkit.rewards import NgramRepetitionPenalty, format_reward, tool_call_reward

RESULTS = Path(__file__).parent / "results" / "grpo_overhead.md"


class StepTimer(TrainerCallback):
    """Wall and process-CPU time of every optimizer step (generation + scoring + backward).

    CPU time is the steadier measure on a shared machine: other jobs stretch wall time, not the
    CPU seconds this process spends (torch runs one thread here, so CPU time ≈ work done).
    """

    def __init__(self):
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self._start = (0.0, 0.0)

    def on_step_begin(self, args, state, control, **kwargs):
        self._start = (time.perf_counter(), time.process_time())

    def on_step_end(self, args, state, control, **kwargs):
        self.wall.append(time.perf_counter() - self._start[0])
        self.cpu.append(time.process_time() - self._start[1])


def run(kind: str, model_dir: str, rows, steps: int, out: Path) -> StepTimer:
    """Train `steps` GRPO steps with one trainer kind; return its step timer (first step dropped)."""
    model, tokenizer = load_model_and_tokenizer(model_dir)
    args = GRPOConfig(
        output_dir=str(out), max_steps=steps + 1, per_device_train_batch_size=16, num_generations=4,
        max_completion_length=32, learning_rate=1e-4, reward_weights=[1.0, 0.5, 0.1], logging_steps=1,
        save_strategy="no", report_to="none", seed=0, bf16=False, gradient_checkpointing=False, use_cpu=True,
        shuffle_dataset=False,
    )
    reward_funcs = [tool_call_reward, NgramRepetitionPenalty(n=4), format_reward]
    timer = StepTimer()
    common = dict(model=model, reward_funcs=reward_funcs, args=args, train_dataset=rows, processing_class=tokenizer,
                  callbacks=[timer])
    if kind == "rlkit":
        trainer = ToolCallGRPOTrainer(**common, end_of_turn_id=end_of_turn_id(tokenizer), dynamic_sampling=False)
    else:
        trainer = GRPOTrainer(**common)
    trainer.train()
    timer.wall, timer.cpu = timer.wall[1:], timer.cpu[1:]  # the first step pays one-off warm-up costs
    return timer


def pipeline_rows(pipeline_dir: Path) -> list[str]:
    """Markdown rows of a finished pipeline run's wall times (from its pipeline.json)."""
    report = json.loads((pipeline_dir / "pipeline.json").read_text())
    lines = ["| stage | train wall time | eval wall time |", "|---|---|---|"]
    for stage in report["stages"]:
        lines.append(f"| {stage['stage']} | {stage['wall_seconds'] / 60:.1f} min | {stage['eval_seconds']:.0f} s |")
    lines.append(f"| **total** | {report['total_seconds'] / 60:.1f} min | |")
    return lines


def main() -> None:
    """Measure, print and write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4, help="timed steps per run (after one warm-up step)")
    parser.add_argument("--rounds", type=int, default=3, help="A/B alternations")
    parser.add_argument("--model", default="", help="model folder (default: the tiny LFM2)")
    parser.add_argument("--pipeline", default="", help="a finished pipeline output_dir to report wall times of")
    args = parser.parse_args()
    torch.set_num_threads(1)
    os.environ.setdefault("WANDB_MODE", "offline")
    model_dir = args.model or str(ensure_tiny_lfm2())
    _, tokenizer = load_model_and_tokenizer(model_dir)
    rows = make_dataset("smart_home", "train", 64, seed=1, kind="next_call")
    rows = rows.map(lambda r: {"prompt": render_prompt(tokenizer, r["messages"], r["tools"], "compact")},
                    remove_columns=["messages"])

    wall: dict[str, list[float]] = {"plain": [], "rlkit": []}
    cpu: dict[str, list[float]] = {"plain": [], "rlkit": []}
    out = Path("runs") / "bench_grpo_overhead"
    for round_index in range(args.rounds):
        for kind in ("plain", "rlkit") if round_index % 2 == 0 else ("rlkit", "plain"):
            timer = run(kind, model_dir, rows, args.steps, out / kind)
            wall[kind] += timer.wall
            cpu[kind] += timer.cpu
            print(f"round {round_index} {kind}: median CPU {statistics.median(cpu[kind]):.3f} s/step", flush=True)

    med = {k: (statistics.median(wall[k]), statistics.median(cpu[k])) for k in wall}
    lines = [
        "# GRPO step overhead: rlkit ToolCallGRPOTrainer vs plain TRL GRPOTrainer",
        "",
        f"Command: `python benchmarks/grpo_overhead.py --steps {args.steps} --rounds {args.rounds}`. "
        f"Model: `{Path(model_dir).name}`; 16 completions/step (4 prompts × 4), 32 new tokens max, same rewards "
        f"(tool-call, 4-gram repetition, format; weights 1/0.5/0.1), same data and seeds; runs alternate in one "
        f"process; first step of each run dropped. Machine: {platform.machine()}, {os.cpu_count()} cores visible, "
        f"torch threads 1, shared with other jobs (noisy: compare the ratio, not the absolute times).",
        "",
        "| trainer | median CPU s/step | median wall s/step | steps timed |",
        "|---|---|---|---|",
        f"| TRL GRPOTrainer | {med['plain'][1]:.3f} | {med['plain'][0]:.3f} | {len(cpu['plain'])} |",
        f"| rlkit ToolCallGRPOTrainer (dynamic sampling off) | {med['rlkit'][1]:.3f} | {med['rlkit'][0]:.3f} | {len(cpu['rlkit'])} |",
        "",
        f"**Ratio rlkit / plain: {med['rlkit'][1] / med['plain'][1]:.3f} in CPU time**, "
        f"{med['rlkit'][0] / med['plain'][0]:.3f} in wall time (goal ≤ 1.05).",
    ]
    if args.pipeline:
        lines += ["", f"## Pipeline wall time (`{args.pipeline}`)", "", *pipeline_rows(Path(args.pipeline))]
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)


if __name__ == "__main__":
    main()
