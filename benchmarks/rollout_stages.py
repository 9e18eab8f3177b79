"""Rollout backends where the stages generate: one anti-loop DPO round and 10 multi-turn GRPO steps.

    python benchmarks/rollout_stages.py                          # tiny-lfm2, then smollm2-135m
    python benchmarks/rollout_stages.py --models tiny-lfm2 --grpo-steps 3

Per model, in one run (each measurement in its own child process, one after another):
1. starting policy: the model after `--sft-steps` SFT steps on env calls (so episodes reach the env);
2. DPO: one round of `recipes/dpo_antiloop.py` (K=5 sampled + 1 greedy per prompt, rule-judge jury,
   2 DPO steps) per `rollout.backend` (hf, vllm, llamacpp): total wall time, candidate sampling
   time, engine start;
3. GRPO: `--grpo-steps` steps of `recipes/grpo_toolcall.py task=multi_turn` per backend: TRL's own
   tool loop (`hf`), rlkit's episode runner on HF generate (`rlkit_hf`) and on the colocated vLLM
   engine (`vllm_colocate`): wall time, TRL's train_runtime;
4. same samples, same scores: greedy decoding makes the backends' samples comparable. The DPO
   rounds' greedy candidates are compared with HF's (token text) and, where equal, their jury
   scores; greedy multi-turn episodes (rlkit.rollout.episodes) on each engine are compared with
   HF's token for token, and where equal, their env replay rewards.

llama.cpp samples an F32 GGUF export of the policy (rlkit.export: LFM2 and Llama); `--skip` leaves
backends out of a run (reported). Writes benchmarks/results/rollout_stages.md after every
measurement; each measurement's result is kept under `--work` (runs/rollout_stages), so rerunning the
same command after a cut-off run measures only what is missing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "rollout_stages.md"
DPO_BACKENDS = ("hf", "vllm", "llamacpp")
GRPO_BACKENDS = ("hf", "rlkit_hf", "vllm_colocate")
EPISODE_BACKENDS = ("hf", "vllm", "llamacpp")


def child_env() -> dict:
    """Environment of every child: offline, one thread per library, caches in the repo's cache."""
    cache = Path(os.environ.get("RLKIT_CACHE_DIR", REPO / ".cache" / "rlkit"))
    return dict(os.environ, PYTHONPATH=str(REPO), WANDB_MODE="offline", HF_HUB_OFFLINE="1", RLKIT_CACHE_DIR=str(cache),
                VLLM_CACHE_ROOT=str(cache / "vllm"), TORCHINDUCTOR_CACHE_DIR=str(cache / "inductor"),
                TOKENIZERS_PARALLELISM="false")


def run(cmd: list[str], log: Path) -> tuple[float, int]:
    """Run a child to completion; (wall seconds, return code); its output goes to `log`."""
    start = time.perf_counter()
    with open(log, "w") as out:
        code = subprocess.run(cmd, cwd=REPO, env=child_env(), stdout=out, stderr=subprocess.STDOUT).returncode
    return time.perf_counter() - start, code


def sft_policy(model: str, out: Path, steps: int, logs: Path) -> str:
    """The starting policy: `model` after `steps` SFT steps on next-call tasks (the model itself for 0)."""
    from rlkit.model import resolve_model_path

    if steps == 0:
        return resolve_model_path(model)
    args = [f"model={model}", f"output_dir={out}", "data.kind=next_call", "data.num_rows=128", f"train.max_steps={steps}",
            "train.batch_size=8", "train.learning_rate=5e-3", "train.warmup_steps=0", "train.lr_scheduler=constant",
            "train.report_to=none"]
    seconds, code = run([sys.executable, "recipes/sft.py", *args], logs / "sft.log")
    if code:
        raise RuntimeError(f"SFT failed, see {logs / 'sft.log'}")
    return str(out / "model")


def dpo_round(policy: str, backend: str, out: Path, logs: Path, prompts: int, threads: int) -> dict:
    """One DPO round on `backend`: wall time and the pair report's rollout figures."""
    args = [f"model={policy}", f"output_dir={out}", "rounds=1", f"data.num_rows={prompts}", "sampling.k=5",
            "sampling.max_tokens=64", "train.steps_per_round=2", "train.batch_size=2", "jury.llm_judges=[]",
            f"jury.cache_dir={out / 'judge'}", f"rollout.backend={backend}", f"train.num_threads={threads}"]
    seconds, code = run([sys.executable, "recipes/dpo_antiloop.py", *args], logs / f"dpo-{backend}.log")
    if code:
        return {"error": f"exit {code} (see {logs / f'dpo-{backend}.log'})"}
    report = json.loads((out / "round_0" / "pairs" / "report.json").read_text())
    audit = [json.loads(line) for line in (out / "round_0" / "pairs" / "audit.jsonl").read_text().splitlines()]
    greedy = [[c for c in a["candidates"] if c["origin"] == "greedy"][0] for a in audit]
    return {"wall_s": seconds, "pairs": report["pairs"], "prompts": report["prompts"], **report["rollout"],
            "greedy": [(c["text"], c["score"]) for c in greedy]}


