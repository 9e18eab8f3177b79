"""`jury.serve_local_judge`: the DPO recipe serves an LLM judge on loopback for the run (llama.cpp with
the wheel's SmolLM2 GGUF), records its votes beside the rule judges', and stops the server after."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from rlkit.config import load_config
from tests.recipes import load_recipe

pytestmark = pytest.mark.integration


@pytest.mark.slow  # ~3.5 min on 2 loaded cores (the 135M judge answers every candidate)
def test_dpo_round_with_a_served_local_judge_records_its_votes(tmp_path, tiny_model_dir, caplog):
    pytest.importorskip("llama_cpp", reason="the local judge runs on llama-cpp-python's server (the gguf extra)")
    from rlkit.smollm2 import smollm2_gguf_path

    smollm2_gguf_path()  # a missing wheel fails here, naming its install command
    recipe = load_recipe("dpo_antiloop")
    overrides = [
        f"model={tiny_model_dir}", f"output_dir={tmp_path / 'run'}", f"jury.cache_dir={tmp_path / 'judge'}",
        "rounds=1", "data.num_rows=2", "sampling.k=1", "sampling.max_tokens=16", "train.steps_per_round=1",
        "train.batch_size=2", "jury.serve_local_judge=true", "jury.require_llm=true",
    ]
    caplog.set_level("INFO")
    recipe.main(load_config(recipe.DPORecipeConfig, recipe.DEFAULT_CONFIG, overrides))
    pairs = tmp_path / "run" / "round_0" / "pairs"
    report = json.loads((pairs / "report.json").read_text())
    assert report["llm_judges"]["local"]["requests"] >= 2 * 2  # K+1 = 2 candidates for each of 2 prompts
    audit = [json.loads(line) for line in (pairs / "audit.jsonl").read_text().splitlines()]
    assert len(audit) == 2 and all(len(a["candidates"]) == 2 for a in audit)
    judges = {vote["judge"] for record in audit for vote in record["votes"]}
    assert "local" in judges and len(judges) > 1  # the LLM judge voted beside the rule judges
    url = next(line.split(" at ")[-1] for line in caplog.messages if line.startswith("local LLM judge:"))
    with pytest.raises(OSError):  # the server was stopped with the run
        urllib.request.urlopen(url.rstrip("/") + "/models", timeout=2)
