"""Run the rendered 2-node sbatch script here, with `srun`/`scontrol`/`curl` stand-ins (Slurm cannot
run on this machine), and check each node's derived `accelerate launch` command; then run the same
per-node entry point for real with two CPU processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # launch/ holds scripts, not an installed package

from launch.slurm.render import SlurmJob, write_sbatch  # noqa: E402

pytestmark = pytest.mark.integration

# srun stand-in: starts the command once per node of --nodelist with the variables Slurm sets in a
# step (SLURM_NODEID relative to the step, SLURM_NNODES, SLURM_STEP_NODELIST, SLURM_GPUS_ON_NODE);
# a vLLM server step is only recorded.
FAKE_SRUN = r"""#!/usr/bin/env bash
nodes=; nodelist=
while [[ "$1" == --* ]]; do
  case "$1" in --nodes=*) nodes=${1#--nodes=};; --nodelist=*) nodelist=${1#--nodelist=};; esac
  shift
done
if [[ "$1" == python && "$3" == vllm.entrypoints.openai.api_server ]]; then
  echo "$nodelist $* DEV_MODE=$VLLM_SERVER_DEV_MODE" > "$FAKE_SLURM_LOG/vllm_serve"; exit 0
fi
IFS=, read -ra list <<< "$nodelist"
[[ ${#list[@]} == "$nodes" ]] || { echo "nodelist/nodes mismatch" >&2; exit 3; }
for i in "${!list[@]}"; do
  SLURM_NODEID=$i SLURM_NNODES=$nodes SLURM_STEP_NODELIST=$nodelist SLURM_GPUS_ON_NODE=4 \
    "$@" > "$FAKE_SLURM_LOG/node$i" || exit $?
done
"""
FAKE_SCONTROL = """#!/usr/bin/env bash
# `scontrol show hostnames LIST`: our fake lists are already comma-separated host names
tr ',' '\\n' <<< "$3"
"""


def _fake_slurm_bin(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in {"srun": FAKE_SRUN, "scontrol": FAKE_SCONTROL, "curl": "#!/bin/sh\nexit 0\n"}.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    return bin_dir


def _run_job(tmp_path: Path, job: SlurmJob, nodelist: str) -> Path:
    script = write_sbatch(job, tmp_path / "job.sbatch")
    log = tmp_path / "log"
    log.mkdir()
    env = dict(os.environ, PATH=f"{_fake_slurm_bin(tmp_path)}:{os.environ['PATH']}", SLURM_JOB_NODELIST=nodelist, SLURM_JOB_ID="4242",
               FAKE_SLURM_LOG=str(log), RLKIT_DRY_RUN="1")
    subprocess.run(["bash", str(script)], env=env, check=True, timeout=60)
    return log


def _node_command(log: Path, rank: int) -> list[str]:
    lines = (log / f"node{rank}").read_text().splitlines()
    assert lines[0].startswith(f"# node_launch rank={rank}")
    return lines[1:]


def _flag(cmd: list[str], name: str) -> str:
    return cmd[cmd.index(name) + 1]


def test_rendered_two_node_job_gives_each_node_its_rank_and_the_head_address(tmp_path):
    job = SlurmJob(recipe="recipes/sft.py", recipe_args=["train.max_steps=5", "output_dir=runs/x"], nodes=2,
                   gpus_per_node=4, setup="", log_dir=str(tmp_path / "logs"), main_process_port=29611)
    log = _run_job(tmp_path, job, "gpu-a17,gpu-b03")
    for rank in (0, 1):
        cmd = _node_command(log, rank)
        assert cmd[:4] == ["accelerate", "launch", "--config_file", "launch/accelerate/multi_gpu.yaml"]
        assert _flag(cmd, "--machine_rank") == str(rank)
        assert _flag(cmd, "--num_machines") == "2"
        assert _flag(cmd, "--main_process_ip") == "gpu-a17"
        assert _flag(cmd, "--main_process_port") == "29611"
        assert _flag(cmd, "--num_processes") == "8"  # 2 nodes x 4 GPUs
        assert cmd[-3:] == ["recipes/sft.py", "train.max_steps=5", "output_dir=runs/x"]
    assert not (log / "vllm_serve").exists()


def test_vllm_server_node_is_excluded_from_training_and_passed_to_the_recipe(tmp_path):
    job = SlurmJob(recipe="recipes/grpo_toolcall.py", recipe_args=["model=some/model"], nodes=2, gpus_per_node=4,
                   vllm_nodes=1, setup="", log_dir=str(tmp_path / "logs"), shared_tmp=str(tmp_path / "shared"))
    log = _run_job(tmp_path, job, "n1,n2,n3")
    served = (log / "vllm_serve").read_text()
    assert served.startswith("n3 python -m vllm.entrypoints.openai.api_server --model some/model")
    assert served.strip().endswith("DEV_MODE=1")
    for rank in (0, 1):
        cmd = _node_command(log, rank)
        assert _flag(cmd, "--num_machines") == "2"
        assert _flag(cmd, "--main_process_ip") == "n1"
        assert "rollout.backend=vllm_server" in cmd and "rollout.server_url=http://n3:8000/v1" in cmd
    assert (tmp_path / "shared" / "4242").is_dir()  # the weight-sync folder on the shared filesystem
    assert not (log / "node2").exists()


def test_same_entry_point_runs_two_cpu_processes_locally(tmp_path):
    """No Slurm variables: node_launch.sh is a single-machine launch; two gloo processes see each other."""
    out = tmp_path / "dist.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    env.update(OMP_NUM_THREADS="1", PATH=f"{Path(sys.executable).parent}:{env['PATH']}")
    subprocess.run(
        ["bash", "launch/slurm/node_launch.sh", "launch/accelerate/cpu_2proc.yaml", "launch/dist_check.py", "--out", str(out)],
        cwd=REPO, env=env, check=True, timeout=240, capture_output=True,
    )
    seen = json.loads(out.read_text())
    assert seen["num_processes"] == 2
    assert seen["ranks_seen"] == [0, 1]
    assert seen["backend"] == "gloo"