def grpo_steps(policy: str, backend: str, out: Path, logs: Path, steps: int, threads: int) -> dict:
    """`steps` multi-turn GRPO steps on `backend`: wall time, TRL's train_runtime, episode figures."""
    args = [f"model={policy}", f"output_dir={out}", "task=multi_turn", "data.num_rows=64", f"train.max_steps={steps}",
            "train.prompts_per_step=2", "rollout.num_generations=4", "rollout.max_completion_length=32",
            "rollout.max_turns=3", "rollout.max_episode_tokens=128", "dynamic_sampling.enabled=false",
            "train.report_to=none", "train.logging_steps=1", f"rollout.backend={backend}", f"train.num_threads={threads}"]
    seconds, code = run([sys.executable, "recipes/grpo_toolcall.py", *args], logs / f"grpo-{backend}.log")
    if code:
        return {"error": f"exit {code} (see {logs / f'grpo-{backend}.log'})"}
    history = json.loads((out / "log_history.json").read_text())
    steps_logged = [e for e in history if "reward" in e]
    runtime = next(e["train_runtime"] for e in history if "train_runtime" in e)
    mean = lambda key: sum(e.get(key, 0.0) for e in steps_logged) / max(len(steps_logged), 1)  # noqa: E731
    return {"wall_s": seconds, "train_runtime_s": runtime, "reward": mean("reward"),
            "completion_tokens": mean("completions/mean_length"), "generations": mean("episodes/generations"),
            "calls": mean("episodes/calls") if backend != "hf" else mean("tools/call_frequency")}


def greedy_episodes(policy: str, backend: str, out_json: Path, n: int, gguf_dir: Path) -> None:
    """Child: `n` greedy multi-turn episodes on `backend`; token ids and replay rewards to `out_json`."""
    from rlkit.envs.trl_adapter import grpo_dataset
    from rlkit.envs.verify import replay_reward, replayed_env
    from rlkit.grpo.rollout import reference_steps
    from rlkit.model import load_model_and_tokenizer
    from rlkit.rollout import SamplingParams, make_rollout_engine
    from rlkit.rollout.episodes import EpisodeLimits, EpisodeTask, run_episodes

    model, tokenizer = load_model_and_tokenizer(policy)
    model.eval()
    if backend == "llamacpp":
        from rlkit.export import export_gguf

        engine = make_rollout_engine("llamacpp", str(export_gguf(policy, gguf_dir / "policy-f32.gguf", "f32")), tokenizer)
    else:
        engine = make_rollout_engine(backend, model, tokenizer, **({"max_model_len": 1024} if backend == "vllm" else {}))
    rows = [dict(r, messages=r["prompt"]) for r in grpo_dataset("smart_home", "train", n, 1)]
    envs = [replayed_env(row) for row in rows]
    tasks = [EpisodeTask(row["prompt"], row["tools"], env) for row, env in zip(rows, envs)]
    start = time.perf_counter()
    episodes = run_episodes(engine, tokenizer, tasks, SamplingParams.greedy(max_tokens=32),
                            EpisodeLimits(max_turns=3, max_completion_tokens=128))
    seconds = time.perf_counter() - start
    rewards = [replay_reward(row, ep.calls, env.state(), reference_steps(row)) for row, ep, env in zip(rows, episodes, envs)]
    out_json.write_text(json.dumps({"seconds": seconds, "ids": [ep.completion_ids for ep in episodes],
                                    "masks": [ep.completion_mask for ep in episodes], "rewards": rewards}))


def compare_to_hf(results: dict[str, dict], key: str) -> dict[str, str]:
    """Per backend: how many samples equal HF's, and whether the scores of those equal ones agree."""
    base = results.get("hf")
    out = {}
    for backend, result in results.items():
        if backend == "hf" or "error" in result or base is None or "error" in base:
            continue
        if key == "greedy":
            pairs = list(zip(base["greedy"], result["greedy"]))
            same = [(a, b) for a, b in pairs if a[0] == b[0]]
            agree = sum(a[1] == b[1] for a, b in same)
        else:
            pairs = list(zip(zip(base["ids"], base["rewards"]), zip(result["ids"], result["rewards"])))
            same = [(a, b) for a, b in pairs if a[0] == b[0]]
            agree = sum(a[1] == b[1] for a, b in same)
        out[backend] = f"{len(same)}/{len(pairs)} identical to HF, scores equal on {agree}/{len(same)} of those"
    return out


