"""End to end: the tiny model on a smart-home test split, evaluated through HF generate and through a
real OpenAI-compatible server (`transformers serve` on 127.0.0.1, same checkpoint), gives the same
greedy outputs and the same verdicts, in the correct-history examples and in own-history episodes;
likewise the in-process vLLM engine where vLLM is installed.
The checkpoint is the tiny model briefly overfit on a few tool-calling steps (see the fixture).
"""

from __future__ import annotations

import pytest

from rlkit.eval import GREEDY, evaluate
from rlkit.eval.backends import engine_for_model
from rlkit.eval.sources import load_env_split
from rlkit.rollout.hf import HFRollout
from rlkit.rollout.vllm_engine import vllm_available
from tests.integration.servers import SKIP_NO_VLLM, server_fixture

pytestmark = pytest.mark.integration

MAX_TOKENS = 24
TRAIN_TASKS = 3  # smart-home train steps the checkpoint memorizes (calls and replies)


@pytest.fixture(scope="module")
def toolcall_tiny_dir(tiny_model_dir):
    """The tiny model overfit on a few smart-home steps, so its greedy outputs hold real tool-call
    blocks (special-token markers included) and replies that end their turn. Random weights only
    write newlines, which would make "same outputs, same verdicts" vacuous. Cached beside the tiny model."""
    dst = tiny_model_dir.parent / f"{tiny_model_dir.name}-eval-toolcall-v1"
    if (dst / "model.safetensors").is_file():
        return dst
    import shutil

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rlkit.envs.registry import generate_tasks
    from rlkit.chat import render_prompt
    from rlkit.toolcall import render_calls

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # shared 2-core machine: oversubscribed threads are several times slower
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    texts = []
    for task in generate_tasks("smart_home", "train", TRAIN_TASKS, seed=0, kind="all"):
        row = task.to_example()
        target = render_calls(task.step.calls) if task.kind == "call" else task.step.reply
        texts.append(render_prompt(tokenizer, row["messages"], row["tools"]) + target + "<|im_end|>")
    encoded = tokenizer(texts, add_special_tokens=False, padding=True, return_tensors="pt")
    labels = encoded.input_ids.masked_fill(encoded.attention_mask == 0, -100)
    torch.manual_seed(0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-3)
    for _ in range(40):
        model(input_ids=encoded.input_ids, attention_mask=encoded.attention_mask, labels=labels).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    torch.set_num_threads(threads)
    tmp = dst.with_name(dst.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    shutil.copy(tiny_model_dir / "config.json", tmp / "config.json")
    tmp.rename(dst)
    return dst


transformers_server = server_fixture("transformers", model="toolcall_tiny_dir")


def verdicts(result):
    return [(r.example_id, r.kind, r.ok, r.reason, tuple(r.facts_mentioned), r.looped) for r in result.records]


def test_hf_and_server_give_the_same_verdicts(toolcall_tiny_dir, transformers_server, one_thread):
    from rlkit.model import load_model_and_tokenizer

    model, tokenizer = load_model_and_tokenizer(str(toolcall_tiny_dir))
    model.eval()
    data = load_env_split("smart_home", split="test", n_episodes=3, seed=0)
    args = dict(max_tokens=MAX_TOKENS, episodes=data.episodes, env_factory=data.env_factory, max_steps_per_turn=2)
    local = evaluate(HFRollout(model, tokenizer), data.examples, [GREEDY], **args)
    engine = engine_for_model(transformers_server.base_url, endpoint_model=transformers_server.model,
                              tokenizer=str(toolcall_tiny_dir), max_concurrency=2)
    served = evaluate(engine, data.examples, [GREEDY], **args)

    assert len(local.records) == len(served.records) == len(data.examples) > 0
    # Not vacuous: the greedy outputs hold tool-call blocks, and some replies end their turn.
    assert any(r.calls for r in local.records) and any(r.finish_reason == "stop" for r in local.records)
    # Same greedy outputs: the server strips the special call markers, the endpoint engine restores them.
    assert [r.completion for r in served.records] == [r.completion for r in local.records]
    assert [r.finish_reason for r in served.records] == [r.finish_reason for r in local.records]
    assert verdicts(served) == verdicts(local)
    assert served.metrics["greedy"]["calls"] == local.metrics["greedy"]["calls"]
    # Own-history episodes: the same turns, verdicts and final states through both paths.
    assert [[(t.ok, t.reason, t.steps) for t in e.turns] for e in served.episodes] == \
        [[(t.ok, t.reason, t.steps) for t in e.turns] for e in local.episodes]
    assert served.summary_line() == local.summary_line()


@pytest.mark.skipif(not vllm_available(), reason=SKIP_NO_VLLM)
def test_hf_and_vllm_engine_give_the_same_records(toolcall_tiny_dir, tmp_path, one_thread):
    """The eval recipe with `backend=vllm` (own process: one vLLM engine per process) matches HF generate."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from rlkit.model import load_model_and_tokenizer

    repo = Path(__file__).resolve().parents[2]
    out = tmp_path / "vllm"
    env = dict(os.environ, PYTHONPATH=str(repo), OMP_NUM_THREADS="1")
    done = subprocess.run(
        [sys.executable, "recipes/eval.py", "--data", "smart_home", "--episodes", "3", "--max-tokens", str(MAX_TOKENS),
         "--model", str(toolcall_tiny_dir), "--backend", "vllm", "--output", str(out), "max_steps_per_turn=2",
         "settings=[{name: greedy, temperature: 0}]"],
        cwd=repo, env=env, capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    served = json.loads((out / "results.json").read_text())
    model, tokenizer = load_model_and_tokenizer(str(toolcall_tiny_dir))
    model.eval()
    data = load_env_split("smart_home", split="test", n_episodes=3, seed=0)
    local = evaluate(HFRollout(model, tokenizer), data.examples, [GREEDY], max_tokens=MAX_TOKENS,
                     episodes=data.episodes, env_factory=data.env_factory, max_steps_per_turn=2)
    assert any(r.calls for r in local.records)
    assert [(r["completion"], r["finish_reason"], r["reason"], r["length"]) for r in served["records"]] == \
        [(r.completion, r.finish_reason, r.reason, r.length) for r in local.records]
    assert [[(t["ok"], t["reason"], t["steps"]) for t in e["turns"]] for e in served["episodes"]] == \
        [[(t.ok, t.reason, t.steps) for t in e.turns] for e in local.episodes]
    assert served["summary_line"] == local.summary_line()
