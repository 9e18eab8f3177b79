"""Does an SFT'd model write the grafted tool-call markers? Teacher-forced loss on them vs the rest.

    python benchmarks/marker_tokens.py --models smollm2-135m,runs/pipeline_real/sft/model

For each model: held-out smart-home test conversations rendered as SFT renders them; over the
assistant tokens (the SFT loss mask), the mean negative log-likelihood of `<|tool_call_start|>`,
of `<|tool_call_end|>` and of every other assistant token, and the share of call turns whose first
token the model ranks first (greedy would open the call). Results: benchmarks/results/marker_tokens.md.
"""

from __future__ import annotations

import argparse
import os
import platform
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results" / "marker_tokens.md"
MARKERS = ("<|tool_call_start|>", "<|tool_call_end|>")


def measure(model_name: str, conversations: int) -> dict:
    from rlkit.data.sources import TaskSource, load_task_rows
    from rlkit.model import load_model_and_tokenizer
    from rlkit.sft.data import build_sft_dataset

    model, tokenizer = load_model_and_tokenizer(model_name)
    model.eval()
    rows = load_task_rows(TaskSource(env="smart_home", split="test", num_rows=conversations, seed=0))
    dataset, _ = build_sft_dataset(rows, tokenizer, "compact", 2048)
    start, end = (tokenizer.convert_tokens_to_ids(m) for m in MARKERS)
    nll = {"start": [], "end": [], "other": []}
    opened = []
    for row in dataset:
        ids = torch.tensor([row["input_ids"]])
        with torch.no_grad():
            logprobs = model(ids).logits[0].float().log_softmax(-1)
        for i in range(1, len(row["input_ids"])):
            if not row["assistant_masks"][i]:
                continue
            token = row["input_ids"][i]
            key = "start" if token == start else "end" if token == end else "other"
            nll[key].append(-logprobs[i - 1, token].item())
            if token == start:
                opened.append(int(logprobs[i - 1].argmax()) == start)
    mean = {k: sum(v) / len(v) if v else float("nan") for k, v in nll.items()}
    return {"model": model_name, **mean, "calls": len(opened), "opened": sum(opened)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", required=True, help="comma-separated model names or folders")
    parser.add_argument("--conversations", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(2)
    results = [measure(name, args.conversations) for name in args.models.split(",")]
    lines = [
        "# Grafted tool-call markers after SFT: teacher-forced loss", "",
        f"`python benchmarks/marker_tokens.py --models {args.models} --conversations {args.conversations}` — "
        f"{platform.machine()}, {os.cpu_count()} CPUs; {args.conversations} smart-home test conversations.", "",
        "| model | NLL `<|tool_call_start|>` | NLL `<|tool_call_end|>` | NLL other assistant tokens | call turns opened at greedy |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(f"| `{r['model']}` | {r['start']:.2f} | {r['end']:.2f} | {r['other']:.2f} | {r['opened']}/{r['calls']} |")
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
