"""Quantized eval: HF fp32 vs GGUF F32 / F16 / Q8_0 / Q4_0 (llama.cpp) on held-out env episodes.

    python benchmarks/quantization.py --model runs/pipeline_full/grpo/model
    python benchmarks/quantization.py --model runs/pipeline_quick/grpo/model --episodes 6   # quicker

For one model: export each GGUF type (rlkit.export), then score every format with the eval harness
on the same held-out examples (every assistant step of `--episodes` smart_home test episodes), under
the LFM2 recommended settings and greedy: tool-call equivalence, loop rate, parse errors, and how
often a format's greedy completion is token-for-token HF's. The F16 file is also served by
llama.cpp's OpenAI-compatible server and evaluated through the harness's endpoint backend at greedy,
to check that route gives the in-process verdicts. Writes benchmarks/results/quantization.md (raw
records under `--work`). Needs the `gguf` extra (llama-cpp-python).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "quantization.md"
GGUF_TYPES = ("f32", "f16", "q8_0", "q4_0")


def megabytes(path: Path) -> float:
    """File (or folder of safetensors) size in MB."""
    if path.is_dir():
        return sum(p.stat().st_size for p in path.glob("*.safetensors")) / 1e6
    return path.stat().st_size / 1e6


def score(name: str, engine: Any, examples: list, settings: list, max_tokens: int) -> dict[str, Any]:
    """Evaluate one engine; metrics per setting plus the greedy texts/verdicts for comparisons."""
    from rlkit.eval import evaluate

    start = time.perf_counter()
    result = evaluate(engine, examples, settings, max_tokens=max_tokens)
    seconds = time.perf_counter() - start
    row: dict[str, Any] = {"name": name, "seconds": seconds, "settings": {}}
    for setting in settings:
        calls = result.metrics[setting.name]["calls"]
        generation = result.metrics[setting.name]["generation"]
        row["settings"][setting.name] = {
            "equivalence": calls["equivalence"], "calls": calls["n"], "parse_error_rate": calls["parse_error_rate"],
            "loop_rate": generation["loop_rate"], "mean_length": generation["mean_length"],
        }
    row["records"] = [r.to_dict() for r in result.records]
    print(f"{name}: {json.dumps(row['settings'])} ({seconds:.1f}s)", flush=True)
    return row


def greedy_records(row: dict[str, Any]) -> list[dict[str, Any]]:
    """The row's greedy-setting records, in example order."""
    return [r for r in row["records"] if r["setting"] == "greedy"]


