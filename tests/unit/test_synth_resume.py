"""Resuming from raw.jsonl: torn last lines, changed plans, which requests are asked again; the reply cache."""

from __future__ import annotations

import json

import pytest

from rlkit.synth.pipeline import ResumeError, generate, read_raw
from rlkit.synth.prompts import Diversity, plan_requests
from rlkit.synth.teacher import ReplyCache, Teacher, TeacherEndpoint, TeacherSampling


def test_read_raw_keeps_the_latest_record_and_skips_only_a_torn_last_line(tmp_path):
    path = tmp_path / "raw.jsonl"
    path.write_text(
        json.dumps({"request_id": 0, "reply": None, "error": "teacher_timeout"}) + "\n"
        + json.dumps({"request_id": 0, "reply": "{}", "error": None}) + "\n"
        + '{"request_id": 1, "rep'
    )
    assert read_raw(path) == {0: {"request_id": 0, "reply": "{}", "error": None}}
    path.write_text('{"request_id": 1, "rep\n' + json.dumps({"request_id": 0, "reply": "{}"}) + "\n")
    with pytest.raises(ValueError, match="raw.jsonl:1"):
        read_raw(path)


def test_generate_refuses_to_resume_a_file_planned_differently(tmp_path):
    plans = plan_requests(2, ["a", "b"], ["a"], Diversity(), seed=0)
    other = plan_requests(2, ["a", "b"], ["a"], Diversity(), seed=1)
    path = tmp_path / "raw.jsonl"
    path.write_text(json.dumps({"request_id": 0, "plan": other[0].to_dict(), "reply": "{}"}) + "\n")
    teacher = Teacher([TeacherEndpoint(base_url="http://127.0.0.1:9/v1")], TeacherSampling(max_retries=0, timeout_s=1))
    with pytest.raises(ResumeError, match="request 0"):
        generate(teacher, plans, "task", [{"name": "a"}], [], path, concurrency=1, seed=0)


def test_only_missing_and_transient_failures_are_asked_again(tmp_path):
    plans = plan_requests(4, ["a"], [], Diversity(examples_per_prompt=0), seed=0)
    path = tmp_path / "raw.jsonl"
    stored = [("{}", None), (None, "empty_reply"), (None, "teacher_timeout")]  # request 3: never asked
    path.write_text("".join(
        json.dumps({"request_id": i, "plan": plans[i].to_dict(), "reply": reply, "error": error}) + "\n"
        for i, (reply, error) in enumerate(stored)
    ))
    # Port 9 (discard) is closed: every request asked now fails fast with a connection error.
    teacher = Teacher([TeacherEndpoint(base_url="http://127.0.0.1:9/v1")], TeacherSampling(max_retries=0, timeout_s=2))
    records = generate(teacher, plans, "task", [{"name": "a"}], [], path, concurrency=2, seed=0)
    assert records[0]["reply"] == "{}" and records[1]["error"] == "empty_reply"
    assert records[2]["error"] == "teacher_error" and records[3]["error"] == "teacher_error"
    appended = [json.loads(line)["request_id"] for line in path.read_text().splitlines()[3:]]
    assert sorted(appended) == [2, 3]


def test_reply_cache_round_trip_and_key_depends_on_everything_that_shapes_the_reply(tmp_path):
    cache = ReplyCache(tmp_path / "cache")
    cache.put("k", "hello")
    assert cache.get("k") == "hello" and cache.get("missing") is None
    (tmp_path / "cache" / "torn.json").write_text("{")
    assert cache.get("torn") is None
    teacher = Teacher([TeacherEndpoint(), TeacherEndpoint(base_url="http://other/v1")], TeacherSampling(), cache)
    messages = [{"role": "user", "content": "x"}]
    key = teacher.cache_key(0, messages, seed=5)
    assert key == teacher.cache_key(2, messages, seed=5)  # same endpoint (round-robin), same request
    assert key != teacher.cache_key(1, messages, seed=5)  # other endpoint
    assert key != teacher.cache_key(0, messages, seed=6)
    cache.put(key, "cached reply")
    reply = teacher.ask(0, messages, seed=5)  # no server at 127.0.0.1:8000 is needed: it is cached
    assert reply.text == "cached reply" and reply.cached
