"""python benchmarks/antiloop.py [--quick] [--rounds 3] [--episodes 120] [--out runs/bench_antiloop]

Does anti-loop DPO remove doom loops without costing tool-call accuracy? Writes
benchmarks/results/antiloop.md.

1. Starting policy. A briefly trained tiny model hardly loops (0% after SFT in benchmarks/results/pipeline_full.md), so
   the benchmark makes a loop-prone one in a controlled way: it continues SFT from the base model
   on env tasks (calls and free-text replies) where a known share (`--loop-share`, default 80%) of
   the reference replies degenerate into repetition: the reply, then its first sentence repeated
   `--repeats` times with no end-of-turn before the token limit can be reached — the habit real
   small models show. `loop_prone_rows` is that transform; the share and seed are in the report.
2. Held-out eval of every model (start, after round 1..R) on env test-split episodes: every step
   as a single-turn example (tool-call equivalence on call steps, loop rate over all completions and
   over free-text replies), and the whole episodes played on the model's own history (loop rate
   over turns, replies included). At temperature 0.1 / top-k 50 / repetition penalty 1.05 and at
   temperature 1.0.
3. R semi-online rounds of recipes/dpo_antiloop.py (rule-judge jury) from the loop-prone policy.
4. Jury throughput vs the raw endpoint: the same judge requests sent to a `transformers serve`
   of the tiny model through the Jury (LLM judge + rule judges) and directly with the openai
   client, same concurrency; the ratio of requests per second.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from rlkit.config import load_config  # noqa: E402
from rlkit.eval.harness import evaluate  # noqa: E402
from rlkit.eval.records import LFM2_RECOMMENDED, TEMPERATURE_1  # noqa: E402
from rlkit.eval.sources import load_env_split  # noqa: E402
from rlkit.model import load_model_and_tokenizer, resolve_model_path  # noqa: E402
from rlkit.rollout.hf import HFRollout  # noqa: E402

log = logging.getLogger("benchmarks.antiloop")
RESULTS = REPO / "benchmarks" / "results" / "antiloop.md"


def degenerate_reply(reply: str, repeats: int) -> str:
    """The reply followed by its first sentence repeated `repeats` times (a repetition habit).

    >>> degenerate_reply("Done. The lights are on.", 2)
    'Done. The lights are on. Done. Done.'
    """
    first = reply.split(". ")[0].rstrip(".") + "."
    return " ".join([reply] + [first] * repeats)


def loop_prone_rows(rows, share: float, repeats: int, seed: int):
    """Env task rows where `share` of the reply tasks (chosen by a seeded RNG) get a degenerate reply."""
    rng = random.Random(seed)
    changed = 0

    def transform(row):
        nonlocal changed
        if row["kind"] == "reply" and row["reply"] and rng.random() < share:
            changed += 1
            return {**row, "reply": degenerate_reply(row["reply"], repeats)}
        return row

    out = rows.map(transform, load_from_cache_file=False)
    return out, changed


def train_loop_prone_policy(base: str, out_dir: Path, args) -> tuple[Path, dict]:
    """Continue SFT of `base` on loop-prone data; cached in out_dir/start."""
    from trl import SFTConfig, SFTTrainer

    from rlkit.envs.registry import make_dataset
    from rlkit.sft.data import build_sft_dataset
    from rlkit.sft.trainer import DirectLossSFTTrainer, use_direct_loss

    target = out_dir / "start"
    info_path = target / "loop_prone.json"
    if info_path.is_file():
        return target / "model", json.loads(info_path.read_text())
    model, tokenizer = load_model_and_tokenizer(base)
    rows = make_dataset(args.env, "train", args.sft_rows, seed=0, kind="all")
    rows, changed = loop_prone_rows(rows, args.loop_share, args.repeats, seed=0)
    replies = sum(1 for k in rows["kind"] if k == "reply")
    dataset, report = build_sft_dataset(rows, tokenizer, "compact", 768)
    trainer_class = DirectLossSFTTrainer if use_direct_loss(None) else SFTTrainer
    trainer = trainer_class(
        model=model,
        args=SFTConfig(
            output_dir=str(target / "trainer"), max_steps=args.sft_steps, per_device_train_batch_size=8,
            learning_rate=args.sft_lr, lr_scheduler_type="constant", logging_steps=20, save_strategy="no",
            report_to="none", bf16=False, gradient_checkpointing=False, use_cpu=not torch.cuda.is_available(),
            max_length=768,
        ),
        train_dataset=dataset,
        processing_class=tokenizer,
    )
    trainer.train()
    trainer.save_model(str(target / "model"))
    tokenizer.save_pretrained(str(target / "model"))
    info = {
        "base": base, "rows": len(rows), "reply_rows": replies, "degenerated_replies": changed,
        "share": args.loop_share, "repeats": args.repeats, "steps": args.sft_steps, "lr": args.sft_lr,
        "kept": report.kept, "skipped": report.skipped,
    }
    info_path.write_text(json.dumps(info, indent=2))
    return target / "model", info


def eval_model(path: str, data, max_tokens: int) -> dict:
    """Held-out metrics of one model under both sampling settings."""
    model, tokenizer = load_model_and_tokenizer(path)
    model.eval()
    if torch.cuda.is_available():  # a GPU, when there is one, only speeds generation up
        model.to("cuda")
    engine = HFRollout(model, tokenizer, "compact", batch_size=64)
    result = evaluate(engine, data.examples, [LFM2_RECOMMENDED, TEMPERATURE_1], max_tokens=max_tokens, seed=0,
                      episodes=data.episodes, env_factory=data.env_factory)
    out = {}
    for setting, m in result.metrics.items():
        out[setting] = {
            "equivalence": m["calls"]["equivalence"],
            "calls": m["calls"]["n"],
            "loop_rate": m["generation"]["loop_rate"],
            "completions": m["generation"]["n"],
            "reply_loop_rate": m["replies"]["loop_rate"],
            "replies": m["replies"]["n"],
            "episode_turn_loop_rate": m.get("episodes", {}).get("turn_loop_rate"),
            "episode_success": m.get("episodes", {}).get("success_rate"),
            "mean_length": m["generation"]["mean_length"],
        }
    return out


def run_rounds(start: Path, out_dir: Path, args, rounds: int) -> Path:
    """Semi-online rounds of the recipe (rule-judge jury) up to `rounds`; finished rounds are resumed, not redone."""
    from rlkit.stages import load_recipe

    recipe = load_recipe("dpo")
    config = load_config(recipe.DPORecipeConfig, recipe.DEFAULT_CONFIG, [
        f"model={start}", f"output_dir={out_dir / 'dpo'}", f"rounds={rounds}", "jury.llm_judges=[]",
        f"data.num_rows={args.dpo_prompts}", "data.seed=100", f"data.kind={args.dpo_kind}", f"sampling.k={args.k}",
        f"sampling.max_tokens={args.max_tokens}", f"train.steps_per_round={args.dpo_steps}",
        f"train.learning_rate={args.dpo_lr}", f"train.beta={args.beta}", f"train.sft_weight={args.sft_weight}",
        f"sampling.min_chosen_score={args.min_chosen_score}",
        "train.batch_size=8",
        f"train.num_threads={args.threads}",
    ])
    recipe.main(config)
    done = json.loads((out_dir / "dpo" / f"round_{rounds - 1}" / "done.json").read_text())
    return Path(done["model"])


def jury_throughput(model_dir: str, data, n_tasks: int, concurrency: int) -> dict:
    """Requests/s through the Jury vs the same requests sent raw, same concurrency, same server."""
    import openai

    from rlkit.jury import Candidate, JudgeTask, Jury, LLMJudge, default_rule_judges
    from rlkit.jury.prompts import DEFAULT_RUBRIC, pointwise_messages, render_conversation
    from rlkit.rollout.serve import start_server

    examples = data.examples[:n_tasks]
    tasks = [JudgeTask(ex.messages, [Candidate("Sure, done."), Candidate("ok")], ex.tools, ex.answer, task_id=ex.example_id)
             for ex in examples]
    server = start_server("transformers", model_dir)
    url = server.base_url
    try:
        judge = LLMJudge(url, server.model, max_retries=0, max_concurrency=concurrency, max_tokens=8, cache=None,
                         api_key_env="RLKIT_BENCH_NO_KEY")
        jury = Jury(default_rule_judges() + [judge], max_workers=concurrency)
        requests = [pointwise_messages(DEFAULT_RUBRIC, render_conversation(list(t.messages), t.tools), c.text)
                    for t in tasks for c in t.candidates]
        client = openai.OpenAI(base_url=url, api_key="x", max_retries=0, timeout=60)

        def raw(messages):
            client.chat.completions.create(model=server.model, messages=messages, temperature=0.0, max_tokens=8)

        raw(requests[0])  # warm-up (model load) outside both timings
        results = {}
        for label in ("raw", "jury", "raw_again"):  # raw twice: drift of the shared machine shows up
            start = time.perf_counter()
            if label == "jury":
                jury.rank_many(tasks)
            else:
                with ThreadPoolExecutor(concurrency) as pool:
                    list(pool.map(raw, requests))
            results[label] = len(requests) / (time.perf_counter() - start)
    finally:
        server.stop()
    raw_rate = (results["raw"] + results["raw_again"]) / 2
    return {"requests": len(requests), "concurrency": concurrency, "raw_rps": raw_rate, "raw_rps_runs": [results["raw"], results["raw_again"]],
            "jury_rps": results["jury"], "ratio": results["jury"] / raw_rate, "judge_stats": judge.stats.as_dict()}


def fmt(x, pct=True) -> str:
    """A rate as a percentage (or '–')."""
    return "–" if x is None else (f"{100 * x:.1f}%" if pct else f"{x:.1f}")


def write_report(path: Path, args, info: dict, evals: dict[str, dict], throughput: dict | None, seconds: float) -> str:
    """Markdown tables of the run."""
    lines = [
        "# Anti-loop DPO benchmark",
        "",
        f"Command: `python benchmarks/antiloop.py {' '.join(sys.argv[1:])}` — wall time {seconds / 60:.1f} min on a shared "
        "2-core CPU machine (no GPU).",
        "",
        "## Starting policy (controlled, loop-prone)",
        "",
        f"SFT continued from `{info['base']}` for {info['steps']} steps (lr {info['lr']}, batch 8) on {info['rows']} "
        f"{args.env} train tasks; of the {info['reply_rows']} free-text reply targets, {info['degenerated_replies']} "
        f"(share parameter {info['share']}, seeded) were replaced by the reply followed by its first sentence repeated "
        f"{info['repeats']} times.",
        "",
        f"## Held-out eval ({args.env} test split, {args.episodes} episodes, max {args.max_tokens} new tokens)",
        "",
        f"DPO: {args.rounds} semi-online rounds of `recipes/dpo_antiloop.py`, {args.dpo_prompts} new train prompts "
        f"(kind `{args.dpo_kind}`) per round, "
        f"K={args.k} sampled (T=1.0) + 1 greedy, rule-judge jury, {args.dpo_steps} steps/round, batch 8, "
        f"lr {args.dpo_lr}, β {args.beta}, loss `sigmoid_norm`"
        + (f" + {args.sft_weight} × chosen NLL" if args.sft_weight else "")
        + f"; pairs only where the jury's best scores ≥ {args.min_chosen_score}.",
        "",
    ]
    for setting in ("lfm2_recommended", "temperature_1.0"):
        lines += [
            f"### {setting}",
            "",
            "| model | tool-call equivalence | loop rate (all steps) | loop rate (replies) | loop rate (episode turns) | episode success | mean length |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, metrics in evals.items():
            m = metrics[setting]
            lines.append(
                f"| {name} | {fmt(m['equivalence'])} (n={m['calls']}) | {fmt(m['loop_rate'])} (n={m['completions']}) | "
                f"{fmt(m['reply_loop_rate'])} (n={m['replies']}) | {fmt(m['episode_turn_loop_rate'])} | "
                f"{fmt(m['episode_success'])} | {fmt(m['mean_length'], pct=False)} |"
            )
        start, last = evals.get("start", {}).get(setting), list(evals.values())[-1][setting]
        if start and start["loop_rate"]:
            change = f"{start['loop_rate'] / last['loop_rate']:.1f}× lower" if last["loop_rate"] else "none left"
            lines += ["", f"Loop rate start → last round: {fmt(start['loop_rate'])} → {fmt(last['loop_rate'])} ({change})."]
        lines.append("")
    if throughput:
        lines += [
            "## Jury throughput vs the raw endpoint",
            "",
            f"`transformers serve` of the tiny model on 127.0.0.1; {throughput['requests']} pointwise judge requests "
            f"(8 new tokens each), concurrency {throughput['concurrency']}; the jury adds the rule judges, aggregation "
            "and vote records. Raw measured before and after the jury run (mean used).",
            "",
            "| path | requests/s |",
            "|---|---|",
            f"| raw openai client | {throughput['raw_rps']:.2f} (runs: {', '.join(f'{r:.2f}' for r in throughput['raw_rps_runs'])}) |",
            f"| Jury (LLM judge + rule judges) | {throughput['jury_rps']:.2f} |",
            f"| **ratio** | **{throughput['ratio']:.2f}** |",
            "",
        ]
    text = "\n".join(lines)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes that finish in minutes")
    parser.add_argument("--base", default="", help="model to start from (default: SFT stage default if cached, else tiny-lfm2)")
    parser.add_argument("--env", default="smart_home")
    parser.add_argument("--out", default=str(REPO / "runs" / "bench_antiloop"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--episodes", type=int, default=120, help="held-out episodes (≈4-5 steps each: ≥500 prompts)")
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--sft-rows", type=int, default=2400)
    parser.add_argument("--sft-steps", type=int, default=300)
    parser.add_argument("--sft-lr", type=float, default=1e-3)
    parser.add_argument("--loop-share", type=float, default=0.8)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--dpo-prompts", type=int, default=128)
    parser.add_argument("--dpo-steps", type=int, default=30)
    parser.add_argument("--dpo-lr", type=float, default=1e-4)
    parser.add_argument("--beta", type=float, default=5.0)
    parser.add_argument("--sft-weight", type=float, default=1.0, help="weight of the chosen-NLL term in the DPO loss (RPO)")
    parser.add_argument("--min-chosen-score", type=float, default=1.0, help="skip prompts whose best candidate scores lower")
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--throughput-tasks", type=int, default=24)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--results", default=str(RESULTS))
    parser.add_argument("--start", default="", help="use this model as the starting policy as is (skip the loop-prone SFT)")
    parser.add_argument("--dpo-kind", default="all", help="env task kind of the DPO prompts: all | reply | next_call")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 on the shared dev machine)")
    parser.add_argument("--no-throughput", action="store_true", help="skip the jury-vs-raw endpoint measurement")
    if "--quick" in sys.argv:  # smaller defaults; sizes given explicitly still win
        parser.set_defaults(rounds=2, episodes=16, sft_rows=600, sft_steps=150, dpo_prompts=32, dpo_steps=20,
                            throughput_tasks=12)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    os.environ.setdefault("WANDB_MODE", "offline")
    started = time.perf_counter()
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    base = args.base or _default_base()
    if args.start:
        start_model, info = Path(args.start), {"base": args.start, "given": True}
        info_file = Path(args.start).parent / "loop_prone.json"  # made by an earlier run of this script
        if info_file.is_file():
            info = {**json.loads(info_file.read_text()), "given": True}
    else:
        start_model, info = train_loop_prone_policy(base, out_dir, args)
    data = load_env_split(args.env, "test", n_episodes=args.episodes, seed=0)
    log.info("held-out: %d examples, %d episodes", len(data.examples), len(data.episodes))
    evals = {"start": eval_model(str(start_model), data, args.max_tokens)}
    results_json = out_dir / "results.json"

    def report(throughput=None) -> str:  # written after every step, so a cut-off run still leaves its tables
        results_json.write_text(json.dumps({"info": info, "evals": evals, "throughput": throughput}, indent=2))
        return write_report(Path(args.results), args, info, evals, throughput, time.perf_counter() - started)

    report()
    for r in range(1, args.rounds + 1):
        model_dir = run_rounds(start_model, out_dir, args, rounds=r)
        evals[f"after round {r}"] = eval_model(str(model_dir), data, args.max_tokens)
        report()
    throughput = None
    if not args.no_throughput:
        throughput = jury_throughput(resolve_model_path("tiny-lfm2"), data, args.throughput_tasks, args.concurrency)
    print(report(throughput))


def _default_base() -> str:
    """The SFT stage's default output when it is already cached (building it takes long), else tiny-lfm2."""
    from rlkit.stages import stage_dir

    cached = stage_dir("sft") / "model"
    if (cached / "config.json").is_file():
        return str(cached)
    log.warning("no cached SFT default model: the loop-prone policy is trained from the raw tiny-lfm2")
    return "tiny-lfm2"


if __name__ == "__main__":
    main()