def listing(comparison: dict[str, str]) -> str:
    """`backend: finding; backend: finding` (or n/a)."""
    return "; ".join(f"{backend}: {finding}" for backend, finding in comparison.items()) or "n/a"


def fmt(value, digits: int = 1) -> str:
    """A number for a table cell ('-' when absent)."""
    return "-" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def model_section(name: str, policy: str, dpo: dict, grpo: dict, episodes: dict, notes: list[str], args) -> list[str]:
    """The Markdown tables of one model."""
    start = (f"`{policy}` (--start)" if name in args.start
             else f"`{name}` after {args.sft_steps.get(name, 0)} SFT steps on env calls")
    lines = [f"## {name}", "", f"Starting policy: {start}.", ""]
    lines += [f"### One DPO round: {args.dpo_prompts} prompts x (K=5 sampled + 1 greedy), 64 tokens, 2 DPO steps", "",
              "| rollout.backend | round wall s | sampling s | engine setup s | tokens | tok/s | pairs | vs hf (round wall) |",
              "|---|---|---|---|---|---|---|---|"]
    hf_wall = dpo.get("hf", {}).get("wall_s")
    for backend, r in dpo.items():
        if "error" in r:
            lines.append(f"| {backend} | {r['error']} | | | | | | |")
            continue
        start = r.get("refresh_s")  # vLLM: import + engine start + first push and check; llama.cpp: GGUF export + load
        rate = r["tokens"] / r["generate_s"] if r.get("generate_s") else None
        ratio = f"{hf_wall / r['wall_s']:.2f}x" if hf_wall else "-"
        lines.append(f"| {backend} | {fmt(r['wall_s'])} | {fmt(r['generate_s'])} | {fmt(start)} | {r['tokens']} | "
                     f"{fmt(rate, 0)} | {r['pairs']}/{r['prompts']} | {ratio} |")
    lines += ["", f"### {args.grpo_steps} multi-turn GRPO steps: 2 prompts x 4 episodes, <= 3 generations x 32 tokens, "
              "<= 128 episode tokens", "",
              "| rollout.backend | wall s | TRL train_runtime s | s/step | model tokens/episode | generations/episode | mean reward | vs hf (train_runtime) |",
              "|---|---|---|---|---|---|---|---|"]
    hf_runtime = grpo.get("hf", {}).get("train_runtime_s")
    for backend, r in grpo.items():
        if "error" in r:
            lines.append(f"| {backend} | {r['error']} | | | | | | |")
            continue
        ratio = f"{hf_runtime / r['train_runtime_s']:.2f}x" if hf_runtime else "-"
        gens = fmt(r["generations"], 2) if backend != "hf" else "(TRL loop)"
        lines.append(f"| {backend} | {fmt(r['wall_s'])} | {fmt(r['train_runtime_s'])} | {fmt(r['train_runtime_s'] / args.grpo_steps, 2)} | "
                     f"{fmt(r['completion_tokens'])} | {gens} | {fmt(r['reward'], 3)} | {ratio} |")
    lines += ["", "### Same samples, same scores (greedy)", "",
              f"- DPO greedy candidates (text, jury score) vs HF: {listing(compare_to_hf(dpo, 'greedy'))}",
              f"- {args.episodes} greedy multi-turn episodes (token ids, env replay reward) vs HF: "
              f"{listing(compare_to_hf(episodes, 'ids'))}",
              "- greedy episode wall s: " + ", ".join(f"{b} {fmt(r.get('seconds'))}" for b, r in episodes.items() if "error" not in r)]
    lines += [f"- {note}" for note in notes]
    return lines + [""]


