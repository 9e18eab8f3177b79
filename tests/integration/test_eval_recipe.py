"""The eval recipe end to end with the tiny model: the acceptance command (shortened) and an env split."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SUMMARY = re.compile(r"^tool-call equivalence: (\d+\.\d)% \(n=(\d+)\)$")


def run_recipe(args: list[str]) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""), OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "recipes/eval.py", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600)


def test_acceptance_command_on_banking_prints_the_summary_last(shared_data, tiny_model_dir, tmp_path):
    out = tmp_path / "eval-banking"
    done = run_recipe([
        "--data", "../shared/data/banking/train.jsonl", "--tools", "../shared/data/banking/job_description.json",
        "--model", "tiny-lfm2", "--output", str(out), "--limit", "6", "--max-tokens", "24",
    ])
    assert done.returncode == 0, done.stderr[-3000:]
    last = done.stdout.strip().splitlines()[-1]
    match = SUMMARY.match(last)
    assert match, f"last line was {last!r}"
    assert match.group(2) == "6"
    results = json.loads((out / "results.json").read_text())
    assert results["summary_line"] == last
    assert len(results["records"]) == 12  # 6 rows x 2 settings
    assert all(r["length"] <= 24 and r["reason"] for r in results["records"])
    assert (out / "accuracy_by_tool.png").stat().st_size > 10_000 and (out / "loop_rate_by_setting.png").is_file()
    assert (out / "config.yaml").read_text().startswith("data: ../shared/data/banking/train.jsonl")


def test_missing_gguf_model_fails_naming_the_file(tmp_path):
    done = run_recipe(["--data", "smart_home", "--episodes", "1", "--model", str(tmp_path / "m.gguf"),
                       "--output", str(tmp_path / "out")])
    assert done.returncode != 0
    assert f"{tmp_path / 'm.gguf'}': GGUF file not found" in done.stderr


def test_env_split_with_tiny_model_in_process(tiny_model, one_thread):
    from rlkit.eval import GREEDY, evaluate
    from rlkit.eval.sources import load_env_split
    from rlkit.rollout.hf import HFRollout

    model, tokenizer = tiny_model
    data = load_env_split("smart_home", split="test", n_episodes=2, seed=0)
    result = evaluate(HFRollout(model, tokenizer), data.examples, [GREEDY], max_tokens=16,
                      episodes=data.episodes, env_factory=data.env_factory)
    m = result.metrics["greedy"]
    assert m["calls"]["n"] == sum(1 for e in data.examples if e.kind == "call")
    assert m["replies"]["n"] == len(data.examples) - m["calls"]["n"]
    assert len(result.episodes) == 2
    assert all(len(e.turns) == e.num_turns for e in result.episodes)
    # Greedy is deterministic: a second run gives the same completions.
    again = evaluate(HFRollout(model, tokenizer), data.examples, [GREEDY], max_tokens=16)
    assert [r.completion for r in again.records] == [r.completion for r in result.records]
