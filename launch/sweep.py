"""python launch/sweep.py run launch/sweeps/<sweep>.yaml [--backend local|submitit|submitit-local|slurm] [--parallel N]

Hyper-parameter sweeps over any recipe's config keys (grid or random; see launch/sweep_spec.py).
Every trial is `python recipes/<recipe>.py [--config C] <fixed> <swept> output_dir=<root>/<name>/trial-NNN`
(under `accelerate launch --config_file ...` when the sweep names one). Backends:

  local           trials on this machine, one after another or `--parallel N` at once
  submitit        one Slurm job per trial through submitit (`submitit-local`: submitit's local
                  executor, same code path, used by the tests)
  slurm           one rendered multi-node sbatch script per trial (launch/slurm), submitted with sbatch
  wandb           `wandb` writes the wandb sweep config (`--create` registers it, online);
                  `agent SWEEP_ID` runs a wandb agent; wandb then calls `trial` for each run

When trials finish, `<root>/<name>/results.jsonl` holds each trial's resolved config (the
config.yaml the recipe saved), metrics (metrics.json, else the Trainer's last logged values) and
output path, and `results.md` the same as one table (`table` rebuilds both at any time).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `python launch/sweep.py` puts launch/, not the repo, on sys.path
    sys.path.insert(0, str(REPO))

from launch.sweep_spec import SweepSpec, expand_trials, format_override, load_sweep, wandb_sweep_config  # noqa: E402
from rlkit.config import flatten_dotted  # noqa: E402

log = logging.getLogger("launch.sweep")


@dataclass
class Trial:
    """One run of the recipe: its swept values, where it writes, and how it went."""

    index: int
    overrides: dict[str, Any]
    output_dir: Path
    command: list[str] = field(default_factory=list)
    status: str = "pending"  # pending | ok | failed | submitted
    returncode: int | None = None
    seconds: float = 0.0
    job_id: str = ""


def sweep_dir(spec: SweepSpec) -> Path:
    """`<output_root>/<name>`, relative paths taken from the repo root."""
    root = Path(spec.output_root)
    return (root if root.is_absolute() else REPO / root) / spec.name


def trial_command(spec: SweepSpec, overrides: dict[str, Any], output_dir: Path, python: str = sys.executable) -> list[str]:
    """The argv that runs one trial (no shell involved)."""
    launcher = [python, "-m", "accelerate.commands.launch", "--config_file", spec.accelerate_config] if spec.accelerate_config else [python]
    cmd = [*launcher, spec.recipe]
    if spec.config:
        cmd += ["--config", spec.config]
    cmd += [format_override(k, v) for k, v in spec.fixed.items()]
    cmd += [format_override(k, v) for k, v in overrides.items()]
    return [*cmd, f"output_dir={output_dir}"]


def plan_trials(spec: SweepSpec, max_trials: int = 0) -> list[Trial]:
    """Every trial of the sweep with its output folder and command."""
    trials = []
    for i, overrides in enumerate(expand_trials(spec)):
        if max_trials and i >= max_trials:
            break
        out = sweep_dir(spec) / f"trial-{i:03d}"
        trials.append(Trial(i, overrides, out, trial_command(spec, overrides, out)))
    return trials


def _trial_env() -> dict[str, str]:
    # Trials share the machine: one thread each unless the caller says otherwise. The repo goes on
    # PYTHONPATH so recipes import rlkit/envs even where the package is not pip-installed.
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"), "PYTHONPATH": path}


def run_local(trials: list[Trial], parallel: int = 1) -> None:
    """Run trials as subprocesses, at most `parallel` at a time; a failure does not stop the others."""
    pending = list(trials)
    running: list[tuple[Trial, subprocess.Popen, float, Any]] = []
    while pending or running:
        while pending and len(running) < max(1, parallel):
            trial = pending.pop(0)
            trial.output_dir.mkdir(parents=True, exist_ok=True)
            log_file = open(trial.output_dir / "trial.log", "w")
            proc = subprocess.Popen(trial.command, cwd=REPO, env=_trial_env(), stdout=log_file, stderr=subprocess.STDOUT)
            running.append((trial, proc, time.monotonic(), log_file))
            log.info("trial %d started: %s", trial.index, " ".join(trial.command))
        time.sleep(0.2)
        for item in list(running):
            trial, proc, started, log_file = item
            if proc.poll() is None:
                continue
            log_file.close()
            running.remove(item)
            _finish(trial, proc.returncode, time.monotonic() - started)


def run_submitit(trials: list[Trial], spec: SweepSpec, cluster: str | None = None) -> None:
    """One submitit job per trial (Slurm, or submitit's local executor with cluster='local')."""
    import submitit
    from submitit.helpers import CommandFunction

    executor = submitit.AutoExecutor(folder=str(sweep_dir(spec) / "submitit"), cluster=cluster)
    slurm = dict(spec.backend.get("slurm", {}))
    params: dict[str, Any] = {"timeout_min": int(spec.backend.get("timeout_min", 60)), "name": spec.name}
    for key in ("nodes", "gpus_per_node", "cpus_per_task", "tasks_per_node"):
        if key in slurm:
            params[key] = slurm.pop(key)
    params.update({f"slurm_{k}": v for k, v in slurm.items()})  # partition, account, ...
    executor.update_parameters(**params)
    jobs = []
    for trial in trials:
        trial.output_dir.mkdir(parents=True, exist_ok=True)
        job = executor.submit(CommandFunction(trial.command, cwd=str(REPO), env=_trial_env(), verbose=False))
        trial.job_id, trial.status = str(job.job_id), "submitted"
        jobs.append((trial, job, time.monotonic()))
        log.info("trial %d submitted as job %s", trial.index, job.job_id)
    for trial, job, started in jobs:
        try:
            (trial.output_dir / "trial.log").write_text(job.result() or "")
            code = 0
        except Exception as err:  # submitit re-raises the job's failure here; record it, keep going
            (trial.output_dir / "trial.log").write_text(f"{type(err).__name__}: {err}\n")
            code = 1
        _finish(trial, code, time.monotonic() - started)


def run_slurm_scripts(trials: list[Trial], spec: SweepSpec, submit: bool) -> None:
    """Render one launch/slurm sbatch script per trial; `submit` passes each to sbatch."""
    from launch.slurm.render import SlurmJob, submit as sbatch, write_sbatch

    slurm = spec.backend.get("slurm", {})
    for trial in trials:
        recipe_args = trial.command[trial.command.index(spec.recipe) + 1 :]
        job = SlurmJob(
            recipe=spec.recipe, recipe_args=recipe_args, job_name=f"{spec.name}-{trial.index:03d}",
            nodes=int(slurm.get("nodes", 1)), gpus_per_node=int(slurm.get("gpus_per_node", 8)),
            accelerate_config=spec.accelerate_config or "launch/accelerate/multi_gpu.yaml",
            vllm_nodes=int(slurm.get("vllm_nodes", 0)), time=str(slurm.get("time", "04:00:00")),
            extra_sbatch=[f"--{k}={v}" for k, v in slurm.items() if k in ("partition", "account", "qos")],
        )
        script = write_sbatch(job, trial.output_dir / "job.sbatch")
        trial.command = ["sbatch", str(script)]
        if submit:
            trial.job_id, trial.status = sbatch(script), "submitted"
        _write_trial(trial)


def _finish(trial: Trial, returncode: int, seconds: float) -> None:
    trial.returncode, trial.seconds = returncode, round(seconds, 1)
    trial.status = "ok" if returncode == 0 else "failed"
    if returncode:
        log.warning("trial %d failed (exit %d); see %s", trial.index, returncode, trial.output_dir / "trial.log")
    _write_trial(trial)


def _write_trial(trial: Trial) -> None:
    trial.output_dir.mkdir(parents=True, exist_ok=True)
    record = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(trial).items()}
    (trial.output_dir / "trial.json").write_text(json.dumps(record, indent=1, default=str))


