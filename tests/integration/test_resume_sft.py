"""SIGKILL the SFT recipe mid-run, damage its newest checkpoint, rerun it: it must skip (and
report) the damaged checkpoint, resume from the newest sealed one, and end with weights bitwise
equal to an uninterrupted run.

Why bitwise holds on CPU: the resumed Trainer restores model, optimizer and scheduler state, the
Python/NumPy/torch RNG states and the data position (it replays the seeded sampler and skips the
batches already trained on), and one CPU process computes the same float operations in the same
order every time. (On GPUs, non-deterministic kernels such as atomics-based reductions break this.)
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
import torch

from launch_runs import GLOBAL_BATCH, REPO, SFT_COMMON, load_weights, recipe_command, recipe_env, reference_sft_run, run_recipe
from rlkit.train.checkpoint import MANIFEST

pytestmark = pytest.mark.integration


def _kill_after_first_checkpoint(cmd: list[str], out, log_path) -> int:
    with open(log_path, "w") as log:
        # Own session, so the kill reaches the recipe and anything it started, and nothing else.
        proc = subprocess.Popen(cmd, cwd=REPO, env=recipe_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 500
        while proc.poll() is None and time.monotonic() < deadline:
            if (out / "checkpoint-1" / MANIFEST).is_file():
                os.killpg(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.05)
        return proc.wait(timeout=60)


def test_sigkill_then_resume_is_bitwise_equal_to_uninterrupted(tmp_path):
    out = tmp_path / "run"
    args = [*SFT_COMMON, f"train.batch_size={GLOBAL_BATCH}", "train.save_steps=1", f"output_dir={out}"]
    returncode = _kill_after_first_checkpoint(recipe_command("recipes/sft.py", args), out, tmp_path / "killed.log")
    assert returncode == -signal.SIGKILL, f"the run was not killed mid-way (exit {returncode})"
    assert not (out / "model").exists()

    # The newest checkpoint is damaged (cut off mid-write, or a bit flipped on disk); if the kill
    # came before a second checkpoint started, plant a half-written one.
    checkpoints = sorted(out.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    if len(checkpoints) == 1:
        newest = out / "checkpoint-2"
        newest.mkdir()
        (newest / "model.safetensors").write_bytes(b"\0" * 100)
    else:
        newest = checkpoints[-1]
        weights = newest / "model.safetensors"
        if weights.is_file():
            weights.write_bytes(weights.read_bytes()[:-8])
    expected_start = sorted((p for p in out.glob("checkpoint-*") if p != newest), key=lambda p: int(p.name.split("-")[1]))[-1]

    done = run_recipe("recipes/sft.py", args)
    log = done.stdout + done.stderr
    assert f"not resuming from {newest}" in log
    assert f"resuming from {expected_start}" in log

    reference = load_weights(reference_sft_run() / "model")
    resumed = load_weights(out / "model")
    assert reference.keys() == resumed.keys()
    unequal = [k for k in reference if not torch.equal(reference[k], resumed[k])]
    assert not unequal, f"{len(unequal)} tensors differ after resume, e.g. {unequal[:3]}"
