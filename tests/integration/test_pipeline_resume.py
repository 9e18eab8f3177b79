"""recipes/pipeline.py chains stages, evaluates each, writes the table, and resumes finished stages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlkit.config import load_config
from tests.recipes import load_recipe

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]

TINY_RUN = [
    "stages=[sft, grpo]", "sft.data.num_rows=8", "sft.train.max_steps=2", "sft.train.batch_size=2",
    "grpo.data.num_rows=4", "grpo.train.max_steps=1", "grpo.train.prompts_per_step=2",
    "grpo.rollout.num_generations=2", "grpo.rollout.max_completion_length=8", "grpo.dynamic_sampling.enabled=false",
    "eval.episodes=1", "eval.max_tokens=8",
]


def test_pipeline_runs_stages_writes_the_table_and_resumes(tiny_model_dir, tmp_path):
    pipeline = load_recipe_file()
    overrides = [f"model={tiny_model_dir}", f"output_dir={tmp_path}", *TINY_RUN]
    config = load_config(pipeline.PipelineConfig, REPO / "recipes" / "configs" / "pipeline.yaml", overrides)
    rows = pipeline.main(config)
    assert [row.stage for row in rows] == ["base", "sft", "grpo"]
    assert rows[2].model == str(tmp_path / "grpo" / "model")
    for row in rows:
        metrics = row.metrics["lfm2_recommended"]
        assert 0.0 <= metrics["equivalence"] <= 1.0 and 0.0 <= metrics["loop_rate"] <= 1.0
        assert 0 < metrics["mean_length"] <= 8
    table = (tmp_path / "pipeline.md").read_text()
    assert "| sft |" in table and "| grpo |" in table and "equivalence (lfm2_recommended)" in table
    assert (tmp_path / "pipeline.png").stat().st_size > 1000
    assert json.loads((tmp_path / "pipeline.json").read_text())["stages"][1]["stage"] == "sft"
    # The GRPO stage started from the SFT stage's model.
    grpo_config = (tmp_path / "grpo" / "config.yaml").read_text()
    assert f"model: {tmp_path / 'sft' / 'model'}" in grpo_config

    # A second run finds every stage done: nothing retrains (stage records and weights untouched).
    stamps = {stage: (tmp_path / stage / "model" / "model.safetensors").stat().st_mtime_ns for stage in ("sft", "grpo")}
    rerun = pipeline.main(config)
    assert [row.wall_seconds for row in rerun] == [row.wall_seconds for row in rows]
    assert stamps == {s: (tmp_path / s / "model" / "model.safetensors").stat().st_mtime_ns for s in stamps}


def test_stage_sections_reject_unknown_keys(tiny_model_dir, tmp_path):
    from rlkit.config import ConfigError

    pipeline = load_recipe_file()
    config = load_config(pipeline.PipelineConfig, None, [f"output_dir={tmp_path}", "sft.train.max_stepz=3"])
    with pytest.raises(ConfigError, match="pipeline section 'sft'.*train.max_steps"):
        pipeline.stage_config("sft", config, str(tiny_model_dir), tmp_path / "sft")


def test_every_stage_recipe_is_registered():
    pipeline = load_recipe_file()
    assert all(pipeline.stage_available(stage) for stage in pipeline.STAGES)


def load_recipe_file():
    return load_recipe("pipeline")


def test_preset_argument_picks_the_preset_yaml():
    from rlkit.config import ConfigError, parse_cli

    pipeline = load_recipe_file()
    full = parse_cli(pipeline.PipelineConfig, ["preset=full"], pipeline.preset_config_path(["preset=full"]))
    quick = parse_cli(pipeline.PipelineConfig, [], pipeline.preset_config_path([]))
    assert (full.preset, full.output_dir) == ("full", "runs/pipeline_full")
    assert (quick.preset, quick.output_dir) == ("quick", "runs/pipeline_quick")
    assert full.sft["train"]["max_steps"] > quick.sft["train"]["max_steps"]
    with pytest.raises(ConfigError, match="preset"):
        pipeline.preset_config_path(["preset=medium"])
