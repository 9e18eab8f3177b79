"""Sweep files: grid order, reproducible random draws, CLI-ready overrides, wandb config, errors."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # launch/ holds scripts, not an installed package

from launch.sweep_spec import SweepSpecError, expand_trials, format_override, load_sweep, wandb_sweep_config  # noqa: E402

from rlkit.config import load_config  # noqa: E402


def _spec(tmp_path, **body):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"name": "s", "recipe": "recipes/sft.py", **body}))
    return load_sweep(path)


def test_grid_is_the_product_in_key_order(tmp_path):
    spec = _spec(tmp_path, parameters={"a": {"values": [1, 2]}, "b.c": {"values": ["x", "y", "z"]}})
    trials = expand_trials(spec)
    assert len(trials) == 6
    assert trials[0] == {"a": 1, "b.c": "x"}
    assert trials[1] == {"a": 1, "b.c": "y"}
    assert trials[-1] == {"a": 2, "b.c": "z"}


def test_random_draws_are_seeded_and_inside_their_ranges(tmp_path):
    params = {"lr": {"distribution": "log_uniform", "min": 1e-5, "max": 1e-2},
              "w": {"distribution": "uniform", "min": -1, "max": 1},
              "k": {"distribution": "int_uniform", "min": 2, "max": 4}, "opt": {"values": ["adam", "sgd"]}}
    spec = _spec(tmp_path, method="random", num_trials=50, seed=7, parameters=params)
    first, again = expand_trials(spec), expand_trials(spec)
    assert first == again and len(first) == 50
    assert all(1e-5 <= t["lr"] <= 1e-2 and -1 <= t["w"] <= 1 and t["k"] in (2, 3, 4) for t in first)
    assert {t["opt"] for t in first} == {"adam", "sgd"}
    # log-uniform: about as many draws below the geometric middle (3.16e-4) as above it
    below = sum(t["lr"] < math.sqrt(1e-5 * 1e-2) for t in first)
    assert 15 <= below <= 35
    assert expand_trials(_spec(tmp_path, method="random", num_trials=50, seed=8, parameters=params)) != first


@dataclass
class _Train:
    learning_rate: float = 0.0
    steps: int = 0
    on: bool = False
    name: str = ""
    layers: list[str] = field(default_factory=list)


@dataclass
class _Config:
    train: _Train = field(default_factory=_Train)


def test_overrides_read_back_to_the_same_values():
    values = {"train.learning_rate": 3e-5, "train.steps": 7, "train.on": True, "train.name": "a b", "train.layers": ["q", "k"]}
    config = load_config(_Config, None, [format_override(k, v) for k, v in values.items()])
    assert (config.train.learning_rate, config.train.steps, config.train.on) == (3e-5, 7, True)
    assert config.train.name == "a b" and config.train.layers == ["q", "k"]
    assert format_override("train.learning_rate", 3e-5) == "train.learning_rate=3.0e-05"


def test_wandb_config_maps_distributions_and_calls_the_trial_entry(tmp_path):
    spec = _spec(tmp_path, method="random", num_trials=3, metric="eval/accuracy",
                 parameters={"lr": {"distribution": "log_uniform", "min": 1e-5, "max": 1e-3}, "k": {"values": [4, 8]}})
    config = wandb_sweep_config(spec, "launch/sweeps/x.yaml")
    assert config["parameters"]["lr"] == {"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-3}
    assert config["parameters"]["k"] == {"values": [4, 8]}
    assert config["metric"] == {"name": "eval/accuracy", "goal": "maximize"}
    assert config["command"][2:] == ["${program}", "trial", "launch/sweeps/x.yaml", "${args_no_hyphens}"]
    assert config["run_cap"] == 3


@pytest.mark.parametrize(
    "body,message",
    [
        ({"parameters": {}}, "'parameters' must map"),
        ({"parameters": {"a": {"distribution": "normal", "min": 0, "max": 1}}}, "distribution must be one of"),
        ({"parameters": {"a": {"distribution": "uniform", "min": 0, "max": 1}}}, "grid search needs 'values'"),
        ({"parameters": {"a": {"values": [1]}}, "method": "random"}, "num_trials >= 1"),
        ({"parameters": {"a": {"values": [1]}}, "fixed": {"a": 2}}, "both fixed and swept"),
        ({"parameters": {"a": {"values": [1]}}, "fixed": {"output_dir": "x"}}, "output_dir"),
        ({"parameters": {"a": {"values": [1]}}, "metrc": "x"}, "unknown key"),
        ({"parameters": {"a": {"distribution": "log_uniform", "min": 0, "max": 1}}, "method": "random", "num_trials": 1}, "min > 0"),
    ],
)
def test_bad_sweep_files_name_the_problem(tmp_path, body, message):
    with pytest.raises(SweepSpecError, match=message):
        _spec(tmp_path, **body)