def main() -> None:
    """Run every measurement (see module doc) and write the Markdown report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="tiny-lfm2,smollm2-135m")
    parser.add_argument("--dpo-prompts", type=int, default=8)
    parser.add_argument("--grpo-steps", type=int, default=10)
    parser.add_argument("--episodes", type=int, default=8)
    parser.add_argument("--sft", default="tiny-lfm2=60,smollm2-135m=30", help="SFT steps per model before measuring")
    parser.add_argument("--child-episodes", nargs=4, metavar=("POLICY", "BACKEND", "OUT_JSON", "GGUF_DIR"), help=argparse.SUPPRESS)
    parser.add_argument("--start", default="", help="start a model from a trained folder instead of SFT here, "
                        "e.g. smollm2-135m=runs/pipeline_real/sft/model")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for the DPO and GRPO children's training")
    parser.add_argument("--skip", default="", help="backends to leave out of this run, e.g. llamacpp")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "rollout_stages",
                        help="where runs and per-measurement results go; rerunning with the same folder resumes")
    args = parser.parse_args()
    if args.child_episodes:
        policy, backend, out_json, gguf_dir = args.child_episodes
        greedy_episodes(policy, backend, Path(out_json), args.episodes, Path(gguf_dir))
        return
    args.sft_steps = {k: int(v) for k, v in (item.split("=") for item in args.sft.split(",") if item)}
    args.start = dict(item.split("=", 1) for item in args.start.split(",") if item)
    started = time.perf_counter()
    sections: list[str] = []
    skipped = {b for b in args.skip.split(",") if b}
    notes = [f"left out of this run (--skip): {', '.join(sorted(skipped))}"] if skipped else []

    def write_report(current: list[str]) -> str:
        # after every measurement, so a cut-off run keeps what it measured (and a rerun resumes)
        report = "\n".join(header(args, time.perf_counter() - started) + sections + current)
        args.out.write_text(report)
        return report

    report = ""
    for name in [m for m in args.models.split(",") if m]:
        out = args.work / name.replace("/", "_")
        logs = out / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        policy = args.start.get(name) or measured(
            out / "sft.json", lambda: {"policy": sft_policy(name, out / "sft", args.sft_steps.get(name, 0), logs)})["policy"]
        dpo: dict[str, dict] = {}
        grpo: dict[str, dict] = {}
        episodes: dict[str, dict] = {}
        for backend in [b for b in DPO_BACKENDS if b not in skipped]:
            dpo[backend] = measured(out / f"dpo-{backend}.json",
                                    lambda: dpo_round(policy, backend, out / f"dpo-{backend}", logs, args.dpo_prompts, args.threads))
            print(name, "dpo", backend, {k: v for k, v in dpo[backend].items() if k != "greedy"}, flush=True)
            report = write_report(model_section(name, policy, dpo, grpo, episodes, notes, args))
        for backend in [b for b in GRPO_BACKENDS if b not in skipped]:
            grpo[backend] = measured(out / f"grpo-{backend}.json",
                                     lambda: grpo_steps(policy, backend, out / f"grpo-{backend}", logs, args.grpo_steps, args.threads))
            print(name, "grpo", backend, grpo[backend], flush=True)
            report = write_report(model_section(name, policy, dpo, grpo, episodes, notes, args))
        for backend in [b for b in EPISODE_BACKENDS if b not in skipped]:
            episodes[backend] = measured(out / f"episodes-{backend}.result.json",
                                         lambda: episodes_child(policy, backend, out, logs, args.episodes))
            print(name, "episodes", backend, episodes[backend].get("seconds", episodes[backend].get("error")), flush=True)
            report = write_report(model_section(name, policy, dpo, grpo, episodes, notes, args))
        sections += model_section(name, policy, dpo, grpo, episodes, notes, args)
    print(report)


def measured(result: Path, measure) -> dict:
    """`measure()`'s result, saved to `result`; a rerun with the same --work reuses it (failures are retried)."""
    if result.exists():
        return json.loads(result.read_text())
    value = measure()
    if "error" not in value:
        result.write_text(json.dumps(value))
    return value


def episodes_child(policy: str, backend: str, out: Path, logs: Path, n: int) -> dict:
    """`n` greedy multi-turn episodes on `backend`, in a child process."""
    target = out / f"episodes-{backend}.json"
    cmd = [sys.executable, __file__, "--episodes", str(n), "--child-episodes", policy, backend, str(target), str(out / "gguf")]
    seconds, code = run(cmd, logs / f"episodes-{backend}.log")
    return json.loads(target.read_text()) if code == 0 else {"error": f"exit {code}"}


def header(args, seconds: float) -> list[str]:
    """The report's title, command and machine line."""
    return ["# Rollout backends in the DPO and GRPO stages", "",
            f"`python {shlex.join(sys.argv)}` — {platform.machine()}, {os.cpu_count()} CPUs (shared), "
            f"Python {platform.python_version()}, {seconds / 60:.1f} min in this invocation (a resumed run reuses earlier ones), load average at the end "
            f"{os.getloadavg()[0]:.1f} (other jobs share the cores: absolute times are noisy, compare within a table). Each figure comes from its own child "
            "process, run one after another in this one run. vLLM is the CPU build (eager, fp32); llama.cpp runs an F32 "
            f"GGUF export; training uses {args.threads} thread(s). Wall times include model loading and engine start.", ""]


if __name__ == "__main__":
    main()
