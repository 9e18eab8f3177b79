"""rlkit.stages: default stage outputs are built once by their recipe, cached by config hash, reused."""

from __future__ import annotations

import sys
import textwrap

import pytest

import rlkit.stages as stages

# A recipe in the shape rlkit.stages expects (config class + main(config)), whose "training" writes a
# model folder marker and counts its runs, so the cache logic is checked without minutes of training.
FAKE_RECIPE = textwrap.dedent(
    '''
    from dataclasses import dataclass, field
    from pathlib import Path

    @dataclass
    class Train:
        report_to: str = "wandb"

    @dataclass
    class SFTRecipeConfig:
        model: str = "tiny-lfm2"
        output_dir: str = "runs/sft"
        steps: int = 1
        train: Train = field(default_factory=Train)

    RUNS = []

    def main(config):
        RUNS.append(config)
        model = Path(config.output_dir) / "model"
        model.mkdir(parents=True)
        (model / "config.json").write_text("{}")
        return model
    '''
)


@pytest.fixture
def fake_recipes(tmp_path, monkeypatch):
    recipes = tmp_path / "recipes"
    (recipes / "configs").mkdir(parents=True)
    (recipes / "sft.py").write_text(FAKE_RECIPE)
    (recipes / "configs" / "sft.yaml").write_text("# python recipes/sft.py\nsteps: 3\n")
    monkeypatch.setattr(stages, "RECIPES_DIR", recipes)
    monkeypatch.setattr(stages, "ensure_tiny_lfm2", lambda: tmp_path / "tiny-lfm2-abc")
    monkeypatch.setenv("RLKIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delitem(sys.modules, "rlkit_recipe_sft", raising=False)
    yield recipes
    # load_recipe caches modules by name; the real recipe must not find the fake one there later.
    sys.modules.pop("rlkit_recipe_sft", None)


def test_default_stage_model_builds_once_with_the_default_config_and_reuses_it(fake_recipes, tmp_path, caplog):
    caplog.set_level("WARNING")
    first = stages.default_stage_model("sft")
    assert first.parent.parent == tmp_path / "cache" / "stages" and (first / "config.json").is_file()
    assert "building it now" in caplog.text
    module = stages.load_recipe("sft")
    (config,) = module.RUNS
    assert config.steps == 3 and config.train.report_to == "none"  # default YAML read; no wandb run for a cache build
    assert stages.default_stage_model("sft") == first and len(module.RUNS) == 1
    assert not [p for p in first.parent.parent.iterdir() if p.name.startswith(".")]  # no temp folders left


def test_stage_folder_changes_with_the_default_config(fake_recipes):
    before = stages.stage_dir("sft")
    (fake_recipes / "configs" / "sft.yaml").write_text("# python recipes/sft.py\nsteps: 4\n")
    assert stages.stage_dir("sft") != before


def test_missing_recipes_are_skipped_back_to_the_stage_before(fake_recipes, caplog):
    assert not stages.stage_available("dpo")
    assert stages.input_stage("grpo") == "sft"  # DPO missing: GRPO continues from SFT
    assert "recipe for 'dpo' is missing" in caplog.text
    with pytest.raises(stages.StageUnavailable, match="dpo_antiloop.py"):
        stages.load_recipe("dpo")
    with pytest.raises(ValueError, match="unknown stage"):
        stages.default_stage_model("rlhf")
