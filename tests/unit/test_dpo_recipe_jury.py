"""The anti-loop recipe's jury: unreachable LLM judges are left out (rule judges only), unless required."""

from __future__ import annotations

import socket

import pytest

from tests.recipes import load_recipe


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


@pytest.fixture(scope="module")
def recipe():
    return load_recipe("dpo_antiloop")


def _settings(recipe, require: bool):
    judge = recipe.LLMJudgeSettings(name="far", base_url=f"http://127.0.0.1:{_closed_port()}/v1", model="m", timeout_s=2)
    return recipe.JurySettings(llm_judges=[judge], require_llm=require)


def test_unreachable_llm_judge_falls_back_to_rule_judges(recipe, caplog, tmp_path):
    settings = _settings(recipe, require=False)
    settings.cache_dir = str(tmp_path)
    caplog.set_level("WARNING")
    jury = recipe.build_jury(settings)
    assert [j.name for j in jury.judges] == ["loop_veto", "addresses_judge", "toolcall", "length"]
    assert jury.quorum == 4
    assert "'far'" in caplog.text and "rule judges only" in caplog.text


def test_required_llm_judge_that_is_unreachable_stops_the_run(recipe, tmp_path):
    settings = _settings(recipe, require=True)
    settings.cache_dir = str(tmp_path)
    with pytest.raises(RuntimeError, match="require_llm"):
        recipe.build_jury(settings)
