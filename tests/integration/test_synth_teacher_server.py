"""The synthetic-data recipe end to end against a real OpenAI-compatible server on 127.0.0.1.

`transformers serve` runs the tiny LFM2 as the teacher on the banking job (job description + the
77 train rows as seeds). The tiny model writes garbage, so its replies must all be dropped with a
reason. Behind the fault-injecting proxy, every other request still travels the real server but has
its reply rewritten to a well-formed conversation, so the keep path (parse -> validate -> dedup ->
distil JSONL -> Dataset) is exercised on real HTTP traffic too.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from rlkit.config import load_config
from rlkit.data.distil import load_distil_jsonl
from rlkit.synth import REASONS
from rlkit.toolcall import ToolCall, validate_call
from tests.integration.faulty_proxy import FaultyProxy

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]

# Rewritten replies, by request seed: well-formed, schema-valid, unlike any banking seed.
GOOD_REPLIES = {
    1: {"conversation": [{"role": "user", "content": "good evening, is this the bank phone line"}],
        "next_call": {"name": "greeting", "arguments": {}}},
    3: {"conversation": [
            {"role": "user", "content": "i need to shift some funds around"},
            {"role": "assistant", "tool_call": {"name": "transfer_money", "arguments": {}}},
            {"role": "user", "content": "seventy five from savings into checking"}],
        "next_call": {"name": "transfer_money",
                      "arguments": {"amount": 75, "from_account": "savings", "to_account": "checking"}}},
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def teacher_server(tiny_model_dir):
    """`transformers serve <tiny model>` on a free loopback port; (base URL, served model name)."""
    port = free_port()
    exe = Path(sys.executable).with_name("transformers")
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    proc = subprocess.Popen(
        [str(exe), "serve", str(tiny_model_dir), "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"transformers serve exited with {proc.returncode}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("transformers serve did not become healthy in 120 s") from None
                time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/v1", str(tiny_model_dir)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def rewrite(request: dict) -> str:
    return json.dumps(GOOD_REPLIES[request["seed"]])


def test_tiny_teacher_end_to_end_on_banking(teacher_server, shared_data, tmp_path, monkeypatch):
    monkeypatch.setenv("RLKIT_CACHE_DIR", os.environ.get("RLKIT_CACHE_DIR", str(REPO / ".cache" / "rlkit")))
    sys.path.insert(0, str(REPO / "recipes"))
    try:
        import synth_data
    finally:
        sys.path.pop(0)
    url, model = teacher_server
    banking = shared_data / "banking"
    with FaultyProxy(url, schedule=["pass", "rewrite"], rewrite=rewrite) as proxy:
        overrides = [
            f"output_dir={tmp_path / 'out'}",
            "num_requests=4",
            f"inputs.job_path={banking / 'job_description.json'}",
            f"inputs.seeds_path={banking / 'train.jsonl'}",
            f"teacher.endpoints=[{{base_url: '{proxy.url}', model: '{model}'}}]",
            "teacher.sampling.max_tokens=8",
            "teacher.sampling.timeout_s=120",
            "teacher.concurrency=1",  # the proxy's schedule is per arrival: keep the order fixed
            "teacher.use_cache=false",
        ]
        config = load_config(synth_data.SynthRecipeConfig, REPO / "recipes" / "configs" / "synth_data.yaml", overrides)
        summary = synth_data.main(config)
        assert proxy.injected["rewrite"] == 2 and proxy.injected["pass"] == 2

    # The tiny model's own replies (requests 0 and 2) are dropped, each with a known reason.
    assert summary["requests"] == 4 and summary["kept"] == 2
    assert sum(summary["drops"].values()) == 2 and set(summary["drops"]) <= set(REASONS)
    out = tmp_path / "out"
    raw = [json.loads(line) for line in (out / "raw.jsonl").read_text().splitlines()]
    assert sorted(r["request_id"] for r in raw) == [0, 1, 2, 3]
    assert "| teacher | 4 |" in (out / "report.md").read_text()

    # Every kept row is schema-valid against the banking tools and loads for the SFT recipe.
    rows = load_distil_jsonl(out / "synth.jsonl", out / "tools.json")
    assert sorted(json.loads(r["answer"])[0]["name"] for r in rows) == ["greeting", "transfer_money"]
    for row in rows:
        for call in json.loads(row["answer"]):
            assert validate_call(ToolCall(call["name"], call["arguments"]), row["tools"]).ok
        assert row["messages"][0]["role"] == "system"  # the job's task description, as for the seeds
    assert (out / "dataset").is_dir()