def collect_metrics(output_dir: Path) -> dict[str, float]:
    """metrics.json if the recipe wrote one, else the last value of each number the Trainer logged
    (log_history.json, else the newest trainer_state.json)."""
    explicit = output_dir / "metrics.json"
    if explicit.is_file():
        return _numbers(flatten_dotted(json.loads(explicit.read_text())))
    history_path = output_dir / "log_history.json"
    if history_path.is_file():
        history = json.loads(history_path.read_text())
    else:
        states = sorted(output_dir.rglob("trainer_state.json"), key=lambda p: p.stat().st_mtime)
        history = json.loads(states[-1].read_text()).get("log_history", []) if states else []
    metrics: dict[str, float] = {}
    for entry in history if isinstance(history, list) else []:
        metrics.update(_numbers(entry))
    return metrics


def _numbers(values: dict[str, Any]) -> dict[str, float]:
    return {k: v for k, v in values.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def results_table(spec: SweepSpec) -> list[dict[str, Any]]:
    """Gather every trial folder's record, resolved config and metrics into rows; writes results.*."""
    root = sweep_dir(spec)
    rows = []
    for record_path in sorted(root.glob("trial-*/trial.json")):
        record = json.loads(record_path.read_text())
        out = Path(record["output_dir"])
        config_path = out / "config.yaml"
        resolved = flatten_dotted(yaml.safe_load(config_path.read_text())) if config_path.is_file() else {}
        rows.append({"trial": record["index"], "status": record["status"], "overrides": record["overrides"],
                     "metrics": collect_metrics(out), "config": resolved, "output_dir": str(out), "job_id": record["job_id"]})
    if spec.metric:
        missing = float("-inf") if spec.goal == "maximize" else float("inf")
        rows.sort(key=lambda r: r["metrics"].get(spec.metric, missing), reverse=spec.goal == "maximize")
    with open(root / "results.jsonl", "w") as handle:
        for row in rows:
            handle.write(json.dumps(row, default=str) + "\n")
    (root / "results.md").write_text(_markdown(spec, rows))
    return rows


def _markdown(spec: SweepSpec, rows: list[dict[str, Any]]) -> str:
    swept = [p.key for p in spec.parameters]
    metric_keys = sorted({k for r in rows for k in r["metrics"]})
    if spec.metric in metric_keys:
        metric_keys.remove(spec.metric)
        metric_keys.insert(0, spec.metric)
    metric_keys = metric_keys[:6]  # the table stays readable; results.jsonl has all of them
    header = ["trial", "status", *swept, *metric_keys, "output_dir"]
    lines = [f"# sweep {spec.name} ({spec.method}, {len(rows)} trials)", "", "| " + " | ".join(header) + " |",
             "|" + "---|" * len(header)]
    for r in rows:
        values = [r["config"].get(k, r["overrides"].get(k, "")) for k in swept]
        cells = [r["trial"], r["status"], *values, *(_fmt(r["metrics"].get(k, "")) for k in metric_keys), r["output_dir"]]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def run_wandb_trial(spec_path: str, overrides: list[str]) -> int:
    """Entry for a wandb agent's run: output_dir from the run id, then the recipe with the overrides."""
    spec = load_sweep(spec_path)
    run_id = os.environ.get("WANDB_RUN_ID") or time.strftime("%Y%m%d-%H%M%S")
    out = sweep_dir(spec) / f"wandb-{run_id}"
    parsed = dict(item.split("=", 1) for item in overrides)
    cmd = trial_command(spec, {}, out)[:-1] + [format_override(k, v) for k, v in parsed.items()] + [f"output_dir={out}"]
    # The recipe's own wandb.init (the Trainer's callback) joins the sweep run through WANDB_RUN_ID.
    return subprocess.run(cmd, cwd=REPO, env=_trial_env()).returncode


def main(argv: list[str] | None = None) -> int:
    """CLI; see the module docstring."""
    parser = argparse.ArgumentParser(description="rlkit sweeps")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run (or submit) every trial")
    run.add_argument("spec")
    run.add_argument("--backend", choices=["local", "submitit", "submitit-local", "slurm"])
    run.add_argument("--parallel", type=int)
    run.add_argument("--max-trials", type=int, default=0)
    run.add_argument("--dry-run", action="store_true", help="print the trial commands (slurm: render, do not submit)")
    table = sub.add_parser("table", help="rebuild results.jsonl / results.md from the trial folders")
    table.add_argument("spec")
    wb = sub.add_parser("wandb", help="print the wandb sweep config; --create registers it (online)")
    wb.add_argument("spec")
    wb.add_argument("--create", action="store_true")
    wb.add_argument("--project", default="rlkit")
    agent = sub.add_parser("agent", help="run a wandb agent for SWEEP_ID (entity/project/id)")
    agent.add_argument("sweep_id")
    agent.add_argument("--count", type=int, default=0)
    trial = sub.add_parser("trial", help="(called by wandb agents) run one trial with key=value overrides")
    trial.add_argument("spec")
    trial.add_argument("overrides", nargs="*")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    if args.command == "agent":
        cmd = ["wandb", "agent", *(["--count", str(args.count)] if args.count else []), args.sweep_id]
        return subprocess.run(cmd, cwd=REPO).returncode
    if args.command == "trial":
        return run_wandb_trial(args.spec, args.overrides)
    spec = load_sweep(args.spec)
    if args.command == "wandb":
        config = wandb_sweep_config(spec, args.spec)
        print(yaml.safe_dump(config, sort_keys=False))
        if args.create:
            import wandb

            print(wandb.sweep(config, project=args.project))
        return 0
    if args.command == "table":
        print((sweep_dir(spec) / "results.md").read_text() if results_table(spec) else "no trials found")
        return 0

    backend = args.backend or spec.backend.get("kind", "local")
    trials = plan_trials(spec, args.max_trials)
    if args.dry_run and backend != "slurm":
        for t in trials:
            print(" ".join(t.command))
        return 0
    if backend == "local":
        run_local(trials, args.parallel or int(spec.backend.get("parallel", 1)))
    elif backend in ("submitit", "submitit-local"):
        run_submitit(trials, spec, cluster="local" if backend == "submitit-local" else None)
    else:
        run_slurm_scripts(trials, spec, submit=not args.dry_run)
    rows = results_table(spec)
    print((sweep_dir(spec) / "results.md").read_text())
    return 0 if all(r["status"] in ("ok", "submitted") for r in rows) or backend == "slurm" else 1


if __name__ == "__main__":
    sys.exit(main())