def agreement(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> tuple[int, int, int]:
    """(same completion text, same verdict, n) between two lists of records of the same examples."""
    same_text = sum(x["completion"] == y["completion"] for x, y in zip(a, b))
    same_verdict = sum((x["ok"], x["reason"], x["looped"]) == (y["ok"], y["reason"], y["looped"]) for x, y in zip(a, b))
    return same_text, same_verdict, len(a)


def hf_reference(model: Any, engine: Any, examples: list, max_tokens: int) -> list[tuple[list[int], list[int], Any]]:
    """(prompt ids, HF greedy completion ids, HF logits at the completion's positions) per example."""
    import torch

    from rlkit.rollout.base import ChatPrompt, SamplingParams

    prompts = [ChatPrompt(example.messages, example.tools) for example in examples]
    completions = engine.generate(prompts, SamplingParams.greedy(max_tokens=max_tokens))
    out = []
    for prompt, group in zip(prompts, completions):
        prompt_ids, completion_ids = engine.prompt_ids(prompt), group[0].token_ids
        with torch.no_grad():
            logits = model(torch.tensor([prompt_ids + completion_ids])).logits[0]
        out.append((prompt_ids, completion_ids, logits[len(prompt_ids) - 1 : -1].numpy()))
    return out


def teacher_forced(path: Path, reference: list, threads: int) -> tuple[int, int, float]:
    """(positions where llama.cpp's top-1 token is HF's, positions, max |logit difference|) on HF's completions."""
    import llama_cpp
    import numpy as np

    llm = llama_cpp.Llama(str(path), n_ctx=2048, n_threads=threads, logits_all=True, verbose=False, type_k=0, type_v=0)
    same, total, worst = 0, 0, 0.0
    for prompt_ids, completion_ids, hf_logits in reference:
        llm.reset()
        llm.eval(prompt_ids + completion_ids)
        got = np.asarray(llm.scores[len(prompt_ids) - 1 : len(prompt_ids) + len(completion_ids) - 1])
        same += int((got.argmax(-1) == hf_logits.argmax(-1)).sum())
        total += len(completion_ids)
        worst = max(worst, float(np.abs(got - hf_logits).max()))
    llm.close()
    return same, total, worst


def pct(value: float | None) -> str:
    """A rate as a percentage with one decimal (n/a when undefined)."""
    return "n/a" if value is None else f"{100 * value:.1f}%"


def main() -> None:
    """Export, evaluate every format, write the Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="HF LFM2 checkpoint folder (merged)")
    parser.add_argument("--episodes", type=int, default=12, help="held-out smart_home test episodes")
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--threads", type=int, default=1, help="torch and llama.cpp threads")
    parser.add_argument("--work", default="runs/bench_quantization", help="GGUF files and raw records go here")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--note", default="", help="a line written under the title (e.g. which model this is)")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from rlkit.eval import GREEDY, LFM2_RECOMMENDED, load_eval_data
    from rlkit.eval.backends import engine_for_model
    from rlkit.export import export_gguf
    from rlkit.model import load_model_and_tokenizer
    from rlkit.rollout.hf import HFRollout
    from rlkit.rollout.llamacpp import LlamaCppRollout
    from rlkit.rollout.serve import start_llamacpp_server

    model_dir, work = Path(args.model), Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    data = load_eval_data("smart_home", split="test", episodes=args.episodes, seed=0)
    examples = data.examples
    settings = [LFM2_RECOMMENDED, GREEDY]
    print(f"{len(examples)} examples from {args.episodes} held-out smart_home episodes", flush=True)

    files, export_seconds = {}, {}
    for kind in GGUF_TYPES:
        start = time.perf_counter()
        files[kind] = export_gguf(model_dir, work / f"model-{kind}.gguf", kind)
        export_seconds[kind] = time.perf_counter() - start

    model, tokenizer = load_model_and_tokenizer(str(model_dir))
    hf_engine = HFRollout(model.eval(), tokenizer, batch_size=16)
    rows = [score("HF fp32", hf_engine, examples, settings, args.max_tokens)]
    sizes = {"HF fp32": megabytes(model_dir)}
    reference = hf_reference(model, hf_engine, examples, args.max_tokens)
    forced = {"HF fp32": (sum(len(r[1]) for r in reference), sum(len(r[1]) for r in reference), 0.0)}
    for kind in GGUF_TYPES:
        engine = LlamaCppRollout(files[kind], n_threads=args.threads)
        rows.append(score(f"GGUF {kind.upper()}", engine, examples, settings, args.max_tokens))
        sizes[f"GGUF {kind.upper()}"] = megabytes(files[kind])
        engine.close()
        forced[f"GGUF {kind.upper()}"] = teacher_forced(files[kind], reference, args.threads)

    with start_llamacpp_server(files["f16"], threads=args.threads, log_dir=work) as server:
        endpoint = engine_for_model(server.base_url, endpoint_model=server.model, tokenizer=str(model_dir),
                                    extra_body={"repeat_penalty": 1.0}, render_chat_locally=True)
        served = score("GGUF F16 via llama.cpp server", endpoint, examples, [GREEDY], args.max_tokens)
    (work / "results.json").write_text(json.dumps({"rows": rows, "served": served, "sizes": sizes}, indent=1))

    hf_greedy = greedy_records(rows[0])
    f16_row = next(r for r in rows if r["name"] == "GGUF F16")
    f16_greedy = greedy_records(f16_row)
    lines = [
        "# Quantized eval: HF fp32 vs GGUF (llama.cpp)",
        "",
        *( [args.note, ""] if args.note else [] ),
        f"Model: `{model_dir}`. Held-out data: every assistant step of {args.episodes} smart_home test episodes "
        f"({len(examples)} examples, {rows[0]['settings']['greedy']['calls']} of them tool calls), "
        f"max {args.max_tokens} new tokens. `lfm2_recommended` = temperature 0.1, top-k 50, repetition penalty 1.05 "
        "(seed 0; llama.cpp's random stream differs from torch's, so sampled texts are not comparable token by "
        "token); `greedy` = temperature 0. GGUF files written by `rlkit export gguf`, run in-process by "
        f"llama-cpp-python with {args.threads} thread(s), prompts rendered by rlkit. Teacher-forced columns: "
        "every position of HF's greedy completions, llama.cpp's logits vs HF's (F32 KV cache) — more sensitive "
        "than whole texts, since one flipped token changes a text only if it is the first. The Q4_0 file keeps "
        "`token_embd` (tied with the output layer) in Q8_0: llama.cpp wants Q6_K there, which needs widths "
        "divisible by 256 (this model's are 128).",
        "",
        "| format | file MB | size vs HF | equivalence (lfm2_rec.) | loop rate (lfm2_rec.) | equivalence (greedy) "
        "| loop rate (greedy) | parse errors (greedy) | greedy text = HF's | greedy verdict = HF's "
        "| teacher-forced top-1 = HF's | max abs logit diff | eval s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        rec, greedy = row["settings"]["lfm2_recommended"], row["settings"]["greedy"]
        same_text, same_verdict, n = agreement(greedy_records(row), hf_greedy)
        lines.append(
            f"| {row['name']} | {sizes[row['name']]:.2f} | {sizes[row['name']] / sizes['HF fp32']:.2f} "
            f"| {pct(rec['equivalence'])} | {pct(rec['loop_rate'])} | {pct(greedy['equivalence'])} "
            f"| {pct(greedy['loop_rate'])} | {pct(greedy['parse_error_rate'])} | {same_text}/{n} | {same_verdict}/{n} "
            f"| {forced[row['name']][0]}/{forced[row['name']][1]} | {forced[row['name']][2]:.3g} | {row['seconds']:.0f} |"
        )
    same_text, same_verdict, n = agreement(greedy_records(served), f16_greedy)
    served_greedy = served["settings"]["greedy"]
    lines += [
        "",
        "## Server route (GGUF F16, greedy)",
        "",
        "`python -m llama_cpp.server --model model-f16.gguf` on 127.0.0.1, evaluated through the harness's endpoint "
        "backend (`engine_for_model(URL, render_chat_locally=True)`: rlkit renders each prompt and sends the text to "
        "/v1/completions, because llama-cpp-python's chat route refuses the JSON-string tool-call arguments of the "
        "OpenAI wire format; the server strips the call markers from its replies and `RestoredCallBlocks` puts them "
        "back; `repeat_penalty: 1.0` is sent because the server defaults to 1.1).",
        "",
        "| route | equivalence | loop rate | same verdict as in-process | same text as in-process |",
        "|---|---|---|---|---|",
        f"| in-process llama.cpp | {pct(f16_row['settings']['greedy']['equivalence'])} "
        f"| {pct(f16_row['settings']['greedy']['loop_rate'])} | - | - |",
        f"| llama.cpp server | {pct(served_greedy['equivalence'])} | {pct(served_greedy['loop_rate'])} "
        f"| {same_verdict}/{n} | {same_text}/{n} |",
        "",
        f"Export seconds: {', '.join(f'{k} {v:.1f}' for k, v in export_seconds.items())} "
        "(Q8_0/Q4_0 include writing the F32 file they are quantized from).",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, shared with other jobs; timings are indicative only.",
        "",
    ]
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
