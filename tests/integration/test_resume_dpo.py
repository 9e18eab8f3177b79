"""SIGKILL the anti-loop DPO recipe during its second round, rerun it, and compare the final
weights with an uninterrupted run: bitwise equal on CPU.

The recipe's resume unit is the round: finished rounds (done.json) are skipped, the interrupted
round reuses its saved pairs (published atomically) and retrains from the previous round's saved
model with the same seeds, so the rerun repeats exactly the same float operations."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
import torch

from launch_runs import REPO, load_weights, recipe_command, recipe_env, run_recipe

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _args(model_dir, out) -> list[str]:
    return [f"model={model_dir}", "rounds=2", "data.num_rows=6", "sampling.k=2", "sampling.max_tokens=24",
            "jury.llm_judges=[]", f"jury.cache_dir={out}/judge-cache", "train.steps_per_round=2", "train.batch_size=2",
            "train.learning_rate=1e-3", "train.num_threads=1", f"output_dir={out}"]


def test_dpo_killed_in_round_two_resumes_to_identical_weights(tmp_path, tiny_model_dir):
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    run_recipe("recipes/dpo_antiloop.py", _args(tiny_model_dir, reference))

    with open(tmp_path / "killed.log", "w") as log:
        proc = subprocess.Popen(recipe_command("recipes/dpo_antiloop.py", _args(tiny_model_dir, killed)), cwd=REPO,
                                env=recipe_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 500
        while proc.poll() is None and time.monotonic() < deadline:
            if (killed / "round_0" / "done.json").is_file():
                os.killpg(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.05)
        assert proc.wait(timeout=60) == -signal.SIGKILL
    assert not (killed / "model").exists() and not (killed / "round_1" / "done.json").exists()

    done = run_recipe("recipes/dpo_antiloop.py", _args(tiny_model_dir, killed))
    assert "round 0 already finished" in done.stdout + done.stderr
    ref, got = load_weights(reference / "model"), load_weights(killed / "model")
    assert ref.keys() == got.keys()
    assert all(torch.equal(ref[k], got[k]) for k in ref)
