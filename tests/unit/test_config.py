from dataclasses import dataclass, field
from typing import Literal

import pytest
import yaml

from rlkit.config import ConfigError, load_config, parse_cli, save_config


@dataclass
class Train:
    learning_rate: float = 1e-4
    steps: int = 10
    bf16: bool = False
    loss: Literal["sigmoid", "sigmoid_norm"] = "sigmoid_norm"


@dataclass
class Recipe:
    model: str = "tiny-lfm2"
    seed: int = 0
    judges: list[str] = field(default_factory=list)
    output_dir: str | None = None
    train: Train = field(default_factory=Train)


def test_defaults_file_and_overrides_apply_in_order(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("seed: 3\ntrain:\n  steps: 50\n  learning_rate: 5e-7\n")
    cfg = load_config(Recipe, path, ["train.steps=7", "judges=[a, b]", "output_dir=runs/x"])
    assert cfg.seed == 3
    assert cfg.train.steps == 7
    assert cfg.train.learning_rate == 5e-7  # YAML's "5e-7" string becomes a float
    assert cfg.train.bf16 is False
    assert cfg.judges == ["a", "b"]
    assert cfg.output_dir == "runs/x"


def test_typo_names_the_key_and_suggests_the_closest():
    with pytest.raises(ConfigError, match=r"unknown config key 'train.learning_rte'.*'train.learning_rate'"):
        load_config(Recipe, None, ["train.learning_rte=0.1"])
    with pytest.raises(ConfigError, match=r"unknown config key 'sed'.*'seed'"):
        load_config(Recipe, None, ["sed=1"])


def test_typo_in_yaml_file_is_caught(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("trian:\n  steps: 1\n")
    with pytest.raises(ConfigError, match="'trian'.*'train'"):
        load_config(Recipe, path)


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.steps=ten", "expects an integer"),
        ("train.steps=1.5", "expects an integer"),
        ("train.bf16=maybe", "expects true/false"),
        ("train.loss=hinge", "must be one of"),
        ("train=3", "is a section"),
        ("judges=a", "expects a list"),
    ],
)
def test_wrong_types_fail_naming_the_key(override, message):
    key = override.split("=")[0]
    with pytest.raises(ConfigError, match=message) as err:
        load_config(Recipe, None, [override])
    assert key in str(err.value)


def test_cli_forms_and_saved_config_round_trips(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("seed: 1\n")
    cfg = parse_cli(Recipe, ["--config", str(path), "--train.steps", "4", "--train.bf16", "model=some/path"])
    assert (cfg.seed, cfg.train.steps, cfg.train.bf16, cfg.model) == (1, 4, True, "some/path")
    saved = save_config(cfg, tmp_path / "out" / "config.yaml")
    assert load_config(Recipe, saved) == cfg
    assert yaml.safe_load(saved.read_text())["train"]["steps"] == 4


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="nope.yaml"):
        load_config(Recipe, tmp_path / "nope.yaml")
