"""Fault test of the synthetic-data recipe: a loopback OpenAI-compatible teacher that misbehaves.

The server below picks its behaviour from the request's `seed` (the recipe sends seed + request id),
so request i always meets fault i: malformed JSON, code in argument values (as JSON strings and as a
Python literal), a reply after the client's timeout, HTTP 500, a non-JSON body, unknown tools,
missing fields, copies of seeds / of each other / of a test example, an empty reply. Nothing may
crash or execute, and the report must count each case under its reason. A run with the jury on
checks the plausibility filter, whose judge is this server answering `SCORE:` lines.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from datasets import load_from_disk

from rlkit.config import load_config
from rlkit.data.distil import load_distil_jsonl
from rlkit.toolcall import ToolCall, validate_call

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
TOOLS = [
    {"type": "function", "function": {"name": "pay_bill", "parameters": {"type": "object", "properties": {
        "payee": {"type": "string"}, "amount": {"type": "number"},
        "from_account": {"type": "string", "enum": ["checking", "savings"]}}, "required": ["payee"]}}},
    {"type": "function", "function": {"name": "check_balance", "parameters": {"type": "object", "properties": {
        "account_type": {"type": "string", "enum": ["checking", "savings"]}}, "required": []}}},
    {"type": "function", "function": {"name": "greeting", "parameters": {"type": "object", "properties": {}}}},
]
SEEDS = [
    ("hello there good morning", "greeting", {}),
    ("how much money is in my savings account", "check_balance", {"account_type": "savings"}),
    ("pay the phone company twenty dollars", "pay_bill", {"payee": "phone company", "amount": 20}),
]
TEST_ROW = ("i would like to pay my water bill of fifty five dollars from savings", "pay_bill", {"payee": "water"})


def conversation_json(user: str, name: str, arguments: dict, history: list | None = None) -> str:
    turns = (history or []) + [{"role": "user", "content": user}]
    return json.dumps({"conversation": turns, "next_call": {"name": name, "arguments": arguments}})


def teacher_behaviours(marker: Path) -> list[tuple[str, object]]:
    """(expected drop reason or "kept", reply text | special action) in request order."""
    hostile = f"__import__('os').system('touch {marker}')"
    return [
        ("kept", conversation_json("please pay the gas company forty dollars from checking", "pay_bill",
                                   {"payee": "Gas Co", "amount": 40, "from_account": "checking"})),
        ("kept", conversation_json("and the balance on checking", "check_balance", {"account_type": "checking"},
                                   history=[{"role": "user", "content": "hi, I have a question"},
                                            {"role": "assistant", "tool_call": {"name": "greeting", "arguments": {}}}])),
        ("malformed_json", '{"conversation": [{"role": "user", "content": "hi"}'),
        ("code_like_text", conversation_json("pay my electricity bill", "pay_bill", {"payee": hostile})),
        ("invalid_call", conversation_json("pay the cable bill from my account", "pay_bill",
                                           {"payee": "cable", "from_account": hostile})),
        ("malformed_json", "{'conversation': [], 'next_call': " + hostile + "}"),
        ("teacher_timeout", "SLEEP"),
        ("teacher_error", "HTTP500"),
        ("unknown_tool", conversation_json("wire money to my cousin abroad", "wire_transfer", {"to": "cousin"})),
        ("missing_fields", json.dumps({"conversation": [{"role": "user", "content": "what can you do"}]})),
        ("near_duplicate_seed", conversation_json("How much money is in my savings account?", "check_balance",
                                                  {"account_type": "savings"})),
        ("near_duplicate", conversation_json("Please pay the gas company forty dollars from checking!", "pay_bill",
                                             {"payee": "Gas Co", "amount": 40, "from_account": "checking"})),
        ("leaked_test_example", conversation_json(TEST_ROW[0], TEST_ROW[1], TEST_ROW[2])),
        ("empty_reply", ""),
        ("teacher_error", "NOT_JSON_BODY"),
        ("malformed_json", "[" * 100_000 + "]" * 100_000),
    ]


class MisbehavingTeacher:
    """A loopback /v1/chat/completions server: request seed i -> behaviour i; judge prompts get SCORE lines."""

    def __init__(self, behaviours: list[tuple[str, object]], sleep_s: float) -> None:
        self.behaviours = behaviours
        self.hits: Counter = Counter()
        self.judge_requests = 0
        lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                system = body["messages"][0]["content"]
                if system.startswith("You grade responses"):  # the plausibility jury's LLM judge
                    with lock:
                        owner.judge_requests += 1
                    text = "SCORE: 9" if "gas company" in json.dumps(body["messages"]) else "SCORE: 2"
                    return self._reply(text)
                index = body["seed"] % len(owner.behaviours)
                with lock:
                    owner.hits[index] += 1
                action = owner.behaviours[index][1]
                if action == "SLEEP":
                    time.sleep(sleep_s)
                    return self._reply("{}")
                if action == "HTTP500":
                    return self._send(500, b'{"error": {"message": "teacher fell over"}}')
                if action == "NOT_JSON_BODY":
                    return self._send(200, b"<html>definitely not json</html>")
                return self._reply(action)

            def _reply(self, text: str) -> None:
                payload = {"id": "x", "object": "chat.completion", "created": 0, "model": "misbehaving",
                           "choices": [{"index": 0, "finish_reason": "stop",
                                        "message": {"role": "assistant", "content": text}}],
                           "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
                self._send(200, json.dumps(payload).encode())

            def _send(self, status: int, data: bytes) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up (timeout): nothing to answer
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def write_distil(path: Path, rows) -> Path:
    lines = [json.dumps({"question": json.dumps([{"role": "user", "content": user}]),
                         "answer": json.dumps({"name": name, "parameters": args})}) for user, name, args in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def setup(tmp_path, monkeypatch):
    monkeypatch.setenv("RLKIT_CACHE_DIR", str(tmp_path / "cache"))
    marker = tmp_path / "MARKER"
    teacher = MisbehavingTeacher(teacher_behaviours(marker), sleep_s=3.0)
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"task_description": "A bank's voice assistant.", "tools": TOOLS}))
    overrides = [
        f"output_dir={tmp_path / 'out'}",
        f"num_requests={len(teacher.behaviours)}",
        f"inputs.job_path={job}",
        f"inputs.seeds_path={write_distil(tmp_path / 'seeds.jsonl', SEEDS)}",
        f"inputs.test_paths=[{write_distil(tmp_path / 'test.jsonl', [TEST_ROW])}]",
        f"teacher.endpoints=[{{base_url: '{teacher.url}', model: misbehaving}}]",
        "teacher.sampling.timeout_s=1.0",
        "teacher.sampling.max_retries=1",
        "teacher.sampling.backoff_s=0.05",
        "teacher.concurrency=4",
        "teacher.use_cache=false",
        "diversity.turn_weights=[0.5, 0.5]",
        "diversity.off_domain_tool=greeting",
        "diversity.examples_per_prompt=2",
    ]
    yield teacher, overrides, tmp_path, marker
    teacher.close()


def run_recipe(overrides: list[str]) -> dict:
    import sys

    sys.path.insert(0, str(REPO / "recipes"))
    try:
        import synth_data
    finally:
        sys.path.pop(0)
    config = load_config(synth_data.SynthRecipeConfig, REPO / "recipes" / "configs" / "synth_data.yaml", overrides)
    return synth_data.main(config)


def test_every_fault_is_counted_nothing_executes_and_a_rerun_resumes(setup):
    teacher, overrides, tmp_path, marker = setup
    summary = run_recipe(overrides)

    expected = Counter(reason for reason, _ in teacher.behaviours if reason != "kept")
    assert summary["drops"] == dict(expected)
    assert summary["kept"] == 2 and summary["requests"] == len(teacher.behaviours)
    assert not marker.exists(), "hostile text was executed"
    assert teacher.hits[6] == 2 and teacher.hits[7] == 2  # timeout and HTTP 500 were retried once

    out = tmp_path / "out"
    report = (out / "report.md").read_text()
    for reason in expected:
        assert f"| {reason} |" in report
    kept = load_distil_jsonl(out / "synth.jsonl", out / "tools.json")
    assert len(kept) == 2
    for row in kept:
        (call,) = json.loads(row["answer"])
        assert validate_call(ToolCall(call["name"], call["arguments"]), row["tools"]).ok
    dataset = load_from_disk(str(out / "dataset"))
    assert {"messages", "tools", "answer"} <= set(dataset.column_names) and len(dataset) == 2

    # Rerun: replies on disk are kept; only the transient failures (timeout, 500, bad body) are asked again.
    before = Counter(teacher.hits)
    again = run_recipe(overrides)
    asked_again = {i for i in teacher.hits if teacher.hits[i] > before[i]}
    assert asked_again == {6, 7, 14}
    assert again["drops"] == summary["drops"] and again["kept"] == 2


def test_jury_filter_drops_rows_the_judge_scores_low(setup):
    teacher, overrides, tmp_path, _ = setup
    summary = run_recipe(overrides + ["jury.enabled=true", "jury.min_score=0.5", "jury.max_retries=0"])
    assert teacher.judge_requests == 2  # only the two rows that passed every other check are judged
    assert summary["drops"]["low_jury_score"] == 1 and summary["kept"] == 1
    (row,) = load_distil_jsonl(tmp_path / "out" / "synth.jsonl", tmp_path / "out" / "tools.json")
    assert "gas company" in json.dumps(row["messages"])


def test_a_dead_judge_drops_rows_as_unscored_never_lets_them_through(setup):
    teacher, overrides, _, _ = setup
    dead_judge = "jury.judges=[{base_url: 'http://127.0.0.1:9/v1', model: nobody}]"
    summary = run_recipe(overrides + ["jury.enabled=true", dead_judge, "jury.max_retries=0"])
    assert summary["drops"]["jury_no_score"] == 2 and summary["kept"] == 0
    assert teacher.judge_requests == 0


def test_a_dead_teacher_costs_requests_not_the_run(setup):
    _, overrides, _, _ = setup
    dead = [o for o in overrides if not o.startswith("teacher.endpoints")]
    dead.append("teacher.endpoints=[{base_url: 'http://127.0.0.1:9/v1', model: nobody}]")  # port 9: discard, closed
    summary = run_recipe(dead + ["num_requests=3", "teacher.sampling.max_retries=0"])
    assert summary["drops"] == {"teacher_error": 3} and summary["kept"] == 0
