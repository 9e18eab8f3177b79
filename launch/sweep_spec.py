"""Sweep specifications: which recipe, which config keys vary, and how trials are drawn.

A sweep file (launch/sweeps/*.yaml) names a recipe, fixed overrides for every trial, and
`parameters`: dotted config keys with either `values: [...]` (grid, or uniform choice in random
search) or a `distribution` (random search only): `uniform`, `log_uniform` (min/max are the
values, sampled uniformly in log space) or `int_uniform`. Grid trials come out in the order the
keys are listed, the last key changing fastest; random trials are reproducible from `seed`.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DISTRIBUTIONS = ("uniform", "log_uniform", "int_uniform")
_SPEC_KEYS = {"name", "recipe", "config", "method", "num_trials", "seed", "fixed", "parameters", "metric", "goal",
              "output_root", "accelerate_config", "backend"}
_BACKEND_KEYS = {"kind", "parallel", "timeout_min", "slurm"}


class SweepSpecError(ValueError):
    """A sweep file that cannot be run; the message names the file and key."""


@dataclass
class Parameter:
    """One swept config key."""

    key: str
    values: list[Any] | None = None
    distribution: str = ""
    min: float = 0.0
    max: float = 0.0


@dataclass
class SweepSpec:
    """A parsed sweep file."""

    name: str
    recipe: str
    parameters: list[Parameter]
    config: str = ""
    method: str = "grid"  # grid | random
    num_trials: int = 0  # random search only
    seed: int = 0
    fixed: dict[str, Any] = field(default_factory=dict)
    metric: str = ""  # the metric the results table is sorted by (and wandb optimizes)
    goal: str = "maximize"
    output_root: str = "runs/sweeps"
    accelerate_config: str = ""  # non-empty: trials run under `accelerate launch --config_file ...`
    backend: dict[str, Any] = field(default_factory=lambda: {"kind": "local", "parallel": 1})


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and check a sweep file."""
    path = Path(path)
    raw = yaml.safe_load(path.read_text()) if path.is_file() else None
    if not isinstance(raw, dict):
        raise SweepSpecError(f"{path}: not found or not a mapping")
    unknown = set(raw) - _SPEC_KEYS
    if unknown:
        raise SweepSpecError(f"{path}: unknown key(s) {sorted(unknown)}; valid: {sorted(_SPEC_KEYS)}")
    for key in ("name", "recipe", "parameters"):
        if key not in raw:
            raise SweepSpecError(f"{path}: missing required key {key!r}")
    if not isinstance(raw["parameters"], dict) or not raw["parameters"]:
        raise SweepSpecError(f"{path}: 'parameters' must map config keys to {{values: [...]}} or a distribution")
    params = [_parameter(path, key, body) for key, body in raw["parameters"].items()]
    spec = SweepSpec(parameters=params, **{k: v for k, v in raw.items() if k != "parameters"})
    if spec.method not in ("grid", "random"):
        raise SweepSpecError(f"{path}: method must be 'grid' or 'random', got {spec.method!r}")
    if spec.method == "grid" and any(p.values is None for p in params):
        bad = next(p.key for p in params if p.values is None)
        raise SweepSpecError(f"{path}: parameters.{bad}: grid search needs 'values', not a distribution")
    if spec.method == "random" and spec.num_trials < 1:
        raise SweepSpecError(f"{path}: random search needs num_trials >= 1")
    if spec.goal not in ("maximize", "minimize"):
        raise SweepSpecError(f"{path}: goal must be 'maximize' or 'minimize', got {spec.goal!r}")
    unknown_backend = set(spec.backend) - _BACKEND_KEYS
    if unknown_backend:
        raise SweepSpecError(f"{path}: unknown backend key(s) {sorted(unknown_backend)}; valid: {sorted(_BACKEND_KEYS)}")
    clash = set(spec.fixed) & {p.key for p in params}
    if clash or "output_dir" in spec.fixed or "output_dir" in {p.key for p in params}:
        raise SweepSpecError(f"{path}: keys {sorted(clash) or ['output_dir']} are both fixed and swept (or output_dir is set; the sweep sets it)")
    return spec


def _parameter(path: Path, key: str, body: Any) -> Parameter:
    where = f"{path}: parameters.{key}"
    if not isinstance(body, dict):
        raise SweepSpecError(f"{where}: give {{values: [...]}} or {{distribution: ..., min: ..., max: ...}}")
    if "values" in body:
        if not isinstance(body["values"], list) or not body["values"]:
            raise SweepSpecError(f"{where}: 'values' must be a non-empty list")
        return Parameter(key, values=list(body["values"]))
    dist = body.get("distribution", "")
    if dist not in DISTRIBUTIONS:
        raise SweepSpecError(f"{where}: distribution must be one of {list(DISTRIBUTIONS)}, got {dist!r}")
    try:
        low, high = float(body["min"]), float(body["max"])
    except (KeyError, TypeError, ValueError) as err:
        raise SweepSpecError(f"{where}: needs numeric 'min' and 'max'") from err
    if not low < high or (dist == "log_uniform" and low <= 0):
        raise SweepSpecError(f"{where}: need min < max (and min > 0 for log_uniform), got {low}, {high}")
    return Parameter(key, distribution=dist, min=low, max=high)


def expand_trials(spec: SweepSpec) -> list[dict[str, Any]]:
    """Each trial's swept overrides, in launch order."""
    if spec.method == "grid":
        keys = [p.key for p in spec.parameters]
        return [dict(zip(keys, combo)) for combo in itertools.product(*(p.values for p in spec.parameters))]
    rng = random.Random(spec.seed)
    return [{p.key: _draw(p, rng) for p in spec.parameters} for _ in range(spec.num_trials)]


def _draw(param: Parameter, rng: random.Random) -> Any:
    if param.values is not None:
        return rng.choice(param.values)
    if param.distribution == "uniform":
        return rng.uniform(param.min, param.max)
    if param.distribution == "log_uniform":
        return math.exp(rng.uniform(math.log(param.min), math.log(param.max)))
    return rng.randint(int(param.min), int(param.max))


def format_override(key: str, value: Any) -> str:
    """`key=value` in the form rlkit's config parser reads back to the same value (YAML scalars)."""
    if isinstance(value, str):
        text = value
    else:
        text = yaml.safe_dump(value, default_flow_style=True, width=1 << 30).strip()
        if text.endswith("\n..."):
            text = text[: -len("\n...")]
    return f"{key}={text}"


def wandb_sweep_config(spec: SweepSpec, spec_path: str) -> dict[str, Any]:
    """The sweep config for `wandb sweep`: each run calls `launch/sweep.py trial`, which sets output_dir."""
    parameters: dict[str, Any] = {}
    for p in spec.parameters:
        if p.values is not None:
            parameters[p.key] = {"values": p.values}
        else:
            dist = {"uniform": "uniform", "log_uniform": "log_uniform_values", "int_uniform": "int_uniform"}[p.distribution]
            bounds = (int(p.min), int(p.max)) if p.distribution == "int_uniform" else (p.min, p.max)
            parameters[p.key] = {"distribution": dist, "min": bounds[0], "max": bounds[1]}
    config: dict[str, Any] = {
        "name": spec.name,
        "method": spec.method,
        "parameters": parameters,
        "program": "launch/sweep.py",
        "command": ["${env}", "${interpreter}", "${program}", "trial", spec_path, "${args_no_hyphens}"],
    }
    if spec.metric:
        config["metric"] = {"name": spec.metric, "goal": spec.goal}
    if spec.method == "random":
        config["run_cap"] = spec.num_trials
    return config
