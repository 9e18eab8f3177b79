"""Shared helpers for the multi-process and resume tests: run a recipe (plainly or under
`accelerate launch`), load its saved weights, compare two sets of weights.

The reference SFT run is made once per test session and shared by the modules that compare
against it (2-process DDP, DeepSpeed ZeRO-2, resume after SIGKILL)."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file

REPO = Path(__file__).resolve().parents[2]

# Four SFT steps on 16 env conversations with a global batch of 4; a high constant-ish learning rate
# so that four steps move the weights visibly (a mismatch cannot hide under a tiny update).
SFT_COMMON = [
    "train.max_steps=4", "data.num_rows=16", "train.logging_steps=1", "train.report_to=none",
    "train.warmup_steps=0", "train.learning_rate=1e-2", "train.num_threads=1",
]
GLOBAL_BATCH = 4


DISTRIBUTED_VARS = {"RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"}


def recipe_env() -> dict[str, str]:
    """Environment for recipe subprocesses: offline, one thread, repo importable, tiny model cache."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    # A recipe run as a child is its own job: it must not inherit this process's rank or master port.
    inherited = {k: v for k, v in os.environ.items() if k not in DISTRIBUTED_VARS}
    return {**inherited, "PYTHONPATH": path, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline",
            "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
            "RLKIT_CACHE_DIR": os.environ.get("RLKIT_CACHE_DIR", str(REPO / ".cache" / "rlkit"))}


def recipe_command(recipe: str, args: list[str], accelerate_config: str = "", launch_args: tuple[str, ...] = ()) -> list[str]:
    """argv for `python recipes/x.py ...`, or the same under `accelerate launch --config_file C [launch_args]`."""
    if accelerate_config:
        launcher = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", accelerate_config, *launch_args]
        return [*launcher, recipe, *args]
    return [sys.executable, recipe, *args]


def run_recipe(
    recipe: str, args: list[str], accelerate_config: str = "", launch_args: tuple[str, ...] = (), timeout: int = 600
) -> subprocess.CompletedProcess:
    """Run a recipe to completion; fail with its log tail if it exits non-zero."""
    done = subprocess.run(recipe_command(recipe, args, accelerate_config, launch_args), cwd=REPO, env=recipe_env(),
                          capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise AssertionError(f"{recipe} {args} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}")
    return done


def load_weights(model_dir: Path) -> dict[str, torch.Tensor]:
    """All tensors of a saved HF model folder (safetensors shards)."""
    tensors: dict[str, torch.Tensor] = {}
    for shard in sorted(Path(model_dir).glob("*.safetensors")):
        tensors.update(load_file(shard))
    if not tensors:
        raise AssertionError(f"no safetensors in {model_dir}")
    return tensors


def max_abs_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    """Largest element-wise difference over all tensors (the key sets must match)."""
    assert a.keys() == b.keys(), f"different tensors: {sorted(a.keys() ^ b.keys())[:5]}"
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)


def max_update(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> float:
    """How far training moved the weights (the scale a tolerance is judged against)."""
    return max_abs_diff(before, after)


@functools.lru_cache(maxsize=None)
def reference_sft_run() -> Path:
    """Single-process SFT, global batch 4, a sealed checkpoint after every step; run once per session."""
    out = Path(tempfile.mkdtemp(prefix="rlkit-sft-reference-")) / "run"
    run_recipe("recipes/sft.py", [*SFT_COMMON, f"train.batch_size={GLOBAL_BATCH}", "train.save_steps=1", f"output_dir={out}"])
    return out
