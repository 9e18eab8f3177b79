"""Sweeps end to end through `launch/sweep.py`: local (parallel) and submitit-local backends on a toy
recipe whose final loss is known in closed form, Slurm script rendering, the wandb trial entry,
and (slow) a real SFT sweep."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import typing
from pathlib import Path

import pytest

from tests.recipes import load_script
import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from launch.sweep_spec import expand_trials, format_override, load_sweep  # noqa: E402

from rlkit.config import load_config  # noqa: E402

pytestmark = pytest.mark.integration
TOY = "tests/integration/launch_toy_recipe.py"


def toy_loss(lr: float, steps: int = 3, target: float = 3.0) -> float:
    """Closed form of the toy recipe's final loss (see its docstring)."""
    return target**2 * (1 - 2 * lr) ** (2 * steps)


def _write_spec(tmp_path: Path, **body) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump({"name": "toy", "recipe": TOY, "output_root": str(tmp_path / "runs"),
                                    "metric": "train.loss", "goal": "minimize", **body}, sort_keys=False))
    return path


def _sweep(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "launch/sweep.py", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=300, env={**os.environ, **(env or {})})


def _rows(tmp_path: Path, name: str = "toy") -> list[dict]:
    return [json.loads(line) for line in (tmp_path / "runs" / name / "results.jsonl").read_text().splitlines()]


def test_local_grid_in_parallel_collects_configs_metrics_and_failures(tmp_path):
    spec = _write_spec(tmp_path, parameters={"train.learning_rate": {"values": [0.1, 0.25]}, "fail": {"values": [False, True]}},
                       fixed={"train.steps": 3}, backend={"kind": "local", "parallel": 2})
    done = _sweep("run", str(spec))
    assert done.returncode == 1, "a failed trial must make the sweep exit non-zero"
    rows = _rows(tmp_path)
    assert len(rows) == 4
    ok = [r for r in rows if r["status"] == "ok"]
    assert [r["config"]["train.learning_rate"] for r in ok] == [0.25, 0.1]  # sorted by loss, best first
    for row in ok:
        assert row["metrics"]["train.loss"] == pytest.approx(toy_loss(row["config"]["train.learning_rate"]))
        assert row["config"]["output_dir"] == row["output_dir"]
        assert Path(row["output_dir"]).parent == tmp_path / "runs" / "toy"
    failed = [r for r in rows if r["status"] == "failed"]
    assert len(failed) == 2 and all(r["overrides"]["fail"] is True and r["metrics"] == {} for r in failed)
    table = (tmp_path / "runs" / "toy" / "results.md").read_text()
    assert "| trial | status | train.learning_rate | fail | train.loss |" in table
    assert f"{toy_loss(0.25):.4g}" in table


def test_submitit_local_random_search(tmp_path):
    spec = _write_spec(tmp_path, method="random", num_trials=2, seed=3,
                       parameters={"train.learning_rate": {"distribution": "uniform", "min": 0.05, "max": 0.2}},
                       backend={"kind": "submitit", "timeout_min": 5})
    done = _sweep("run", str(spec), "--backend", "submitit-local")
    assert done.returncode == 0, done.stderr[-2000:]
    drawn = sorted(t["train.learning_rate"] for t in expand_trials(load_sweep(spec)))
    rows = _rows(tmp_path)
    assert sorted(r["config"]["train.learning_rate"] for r in rows) == pytest.approx(drawn)
    for row in rows:
        assert row["status"] == "ok" and row["job_id"]
        assert row["metrics"]["train.loss"] == pytest.approx(toy_loss(row["config"]["train.learning_rate"]))
    assert list((tmp_path / "runs" / "toy" / "submitit").glob("*_result.pkl")), "submitit did not run the jobs"


def test_slurm_backend_renders_one_sbatch_script_per_trial(tmp_path):
    spec = _write_spec(tmp_path, parameters={"train.learning_rate": {"values": [0.1, 0.2]}},
                       accelerate_config="launch/accelerate/deepspeed_zero2.yaml",
                       backend={"kind": "slurm", "slurm": {"nodes": 2, "gpus_per_node": 4, "partition": "gpu"}})
    done = _sweep("run", str(spec), "--dry-run")
    assert done.returncode == 0, done.stderr[-2000:]
    for i, lr in enumerate(["0.1", "0.2"]):
        script = (tmp_path / "runs" / "toy" / f"trial-{i:03d}" / "job.sbatch").read_text()
        assert "#SBATCH --nodes=2\n" in script and "#SBATCH --partition=gpu\n" in script
        assert f"train.learning_rate={lr}" in script and f"output_dir={tmp_path}/runs/toy/trial-{i:03d}" in script
        assert "node_launch.sh launch/accelerate/deepspeed_zero2.yaml tests/integration/launch_toy_recipe.py" in script


def test_wandb_agent_trial_entry_uses_the_run_id_for_output_dir(tmp_path):
    spec = _write_spec(tmp_path, parameters={"train.learning_rate": {"values": [0.1]}})
    done = _sweep("trial", str(spec), "train.learning_rate=0.25", env={"WANDB_RUN_ID": "abc123"})
    assert done.returncode == 0, done.stderr[-2000:]
    metrics = json.loads((tmp_path / "runs" / "toy" / "wandb-abc123" / "metrics.json").read_text())
    assert metrics["train"]["loss"] == pytest.approx(toy_loss(0.25))
    printed = _sweep("wandb", str(spec))
    assert yaml.safe_load(printed.stdout)["parameters"] == {"train.learning_rate": {"values": [0.1]}}


@pytest.mark.parametrize("path", sorted((REPO / "launch" / "sweeps").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_sweeps_use_real_config_keys(path):
    spec = load_sweep(path)
    assert path.read_text().startswith("# python launch/sweep.py ")
    assert (REPO / spec.recipe).is_file() and (REPO / spec.config).is_file()
    module = load_script(spec.recipe)
    config_cls = typing.get_type_hints(module.main)["config"]
    for trial in expand_trials(spec)[:3]:
        overrides = [format_override(k, v) for k, v in {**spec.fixed, **trial}.items()]
        config = load_config(config_cls, REPO / spec.config, overrides)  # a typo'd key raises here
        assert config is not None


@pytest.mark.slow
def test_real_sft_sweep_two_trials(tmp_path, tiny_model_dir):
    spec = tmp_path / "sft.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "sft", "recipe": "recipes/sft.py", "config": "recipes/configs/sft.yaml", "output_root": str(tmp_path / "runs"),
        "fixed": {"train.max_steps": 2, "train.batch_size": 2, "train.logging_steps": 1, "train.report_to": "none",
                  "data.num_rows": 8},
        "parameters": {"train.learning_rate": {"values": [1e-3, 1e-2]}}, "metric": "train_loss", "goal": "minimize",
    }))
    done = _sweep("run", str(spec), "--parallel", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    rows = _rows(tmp_path, "sft")
    assert sorted(r["config"]["train.learning_rate"] for r in rows) == [1e-3, 1e-2]
    assert all(r["metrics"]["train_loss"] > 0 and (Path(r["output_dir"]) / "model").is_dir() for r in rows)
