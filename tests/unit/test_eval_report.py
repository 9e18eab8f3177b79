"""Reports: JSON holds everything, Markdown matches it, PNGs are written; compare puts runs side by side."""

from __future__ import annotations

import json

import pytest

from rlkit.eval import GREEDY, GenerationSetting, evaluate, load_results, write_report
from rlkit.eval.compare import compare_runs
from tests.oracle import OracleRollout, Perturbation
from rlkit.eval.sources import load_env_split

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def data():
    return load_env_split("smart_home", split="test", n_episodes=5, seed=2)


def run_into(tmp_path, data, name, perturbation=None):
    settings = [GREEDY, GenerationSetting("temperature_1.0", temperature=1.0)]
    oracle = OracleRollout.for_examples(data.examples, data.episodes, perturbation)
    result = evaluate(oracle, data.examples, settings, max_tokens=256, episodes=data.episodes,
                      env_factory=data.env_factory, meta={"model": name, "data": "smart_home/test"})
    return result, write_report(result, tmp_path / name)


def test_report_files_and_json_round_trip(tmp_path, data):
    result, paths = run_into(tmp_path, data, "oracle")
    assert set(paths) == {"json", "markdown", "accuracy_by_tool", "accuracy_by_turn", "loops"}
    for key in ("accuracy_by_tool", "accuracy_by_turn", "loops"):
        assert paths[key].read_bytes()[:8] == PNG_MAGIC and paths[key].stat().st_size > 10_000
    loaded = load_results(tmp_path / "oracle")
    assert loaded["summary_line"] == result.summary_line()
    assert len(loaded["records"]) == 2 * len(data.examples)
    assert len(loaded["episodes"]) == 2 * len(data.episodes)
    record = loaded["records"][0]
    for key in ("example_id", "completion", "calls", "reason", "loop", "length", "expected"):
        assert key in record
    assert loaded["metrics"]["greedy"]["calls"]["equivalence"] == 1.0
    # JSON keys of per-turn tables become strings; the summary is built from that same form.
    assert set(loaded["metrics"]["greedy"]["episodes"]["accuracy_by_turn_own_history"]) <= {"0", "1", "2", "3", "4"}
    markdown = paths["markdown"].read_text()
    assert f"**{result.summary_line()}**" in markdown
    assert "| greedy |" in markdown and "## Multi-turn (greedy)" in markdown
    assert "![accuracy_by_turn.png](accuracy_by_turn.png)" in markdown


def test_report_shows_damage_in_tables(tmp_path, data):
    result, paths = run_into(tmp_path, data, "damaged", Perturbation("wrong_name", period=2))
    markdown = paths["markdown"].read_text()
    wrong = result.metrics["greedy"]["calls"]["reasons"]["wrong_function"]
    assert f"| greedy | wrong_function | {wrong} |" in markdown
    assert result.metrics["greedy"]["calls"]["equivalence"] < 1.0


def test_compare_two_runs(tmp_path, data):
    run_into(tmp_path, data, "base", Perturbation("wrong_name", period=2))
    run_into(tmp_path, data, "tuned")
    paths = compare_runs([tmp_path / "base", tmp_path / "tuned"], tmp_path / "cmp")
    markdown = paths["markdown"].read_text()
    base = load_results(tmp_path / "base")["metrics"]["greedy"]["calls"]["equivalence"]
    assert "| base | base | smart_home/test | greedy |" in markdown
    assert f"{100 * base:.1f}%" in markdown and "| tuned | tuned | smart_home/test | greedy |" in markdown
    assert "## Accuracy by reference tool (greedy)" in markdown
    for key in ("equivalence", "loops", "accuracy_by_tool"):
        assert paths[key].read_bytes()[:8] == PNG_MAGIC
    with pytest.raises(ValueError, match="at least two"):
        compare_runs([tmp_path / "base"], tmp_path / "cmp")
    with pytest.raises(FileNotFoundError, match="results.json"):
        compare_runs([tmp_path / "base", tmp_path / "missing"], tmp_path / "cmp")


def test_result_json_is_plain_data(data):
    oracle = OracleRollout.for_examples(data.examples[:3])
    result = evaluate(oracle, data.examples[:3], [GREEDY], max_tokens=256)
    assert json.loads(json.dumps(result.to_dict()))["meta"]["examples"] == 3


def test_recipe_compare_mode(tmp_path, data, capsys):
    import importlib.util
    import sys
    from pathlib import Path

    run_into(tmp_path, data, "base", Perturbation("wrong_name", period=2))
    run_into(tmp_path, data, "grpo")
    from tests.recipes import load_recipe

    recipe = load_recipe("eval")
    config = recipe.EvalConfig(compare=f"{tmp_path / 'base'},{tmp_path / 'grpo'}", labels="base,grpo",
                               output=str(tmp_path / "cmp"), num_threads=0)
    paths = recipe.main(config)
    printed = capsys.readouterr().out
    assert "| base |" in printed and "| grpo |" in printed
    assert printed.strip().splitlines()[-1] == f"comparison written to {paths['markdown']}"
