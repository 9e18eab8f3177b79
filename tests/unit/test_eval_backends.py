"""Which engine `--model` picks, the errors for what is not supported, and the eval recipe's config."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from rlkit.config import ConfigError, parse_cli
from tests.recipes import load_recipe
from rlkit.eval.backends import UnsupportedModelError, engine_for_model, model_kind

REPO = Path(__file__).resolve().parents[2]


def load_eval_recipe():
    return load_recipe("eval")


@pytest.mark.parametrize("model, kind", [
    ("tiny-lfm2", "hf"), ("LiquidAI/LFM2-350M", "hf"), ("runs/sft/model", "hf"),
    ("http://127.0.0.1:8000/v1", "openai"), ("https://api.example.com/v1", "openai"),
    ("models/tiny.Q8_0.gguf", "gguf"), ("MODEL.GGUF", "gguf"),
])
def test_model_kind(model, kind):
    assert model_kind(model) == kind


def test_missing_gguf_is_a_clear_error_naming_the_file(tmp_path):
    path = str(tmp_path / "model.gguf")
    with pytest.raises(UnsupportedModelError, match="GGUF file not found") as info:
        engine_for_model(path)
    assert path in str(info.value)


def test_endpoint_needs_the_served_model_name():
    with pytest.raises(UnsupportedModelError, match="endpoint_model"):
        engine_for_model("http://127.0.0.1:9/v1")
    with pytest.raises(UnsupportedModelError, match="http"):
        engine_for_model("tiny-lfm2", backend="openai", endpoint_model="x")


def test_recipe_cli_flags_and_settings():
    recipe = load_eval_recipe()
    config = parse_cli(recipe.EvalConfig, [
        "--data", "../shared/data/banking/train.jsonl", "--tools", "../shared/data/banking/job_description.json",
        "--model", "tiny-lfm2", "--output", "runs/eval-banking", "limit=5",
    ], recipe.DEFAULT_CONFIG)
    assert config.data.endswith("train.jsonl") and config.limit == 5 and config.output == "runs/eval-banking"
    assert [s.name for s in config.settings] == ["lfm2_recommended", "temperature_1.0"]
    recommended = config.settings[0]
    assert (recommended.temperature, recommended.top_k, recommended.repetition_penalty) == (0.1, 50, 1.05)
    assert config.max_tokens == 128
    greedy = parse_cli(recipe.EvalConfig, ["settings=[{name: greedy, temperature: 0}]"], recipe.DEFAULT_CONFIG)
    assert greedy.settings[0].sampling_params(max_tokens=16).temperature == 0.0
    with pytest.raises(ConfigError, match="max_tokens"):
        parse_cli(recipe.EvalConfig, ["max_token=5"], recipe.DEFAULT_CONFIG)
    assert recipe._as_list("runs/a, runs/b") == ["runs/a", "runs/b"]


def test_recipe_config_file_starts_with_its_command():
    first = (REPO / "recipes" / "configs" / "eval.yaml").read_text().splitlines()[0]
    assert first.startswith("# python recipes/eval.py")
    assert load_eval_recipe().__doc__.startswith("python recipes/eval.py --data ../shared/data/banking/train.jsonl")


def test_restore_call_block_only_for_clean_trailing_call_lists():
    from rlkit.eval.endpoint import restore_call_block

    start, end = "<|tool_call_start|>", "<|tool_call_end|>"
    assert restore_call_block("[toggle_lights(room='office', state='off')]") == \
        f"{start}[toggle_lights(room='office', state='off')]{end}"
    assert restore_call_block("Sure. [a(x=1), b.c(y=[1, 2])]  ") == f"Sure. {start}[a(x=1), b.c(y=[1, 2])]{end}"
    for unchanged in ("The lights are [on].", "[1, 2]", "[]", "", "[f(x=open('/etc/passwd'))]",
                      f"{start}[f(x=1)]{end}", "[f(x=1)] done"):
        assert restore_call_block(unchanged) == unchanged
