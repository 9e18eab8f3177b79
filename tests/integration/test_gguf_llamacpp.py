"""GGUF files written by rlkit, run by llama.cpp (llama-cpp-python): same tokens, same tokenization,
quantized files that load, and the same eval verdicts in-process and through llama.cpp's server.

The model is the tiny LFM2 briefly overfit on a few chats (tests/integration/servers.py): random
weights have logit margins so small that greedy decoding is decided by rounding noise.
"""

from __future__ import annotations

import pytest

from rlkit.export import export_gguf
from rlkit.rollout.base import ChatPrompt, SamplingParams
from tests.integration.servers import TRAINING_CHATS, trained_tiny_checkpoint

pytestmark = pytest.mark.integration
llama_cpp = pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (pip install -e '.[gguf]')")

SMART_HOME_TOOLS = [{"type": "function", "function": {
    "name": "set_lights", "description": "Switch lights",
    "parameters": {"type": "object", "properties": {"room": {"type": "string"}, "state": {"type": "string", "enum": ["on", "off"]}},
                   "required": ["room", "state"]}}}]
PROMPTS = [ChatPrompt(messages) for messages, _ in TRAINING_CHATS] + [
    ChatPrompt([{"role": "user", "content": "lights off in the bedroom"}], SMART_HOME_TOOLS),
    ChatPrompt([
        {"role": "system", "content": "You control a smart home."},
        {"role": "user", "content": "lights off in the bedroom"},
        {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {
            "name": "set_lights", "arguments": {"room": "bedroom", "state": "off"}}}]},
        {"role": "tool", "content": '{"status": "ok"}'},
        {"role": "user", "content": "hello"},
    ], SMART_HOME_TOOLS),
]


@pytest.fixture(scope="module")
def trained_dir(tiny_model_dir, tmp_path_factory):
    return trained_tiny_checkpoint(tiny_model_dir, tmp_path_factory.mktemp("gguf") / "trained")


