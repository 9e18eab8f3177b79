"""`python recipes/pipeline.py preset=real`, shrunk to a step or two per stage, on the real smollm2-135m.

Every part of the real run takes part: the converted SmolLM2 with the grafted tool format, full-weight
SFT on two envs, two DPO rounds with K=5 + 1 greedy candidates through the vLLM engine and a
llama.cpp judge on 127.0.0.1, GRPO with vLLM colocated, each stage and eval in its own process,
vLLM evals with free-text loop rates and the real banking rows, and the final model evaluated by
`recipes/eval.py --model <dir>`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]

SHRUNK = [
    "sft.data.num_rows=8", "sft.train.max_steps=2", "sft.train.save_steps=0", "sft.train.logging_steps=1",
    "dpo.data.num_rows=2", "dpo.sampling.max_tokens=16", "dpo.train.steps_per_round=1", "dpo.train.batch_size=2",
    "grpo.data.num_rows=4", "grpo.train.max_steps=1", "grpo.train.prompts_per_step=2", "grpo.rollout.num_generations=2",
    "grpo.rollout.max_completion_length=8", "grpo.dynamic_sampling.enabled=false",
    "eval.episodes=1", "eval.max_tokens=8", "eval.reply_max_tokens=8", "eval.extra_limit=2",
]


@pytest.mark.slow  # ~7 min on 2 idle cores (8 vLLM engine starts, llama.cpp's judge); outside the CI command
def test_the_real_preset_shrunk_runs_every_stage(tmp_path):
    pytest.importorskip("vllm", reason="the real preset's rollouts and evals run on the vLLM CPU engine")
    pytest.importorskip("llama_cpp", reason="the real preset's LLM judge runs on llama-cpp-python's server")
    run = tmp_path / "run"
    env = {**os.environ, "WANDB_MODE": "offline"}
    subprocess.run([sys.executable, "recipes/pipeline.py", "preset=real", f"output_dir={run}",
                    f"dpo.jury.cache_dir={tmp_path / 'judge'}", *SHRUNK], cwd=REPO, env=env, check=True, timeout=2400)

    summary = json.loads((run / "pipeline.json").read_text())
    assert [s["stage"] for s in summary["stages"]] == ["base", "sft", "dpo", "grpo"]
    for stage in summary["stages"]:
        greedy = stage["metrics"]["greedy"]
        assert greedy["calls"] > 0 and greedy["replies"] > 0 and len(greedy["equivalence_ci"]) == 2
        assert stage["metrics"]["temperature_1.0"]["replies"] == greedy["replies"]
        assert stage["metrics"]["banking (real rows): greedy"]["calls"] == 2
    table = (run / "pipeline.md").read_text()
    assert "free-text loop rate (temperature_1.0)" in table and "equivalence (banking (real rows): greedy)" in table

    for round_index in (0, 1):  # the DPO round report: K+1 candidates, loops vetoed, the LLM judge's votes
        pairs = run / "dpo" / f"round_{round_index}" / "pairs"
        report = json.loads((pairs / "report.json").read_text())
        assert report["prompts"] == 2 and report["candidates"] == 2 * 6
        assert {"candidate_loop_rate", "chosen_loops", "rejected_loops"} <= report.keys()
        assert "vetoed_candidates" in report["jury"] and report["jury"]["tasks"] == 2  # this round's own counts
        assert report["jury"]["influence"]["local"]["answered"] >= 1
        audit = [json.loads(line) for line in (pairs / "audit.jsonl").read_text().splitlines()]
        assert all(len(record["candidates"]) == 6 for record in audit)
        assert all("local" in {vote["judge"] for vote in record["votes"]} for record in audit)

    final = json.loads((run / "grpo" / "stage.json").read_text())["model"]
    subprocess.run([sys.executable, "recipes/eval.py", "--model", final, "--backend", "vllm", "--output", str(tmp_path / "eval"),
                    "episodes=1", "max_tokens=8"], cwd=REPO, env=env, check=True, timeout=600)
    assert json.loads((tmp_path / "eval" / "results.json").read_text())
