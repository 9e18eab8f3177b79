"""The sbatch renderer: every placeholder filled, values quoted, bad job descriptions refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # launch/ holds scripts, not an installed package

from launch.slurm.render import SlurmJob, SlurmRenderError, render_sbatch  # noqa: E402


def test_two_node_script_headers_and_launch_line():
    script = render_sbatch(SlurmJob(recipe="recipes/sft.py", recipe_args=["train.max_steps=5"], nodes=2, gpus_per_node=4))
    assert "{{" not in script
    assert "#SBATCH --nodes=2\n" in script
    assert "#SBATCH --gpus-per-node=4\n" in script
    assert "#SBATCH --ntasks-per-node=1\n" in script
    assert "recipe_args=(train.max_steps=5)" in script
    assert "srun --nodes=2 --ntasks=2" in script
    assert "bash launch/slurm/node_launch.sh launch/accelerate/multi_gpu.yaml recipes/sft.py" in script
    subprocess.run(["bash", "-n"], input=script, text=True, check=True)


def test_vllm_nodes_are_added_to_the_allocation_and_host_expands_at_run_time():
    job = SlurmJob(recipe="recipes/grpo_toolcall.py", recipe_args=["model=LiquidAI/LFM2-350M"], nodes=2, vllm_nodes=1)
    script = render_sbatch(job)
    assert "#SBATCH --nodes=3\n" in script
    assert "vllm.entrypoints.openai.api_server --model LiquidAI/LFM2-350M --served-model-name policy" in script
    assert "--tensor-parallel-size 8" in script and "RlkitWeightSync" in script
    assert 'rollout.server_url=http://"$VLLM_HOST":8000/v1' in script


def test_recipe_args_are_shell_quoted():
    script = render_sbatch(SlurmJob(recipe="recipes/sft.py", recipe_args=["output_dir=runs/a b;rm -rf x"]))
    assert "recipe_args=('output_dir=runs/a b;rm -rf x')" in script


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"nodes": 0}, "nodes must be >= 1"),
        ({"time": "4 hours"}, "is not a Slurm time"),
        ({"job_name": "a b"}, "job_name"),
        ({"vllm_nodes": 1}, "needs vllm_model"),
        ({"extra_sbatch": ["partition=gpu"]}, "extra_sbatch"),
    ],
)
def test_bad_jobs_are_refused_with_the_field_named(changes, message):
    with pytest.raises(SlurmRenderError, match=message):
        render_sbatch(SlurmJob(recipe="recipes/sft.py", **changes))


def test_unknown_placeholder_is_an_error():
    with pytest.raises(SlurmRenderError, match="unknown placeholder"):
        render_sbatch(SlurmJob(recipe="recipes/sft.py"), template="#!/bin/bash\n{{no_such}}\n")