@pytest.fixture(scope="module")
def gguf_files(trained_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("gguf-files")
    return {kind: export_gguf(trained_dir, out / f"tiny-{kind}.gguf", kind) for kind in ("f32", "f16", "q8_0", "q4_0")}


@pytest.fixture(scope="module")
def hf_engine(trained_dir):
    from rlkit.model import load_model_and_tokenizer
    from rlkit.rollout.hf import HFRollout

    model, tokenizer = load_model_and_tokenizer(str(trained_dir))
    return HFRollout(model.eval(), tokenizer)


def llamacpp_engine(path, tokenizer=None):
    from rlkit.rollout.llamacpp import LlamaCppRollout

    return LlamaCppRollout(path, tokenizer, n_threads=1)


@pytest.mark.parametrize("kind", ["f32", "f16"])
def test_float_gguf_greedy_tokens_equal_hf(gguf_files, hf_engine, kind):
    params = SamplingParams.greedy(max_tokens=24)
    expected = hf_engine.generate(PROMPTS, params)
    got = llamacpp_engine(gguf_files[kind]).generate(PROMPTS, params)
    assert sum(group[0].finish_reason == "stop" for group in expected) >= 3  # not a vacuous run-to-length check
    for prompt, want, have in zip(PROMPTS, expected, got):
        assert have[0].token_ids == want[0].token_ids, prompt.messages[-1]
        assert have[0].text == want[0].text and have[0].finish_reason == want[0].finish_reason
    assert any("<|tool_call_start|>" in group[0].text for group in got)  # special markers kept in the text


def test_repetition_penalty_is_hfs(gguf_files, hf_engine):
    """Greedy with a strong penalty: HF's rule (prompt and reply tokens) gives the same tokens in llama.cpp."""
    params = SamplingParams.greedy(max_tokens=16, repetition_penalty=3.0)
    expected = hf_engine.generate(PROMPTS, params)
    plain = hf_engine.generate(PROMPTS, SamplingParams.greedy(max_tokens=16))
    got = llamacpp_engine(gguf_files["f32"]).generate(PROMPTS, params)
    assert [g[0].token_ids for g in expected] != [g[0].token_ids for g in plain]  # the penalty matters here
    assert [g[0].token_ids for g in got] == [g[0].token_ids for g in expected]


def test_sampling_seeds(gguf_files):
    engine = llamacpp_engine(gguf_files["f32"])
    params = SamplingParams(temperature=1.5, max_tokens=12, n=4, seed=3)
    first = [c.token_ids for c in engine.generate(PROMPTS[:1], params)[0]]
    assert first == [c.token_ids for c in engine.generate(PROMPTS[:1], params)[0]]  # seeded: reproducible
    assert len({tuple(ids) for ids in first}) > 1  # the n samples differ from each other
    unseeded = SamplingParams(temperature=1.5, max_tokens=12, n=4)
    assert len({tuple(c.token_ids) for c in engine.generate(PROMPTS[:1], unseeded)[0]}) > 1


def test_tokenization_and_template_parity(gguf_files, hf_engine):
    from rlkit.chat import render_prompt
    from rlkit.rollout.llamacpp import GGUFTemplate

    engine = llamacpp_engine(gguf_files["f16"])
    assert isinstance(engine.template, GGUFTemplate)  # the GGUF's own embedded template renders prompts
    for prompt in PROMPTS:
        hf_text = render_prompt(hf_engine.tokenizer, prompt.messages, prompt.tools)
        assert render_prompt(engine.template, prompt.messages, prompt.tools) == hf_text
        assert engine.prompt_ids(prompt) == hf_engine.prompt_ids(prompt)
    text = "Turn the lights to 50% in the living room, please! ñandú 🙂 <|tool_call_start|>[x(a=1)]<|tool_call_end|>"
    ids = hf_engine.tokenizer(text, add_special_tokens=False).input_ids
    assert engine.llm.tokenize(text.encode(), add_bos=False, special=True) == ids
    assert engine.llm.detokenize(ids, special=True).decode() == text


def test_quantized_files_are_smaller_and_load(gguf_files):
    sizes = {kind: path.stat().st_size for kind, path in gguf_files.items()}
    assert sizes["q4_0"] < sizes["q8_0"] < sizes["f16"] < sizes["f32"]
    for kind, file_type in [("q8_0", "7"), ("q4_0", "2")]:
        engine = llamacpp_engine(gguf_files[kind])
        assert engine.llm.metadata["general.file_type"] == file_type
        completions = engine.generate(PROMPTS[:2], SamplingParams.greedy(max_tokens=8))
        assert all(group[0].token_ids for group in completions)


def test_server_route_gives_the_in_process_verdicts(gguf_files, trained_dir, tmp_path):
    from rlkit.eval import GREEDY, evaluate, load_eval_data
    from rlkit.eval.backends import engine_for_model
    from rlkit.rollout.serve import start_llamacpp_server

    data = load_eval_data("smart_home", split="test", episodes=2, seed=0)
    examples = data.examples[:6]
    in_process = evaluate(engine_for_model(str(gguf_files["f16"])), examples, [GREEDY], max_tokens=32)
    with start_llamacpp_server(gguf_files["f16"], log_dir=tmp_path) as server:
        # llama.cpp's server applies repeat_penalty 1.1 unless told otherwise; greedy here means none.
        endpoint = engine_for_model(server.base_url, endpoint_model=server.model, tokenizer=str(trained_dir),
                                    extra_body={"repeat_penalty": 1.0}, render_chat_locally=True)
        served = evaluate(endpoint, examples, [GREEDY], max_tokens=32)
    pairs = list(zip(in_process.records, served.records))
    assert len(pairs) == 6
    for local, remote in pairs:
        assert (remote.ok, remote.reason, remote.looped) == (local.ok, local.reason, local.looped), local.example_id
        assert remote.completion == local.completion, local.example_id


def test_eval_recipe_runs_a_gguf_file(gguf_files, tmp_path):
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=str(repo), OMP_NUM_THREADS="1")
    out = tmp_path / "eval-gguf"
    done = subprocess.run([sys.executable, "recipes/eval.py", "--data", "smart_home", "--episodes", "1", "--model",
                           str(gguf_files["q8_0"]), "--output", str(out), "--max-tokens", "16", "--limit", "3"],
                          cwd=repo, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1].startswith("tool-call equivalence: ")
    records = json.loads((out / "results.json").read_text())["records"]
    assert records and all(r["length"] <= 16 for r in records)
