"""One source of every default: a recipe's YAML may list its keys (as documentation) but must agree
with the recipe's dataclass defaults, so `main(Config())` from a notebook runs what the command line runs."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from rlkit.config import flatten_dotted, load_config
from tests.recipes import REPO, load_recipe

RECIPE_DEFAULTS = [
    ("sft", "SFTRecipeConfig"),
    ("dpo_antiloop", "DPORecipeConfig"),
    ("grpo_toolcall", "GRPORecipeConfig"),
    ("eval", "EvalConfig"),
    ("pipeline", "PipelineConfig"),
    ("synth_data", "SynthRecipeConfig"),
]


def disagreements(config_class: type, yaml_path) -> dict[str, tuple]:
    """`{dotted key: (yaml value, dataclass default)}` for every key where the two differ."""
    from_yaml = flatten_dotted(dataclasses.asdict(load_config(config_class, yaml_path)))
    defaults = flatten_dotted(dataclasses.asdict(config_class()))
    return {k: (from_yaml.get(k), defaults.get(k)) for k in from_yaml.keys() | defaults.keys() if from_yaml.get(k) != defaults.get(k)}


@pytest.mark.parametrize("recipe, config_class", RECIPE_DEFAULTS, ids=[r for r, _ in RECIPE_DEFAULTS])
def test_recipe_yaml_agrees_with_the_dataclass_defaults(recipe, config_class):
    path = REPO / "recipes" / "configs" / f"{recipe}.yaml"
    assert disagreements(getattr(load_recipe(recipe), config_class), path) == {}


def test_a_drifted_yaml_default_is_caught(tmp_path):
    recipe = load_recipe("dpo_antiloop")
    drifted = yaml.safe_load((REPO / "recipes" / "configs" / "dpo_antiloop.yaml").read_text())
    drifted["train"]["sft_weight"] = 0.25
    path = tmp_path / "drifted.yaml"
    path.write_text(yaml.safe_dump(drifted))
    assert disagreements(recipe.DPORecipeConfig, path) == {"train.sft_weight": (0.25, recipe.DPORecipeConfig().train.sft_weight)}


def repeated_defaults(config_class: type, yaml_path, section_classes: dict[str, type] | None = None) -> set[str]:
    """Keys a preset YAML sets to the value they already have by default (a preset holds only changes).

    `section_classes` maps a free-form section (the pipeline's `sft:`, ...) to the config class whose
    defaults it overrides.
    """
    section_classes = section_classes or {}
    data = yaml.safe_load(yaml_path.read_text()) or {}
    defaults = flatten_dotted(dataclasses.asdict(config_class()))
    for section, cls in section_classes.items():
        defaults.update({f"{section}.{k}": v for k, v in flatten_dotted(dataclasses.asdict(cls())).items()})
    resolved = flatten_dotted(dataclasses.asdict(load_config(config_class, yaml_path)))
    resolved.update({f"{s}.{k}": v for s in section_classes for k, v in flatten_dotted(data.get(s) or {}).items()})
    return {k for k in flatten_dotted(data) if k in defaults and resolved[k] == defaults[k]}


@pytest.mark.parametrize("preset", ["pipeline_full", "pipeline_real"])
def test_pipeline_presets_hold_only_what_they_change(preset):
    pipeline = load_recipe("pipeline")
    stages = {stage: getattr(load_recipe(recipe), cls) for stage, (recipe, cls) in pipeline.STAGES.items()}
    path = REPO / "recipes" / "configs" / f"{preset}.yaml"
    # `preset` names the file itself; the stage recipes' own YAMLs equal their defaults (above).
    assert repeated_defaults(pipeline.PipelineConfig, path, stages) - {"preset"} == set()


def test_a_repeated_preset_default_is_caught(tmp_path):
    pipeline = load_recipe("pipeline")
    path = tmp_path / "preset.yaml"
    path.write_text("output_dir: elsewhere\nnum_threads: 1\n")
    assert repeated_defaults(pipeline.PipelineConfig, path) == {"num_threads"}
