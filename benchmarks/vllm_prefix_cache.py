"""vLLM CPU engine with and without prefix caching on an attention-only model (smollm2-135m).

    python benchmarks/vllm_prefix_cache.py --episodes 16

Every held-out eval prompt starts with the same system turn and tool list, so an engine that caches
shared prefixes prefills far fewer tokens. LFM2 (hybrid) must run without it on the CPU build
(rlkit.rollout.vllm_cpu_fixes, defect 4); Llama-type models keep it. Each arm runs in its own
process (one vLLM engine per process): every call and reply step of `--episodes` smart-home test
episodes at greedy, `--max-tokens` new tokens. Reported: eval wall time (engine start excluded),
the ratio, and how many completions are identical between the arms. Results:
benchmarks/results/vllm_prefix_cache.md.
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

RESULTS = Path(__file__).resolve().parent / "results" / "vllm_prefix_cache.md"


def run_arm(caching: bool, episodes: int, max_tokens: int) -> dict:
    """One arm in this process: the completions and the eval's wall time."""
    import rlkit.rollout.vllm_engine as vllm_engine
    from rlkit.eval import GREEDY, evaluate, load_eval_data
    from rlkit.eval.backends import engine_for_model

    if not caching:  # the engine then takes the hybrid models' arguments: prefix caching off
        vllm_engine.is_hybrid_model = lambda path: True
    data = load_eval_data("smart_home", split="test", episodes=episodes, seed=0)
    engine = engine_for_model("smollm2-135m", backend="vllm")
    started = time.perf_counter()
    result = evaluate(engine, data.examples, [GREEDY], max_tokens=max_tokens)
    return {"seconds": time.perf_counter() - started, "examples": len(data.examples),
            "completions": [r.completion for r in result.records]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--arm", choices=["on", "off"], help=argparse.SUPPRESS)  # the child process's arm
    args = parser.parse_args()
    if args.arm:
        print("ARM " + json.dumps(run_arm(args.arm == "on", args.episodes, args.max_tokens)))
        return
    arms = {}
    for arm in ("on", "off"):
        output = subprocess.run([sys.executable, __file__, "--arm", arm, "--episodes", str(args.episodes),
                                 "--max-tokens", str(args.max_tokens)], check=True, capture_output=True, text=True).stdout
        arms[arm] = json.loads(next(line for line in output.splitlines() if line.startswith("ARM "))[4:])
    same = sum(a == b for a, b in zip(arms["on"]["completions"], arms["off"]["completions"]))
    n = arms["on"]["examples"]
    text = "\n".join([
        "# vLLM CPU engine: prefix caching on an attention-only model", "",
        f"`python benchmarks/vllm_prefix_cache.py --episodes {args.episodes} --max-tokens {args.max_tokens}` — "
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; smollm2-135m (Llama), "
        f"fp32, eager; {n} call and reply steps of smart-home test episodes at greedy; engine start excluded.", "",
        "| prefix caching | eval wall s | vs off |", "|---|---|---|",
        f"| off (what hybrid LFM2 must use) | {arms['off']['seconds']:.1f} | 1.00x |",
        f"| on (rlkit's default for attention-only models) | {arms['on']['seconds']:.1f} | "
        f"{arms['off']['seconds'] / arms['on']['seconds']:.2f}x |", "",
        f"Identical greedy completions: {same}/{n}.", "",
    ])
    RESULTS.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
