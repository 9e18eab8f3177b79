"""The anti-loop DPO recipe sampling its candidates through other rollout engines than HF generate.

`rollout.backend=vllm`: one in-process vLLM CPU engine serves both rounds; round 1's policy is
pushed into it and checked against the trainer's logprobs (verify_sync). `rollout.backend=llamacpp`:
each round's policy is exported to GGUF and sampled by llama.cpp. Both keep the recipe's resume
unit: saved pairs are reused, never resampled, and no engine starts for them.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from datasets import load_from_disk

from rlkit.config import load_config
from rlkit.model import cache_root
from rlkit.rollout.vllm_engine import vllm_available
from tests.recipes import load_recipe

pytestmark = pytest.mark.integration

TINY = [
    "data.num_rows=4", "sampling.k=2", "sampling.max_tokens=24", "train.steps_per_round=2", "train.batch_size=2",
    "train.logging_steps=1", "train.learning_rate=1e-3", "jury.llm_judges=[]",
]


def _run(tmp_path: Path, model_dir: Path, *extra: str) -> Path:
    recipe = load_recipe("dpo_antiloop")
    overrides = [f"model={model_dir}", f"output_dir={tmp_path / 'run'}", f"jury.cache_dir={tmp_path / 'judge'}", *TINY, *extra]
    recipe.main(load_config(recipe.DPORecipeConfig, recipe.DEFAULT_CONFIG, overrides))
    return tmp_path / "run"


def _report(run: Path, r: int) -> dict:
    return json.loads((run / f"round_{r}" / "pairs" / "report.json").read_text())


def _saved_candidates(run: Path, r: int) -> bytes:
    """The round's audit trail: every candidate sampled, so equal bytes mean nothing was resampled."""
    return (run / f"round_{r}" / "pairs" / "audit.jsonl").read_bytes()


def _interrupt_last_round(run: Path, r: int) -> None:
    """What a kill after the round's pairs were saved leaves: pairs, no trained model, no final model."""
    (run / f"round_{r}" / "done.json").unlink()
    shutil.rmtree(run / f"round_{r}" / "model", ignore_errors=True)  # absent when the round had no pairs
    shutil.rmtree(run / "model")


def _check_pairs(run: Path, r: int) -> dict:
    report = _report(run, r)
    audit = (run / f"round_{r}" / "pairs" / "audit.jsonl").read_text().splitlines()
    assert len(audit) == report["prompts"] == 4
    assert report["pairs"] + sum(report["skipped"].values()) == 4
    assert all(len(json.loads(line)["candidates"]) == 3 for line in audit)  # K=2 + greedy
    if report["pairs"]:  # datasets cannot load a saved dataset with no rows (the recipe reads the count)
        assert len(load_from_disk(str(run / f"round_{r}" / "pairs"))) == report["pairs"]
    return report


@pytest.mark.skipif(not vllm_available(), reason="vLLM is not installed")
def test_vllm_engine_starts_once_gets_each_round_policy_verified_and_resumes(tmp_path, tiny_model_dir, caplog):
    os.environ.setdefault("VLLM_CACHE_ROOT", str(cache_root() / "vllm"))
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache_root() / "inductor"))
    caplog.set_level("INFO")
    run = _run(tmp_path, tiny_model_dir, "rounds=2", "rollout.backend=vllm", "rollout.max_model_len=1024")
    first, second = _check_pairs(run, 0), _check_pairs(run, 1)
    assert first["pairs"] > 0  # so round 1 samples a trained policy
    assert first["rollout"]["backend"] == second["rollout"]["backend"] == "vllm"
    assert "engine_start_s" in first["rollout"] and "engine_start_s" not in second["rollout"]  # built once
    # Round 1 samples the round-0 model: pushed into the running engine and verified.
    assert second["rollout"]["policy"].endswith("round_0/model")
    assert 0.0 <= second["rollout"]["sync_gap"] <= 1e-4 and first["rollout"]["sync_gap"] <= 1e-4
    assert second["rollout"]["tokens"] > 0 and caplog.text.count("vLLM engine ready") == 1

    saved = _saved_candidates(run, 1)
    _interrupt_last_round(run, 1)
    caplog.clear()
    _run(tmp_path, tiny_model_dir, "rounds=2", "rollout.backend=vllm", "rollout.max_model_len=1024")
    assert "round 0 already finished" in caplog.text
    assert "vLLM engine ready" not in caplog.text  # saved pairs need no engine
    assert _saved_candidates(run, 1) == saved
    assert (run / "model" / "config.json").is_file()


def test_llamacpp_samples_each_round_from_its_gguf_export_and_resumes(tmp_path, tiny_model_dir):
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
    run = _run(tmp_path, tiny_model_dir, "rounds=2", "rollout.backend=llamacpp")
    first, second = _check_pairs(run, 0), _check_pairs(run, 1)
    assert first["pairs"] > 0  # so round 1 samples a trained policy
    assert Path(first["rollout"]["gguf"]).is_file() and Path(second["rollout"]["gguf"]).is_file()
    assert first["rollout"]["gguf"] != second["rollout"]["gguf"]  # round 1 samples the round-0 model
    assert second["rollout"]["policy"].endswith("round_0/model") and second["rollout"]["tokens"] > 0

    saved = _saved_candidates(run, 1)
    stamp = Path(second["rollout"]["gguf"]).stat().st_mtime_ns
    _interrupt_last_round(run, 1)
    _run(tmp_path, tiny_model_dir, "rounds=2", "rollout.backend=llamacpp")
    assert _saved_candidates(run, 1) == saved
    assert Path(second["rollout"]["gguf"]).stat().st_mtime_ns == stamp  # not exported again
    assert (run / "model" / "config.json").is_file()


def test_unknown_backend_names_the_config_key(tmp_path, tiny_model_dir):
    with pytest.raises(ValueError, match="rollout.backend"):
        _run(tmp_path, tiny_model_dir, "rounds=1", "rollout.backend=vllm_cpu")
