"""python benchmarks/dynamic_sampling.py --model runs/pipeline_quick/sft/model [--steps 12] [--seeds 0]

Does dynamic sampling help? GRPO from the same starting policy, same data, seeds and number of
optimizer steps, with `dynamic_sampling.enabled` false and true; then held-out tool-call
equivalence (rlkit.pipeline.eval, as in the pipeline table), the share of zero-signal groups TRL saw,
and the CPU time each run took (dynamic sampling generates more per step). Writes
benchmarks/results/dynamic_sampling.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from rlkit.config import load_config
from rlkit.pipeline.eval import PipelineEval, evaluate_model
from rlkit.stages import default_config_path, load_recipe

RESULTS = Path(__file__).parent / "results" / "dynamic_sampling.md"


def train(model: str, enabled: bool, seed: int, steps: int, out: Path) -> tuple[str, float, list[dict]]:
    """One GRPO run; returns (model folder, CPU seconds, its log history)."""
    recipe = load_recipe("grpo")
    overrides = [
        f"model={model}", f"output_dir={out}", f"dynamic_sampling.enabled={str(enabled).lower()}",
        f"train.max_steps={steps}", f"train.seed={seed}", "train.report_to=none", "train.logging_steps=1",
        "train.prompts_per_step=4", "rollout.num_generations=6", "rollout.max_completion_length=48",
    ]
    config = load_config(recipe.GRPORecipeConfig, default_config_path("grpo"), overrides)
    start = time.process_time()
    model_dir = recipe.main(config)
    return str(model_dir), time.process_time() - start, json.loads((out / "log_history.json").read_text())


def main() -> None:
    """Run off/on for each seed, evaluate, print and write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="starting policy (an SFT'd model folder)")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--episodes", type=int, default=10, help="held-out smart-home episodes to score")
    args = parser.parse_args()
    settings = PipelineEval(episodes=args.episodes, max_tokens=64)
    start_metrics = evaluate_model(args.model, settings, "compact")["lfm2_recommended"]
    rows = [f"| start ({Path(args.model).parent.name}) | - | {100 * start_metrics['equivalence']:.1f}% | - | - | - | - |"]
    for enabled in (False, True):
        results = []
        for seed in args.seeds:
            out = Path("runs") / "bench_dynamic_sampling" / f"{'on' if enabled else 'off'}_seed{seed}"
            model_dir, cpu, history = train(args.model, enabled, seed, args.steps, out)
            metrics = evaluate_model(model_dir, settings, "compact")["lfm2_recommended"]
            steps = [h for h in history if "frac_reward_zero_std" in h]
            results.append((metrics["equivalence"], cpu, statistics.mean(h["frac_reward_zero_std"] for h in steps),
                            sum(h.get("dynamic_sampling/refill_rounds", 0) for h in steps),
                            statistics.mean(h["toolcall/equivalence"] for h in steps)))
            print(f"dynamic sampling {enabled} seed {seed}: {results[-1]}", flush=True)
        mean = [statistics.mean(r[i] for r in results) for i in range(5)]
        rows.append(f"| dynamic sampling {'on' if enabled else 'off'} | {args.steps} | {100 * mean[0]:.1f}% | "
                    f"{100 * mean[4]:.1f}% | {100 * mean[2]:.0f}% | {mean[3]:.0f} | {mean[1] / 60:.1f} min |")
    text = "\n".join([
        "# Dynamic sampling: GRPO with and without dropping zero-variance groups",
        "",
        f"Command: `python benchmarks/dynamic_sampling.py --model {args.model} --steps {args.steps} "
        f"--seeds {' '.join(map(str, args.seeds))}`. Same start, data, seeds and optimizer steps (4 prompts × 6 "
        f"rollouts, 48 new tokens); held-out = {args.episodes} smart-home test episodes, LFM2-recommended sampling. "
        "Means over seeds. 'zero-signal groups' is TRL's `frac_reward_zero_std` over every generated group "
        "(refills included); 'refill rounds' counts extra generation rounds over the run.",
        "",
        "| run | steps | held-out equivalence | rollout equivalence (training) | zero-signal groups | refill rounds | CPU time |",
        "|---|---|---|---|---|---|---|",
        *rows,
    ]) + "\n"
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)


if __name__ == "__main__":
    main()
