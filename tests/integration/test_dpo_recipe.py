"""recipes/dpo_antiloop.py on the tiny model: one round end to end, `accelerate launch`, and resume
after the process is killed between building a round's pairs and finishing its training."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from datasets import load_from_disk
from transformers import AutoModelForCausalLM

from rlkit.config import load_config
from tests.recipes import load_recipe

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]

TINY = [
    "rounds=1", "data.num_rows=4", "sampling.k=2", "sampling.max_tokens=24",
    "train.steps_per_round=2", "train.batch_size=2", "train.logging_steps=1",
    "jury.llm_judges=[]", "rollout_batch_size=8",
]


def _overrides(tmp_path: Path, model_dir: Path, *extra: str) -> list[str]:
    return [f"model={model_dir}", f"output_dir={tmp_path / 'run'}", f"jury.cache_dir={tmp_path / 'judge'}", *TINY, *extra]


def test_one_round_trains_and_keeps_the_audit_trail(tmp_path, tiny_model_dir, caplog):
    recipe = load_recipe("dpo_antiloop")
    config = load_config(recipe.DPORecipeConfig, recipe.DEFAULT_CONFIG, _overrides(tmp_path, tiny_model_dir))
    caplog.set_level("WARNING")
    final = recipe.main(config)
    assert "rule judges only" in caplog.text
    run = tmp_path / "run"
    pairs = load_from_disk(str(run / "round_0" / "pairs"))
    report = json.loads((run / "round_0" / "pairs" / "report.json").read_text())
    audit = [json.loads(line) for line in (run / "round_0" / "pairs" / "audit.jsonl").read_text().splitlines()]
    assert len(audit) == 4 and report["prompts"] == 4
    assert report["pairs"] + sum(report["skipped"].values()) == 4  # every prompt accounted for
    assert len(pairs) == report["pairs"] > 0
    assert all(len(a["candidates"]) == 3 for a in audit)  # K=2 sampled + 1 greedy
    assert not any(pairs["chosen_loop"])
    trained = AutoModelForCausalLM.from_pretrained(final).state_dict()
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir).state_dict()
    assert any(not torch.equal(trained[k], base[k]) for k in base)
    assert (run / "config.yaml").is_file()


def _env() -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", WANDB_MODE="offline")
    return env


@pytest.mark.slow  # two `accelerate launch` runs: ~2 min on 2 shared cores
def test_accelerate_launch_and_resume_after_kill(tmp_path, tiny_model_dir):
    accelerate = Path(sys.executable).with_name("accelerate")
    args = _overrides(tmp_path, tiny_model_dir, "rounds=2")
    cmd = [str(accelerate), "launch", "--num_processes", "1", "--cpu", str(REPO / "recipes" / "dpo_antiloop.py"), *args]
    run = tmp_path / "run"
    pairs0 = run / "round_0" / "pairs" / "dataset_info.json"
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not pairs0.is_file() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pairs0.is_file(), proc.stderr.read().decode()[-3000:] if proc.poll() is not None else "no pairs in time"
    finally:
        # Kill the launcher and its child (the process group we started).
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not (run / "round_0" / "done.json").is_file()  # killed before round 0 finished
    first_pairs = (run / "round_0" / "pairs" / "data-00000-of-00001.arrow").read_bytes()

    done = subprocess.run(cmd, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    # Same pairs (not resampled), both rounds finished, the final model published.
    assert (run / "round_0" / "pairs" / "data-00000-of-00001.arrow").read_bytes() == first_pairs
    assert json.loads((run / "round_0" / "done.json").read_text())["round"] == 0
    assert json.loads((run / "round_1" / "done.json").read_text())["round"] == 1
    assert (run / "model" / "config.json").is_file()
    assert not list(run.glob("**/*.tmp"))
