"""python launch/slurm/render.py --recipe recipes/sft.py --nodes 2 --gpus-per-node 8 [--submit] -- key=value ...

Render launch/slurm/job.sbatch.template into a runnable sbatch script: N training nodes x G GPUs
through `accelerate launch` (launch/slurm/node_launch.sh derives each node's machine rank and the
main process address from Slurm's variables), optionally plus dedicated vLLM server nodes that
serve rollouts. `--submit` passes the script to `sbatch` and prints the job id.
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = Path(__file__).with_name("job.sbatch.template")
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
_SLURM_TIME = re.compile(r"^(\d+-)?\d{1,2}(:\d{2}){0,2}$")


@dataclass
class SlurmJob:
    """What one sbatch job runs and on how many machines."""

    recipe: str
    recipe_args: list[str] = field(default_factory=list)
    nodes: int = 1
    gpus_per_node: int = 8
    accelerate_config: str = "launch/accelerate/multi_gpu.yaml"
    job_name: str = "rlkit"
    time: str = "04:00:00"
    cpus_per_task: int = 32
    log_dir: str = "runs/slurm"
    repo_dir: str = str(REPO)
    setup: str = "source .venv/bin/activate"  # shell lines run on the batch host before launching
    main_process_port: int = 29500
    vllm_nodes: int = 0  # dedicated rollout servers (GRPO/DPO with vllm server mode)
    vllm_model: str = ""  # the model the servers load; defaults to the recipe's `model` override
    vllm_port: int = 8000
    # Recipe overrides pointing rollouts at the server; {host} and {port} are filled in on the node.
    vllm_overrides: list[str] = field(
        default_factory=lambda: ["rollout.backend=vllm_server", "rollout.server_url=http://{host}:{port}/v1", "rollout.served_model=policy"]
    )
    shared_tmp: str = "runs/slurm/tmp"  # weight-sync folders; must be on the filesystem all nodes share
    extra_sbatch: list[str] = field(default_factory=list)  # e.g. ["--partition=gpu", "--account=x"]


class SlurmRenderError(ValueError):
    """A job description that cannot become a valid sbatch script."""


def render_sbatch(job: SlurmJob, template: str | None = None) -> str:
    """The sbatch script for `job` (every placeholder filled, every value shell-quoted)."""
    _check(job)
    values = {
        "job_name": job.job_name,
        "total_nodes": str(job.nodes + job.vllm_nodes),
        "train_nodes": str(job.nodes),
        "train_nodes_minus_1": str(job.nodes - 1),
        "gpus_per_node": str(job.gpus_per_node),
        "cpus_per_task": str(job.cpus_per_task),
        "time": job.time,
        "log_dir": shlex.quote(job.log_dir),
        "repo_dir": shlex.quote(job.repo_dir),
        "setup": job.setup,
        "extra_sbatch": "\n".join(f"#SBATCH {line}" for line in job.extra_sbatch),
        "main_process_port": str(job.main_process_port),
        "recipe_args": " ".join(shlex.quote(arg) for arg in job.recipe_args),
        "vllm_model": shlex.quote(job.vllm_model or _model_override(job.recipe_args)),
        "vllm_port": str(job.vllm_port),
        "vllm_args": " ".join(_runtime_quoted(o, job.vllm_port) for o in job.vllm_overrides),
        "accelerate_config": shlex.quote(job.accelerate_config),
        "shared_tmp": shlex.quote(job.shared_tmp),
        "recipe": shlex.quote(job.recipe),
    }
    text = template if template is not None else TEMPLATE.read_text()

    def fill(match: re.Match) -> str:
        name = match.group(1)
        if name not in values:
            raise SlurmRenderError(f"{TEMPLATE.name}: unknown placeholder {{{{{name}}}}}")
        return values[name]

    return _PLACEHOLDER.sub(fill, text)


def write_sbatch(job: SlurmJob, path: str | Path) -> Path:
    """Render `job` to `path` (made executable) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_sbatch(job))
    # sbatch does not create the folder of --output; a missing one loses the job's log silently.
    (Path(job.repo_dir) / job.log_dir).mkdir(parents=True, exist_ok=True)
    path.chmod(0o755)
    return path


def submit(script: str | Path) -> str:
    """`sbatch --parsable script`; returns the job id."""
    done = subprocess.run(["sbatch", "--parsable", str(script)], check=True, capture_output=True, text=True)
    return done.stdout.strip().split(";")[0]


def _check(job: SlurmJob) -> None:
    if job.nodes < 1:
        raise SlurmRenderError(f"nodes must be >= 1, got {job.nodes}")
    if job.gpus_per_node < 1:
        raise SlurmRenderError(f"gpus_per_node must be >= 1, got {job.gpus_per_node}")
    if job.vllm_nodes < 0:
        raise SlurmRenderError(f"vllm_nodes must be >= 0, got {job.vllm_nodes}")
    if not _SLURM_TIME.match(job.time):
        raise SlurmRenderError(f"time {job.time!r} is not a Slurm time such as 04:00:00 or 1-00:00:00")
    if not re.fullmatch(r"[\w.-]+", job.job_name):
        raise SlurmRenderError(f"job_name {job.job_name!r} may hold only letters, digits, '_', '.', '-'")
    if job.vllm_nodes and not (job.vllm_model or _model_override(job.recipe_args)):
        raise SlurmRenderError("vllm_nodes > 0 needs vllm_model or a model=... recipe override to serve")
    for line in job.extra_sbatch:
        if "\n" in line or not line.startswith("--"):
            raise SlurmRenderError(f"extra_sbatch entry {line!r} must be one '--option=value'")


def _model_override(recipe_args: list[str]) -> str:
    for arg in recipe_args:
        if arg.startswith("model="):
            return arg.split("=", 1)[1]
    return ""


def _runtime_quoted(override: str, port: int) -> str:
    """Quote an override for bash, leaving {host} as "$VLLM_HOST" to expand on the node."""
    parts = override.replace("{port}", str(port)).split("{host}")
    return '"$VLLM_HOST"'.join(shlex.quote(p) if p else "" for p in parts)


def main(argv: list[str] | None = None) -> int:
    """CLI: render (and optionally submit) one job."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", required=True)
    parser.add_argument("--nodes", type=int, default=1)
    parser.add_argument("--gpus-per-node", type=int, default=8)
    parser.add_argument("--accelerate-config", default=SlurmJob.accelerate_config)
    parser.add_argument("--vllm-nodes", type=int, default=0)
    parser.add_argument("--vllm-model", default="")
    parser.add_argument("--job-name", default="rlkit")
    parser.add_argument("--time", default=SlurmJob.time)
    parser.add_argument("--sbatch", action="append", default=[], help="extra #SBATCH option, e.g. --partition=gpu")
    parser.add_argument("--out", default="runs/slurm/job.sbatch")
    parser.add_argument("--submit", action="store_true")
    parser.add_argument("recipe_args", nargs="*")
    args = parser.parse_args(argv)
    job = SlurmJob(
        recipe=args.recipe, recipe_args=args.recipe_args, nodes=args.nodes, gpus_per_node=args.gpus_per_node,
        accelerate_config=args.accelerate_config, vllm_nodes=args.vllm_nodes, vllm_model=args.vllm_model,
        job_name=args.job_name, time=args.time, extra_sbatch=args.sbatch,
    )
    path = write_sbatch(job, args.out)
    print(path)
    if args.submit:
        print(submit(path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
