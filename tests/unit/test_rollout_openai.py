"""Pure logic of the OpenAI-compatible backend: finish-reason mapping, backoff, request fields."""

import pytest

from rlkit.rollout.base import ChatPrompt, SamplingParams
from rlkit.rollout.openai_backend import OpenAIRollout, backoff_seconds, map_finish_reason, to_openai_messages


def test_finish_reasons_map_onto_stop_and_length():
    assert map_finish_reason("stop") == "stop"
    assert map_finish_reason("tool_calls") == "stop"  # the turn ended with a call
    assert map_finish_reason("length") == "length"
    with pytest.raises(ValueError, match="content_filter"):
        map_finish_reason("content_filter")
    with pytest.raises(ValueError):
        map_finish_reason(None)


def test_backoff_doubles_with_jitter_and_is_capped():
    for attempt, full in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0)]:
        delay = backoff_seconds(attempt, base=0.5)
        assert full / 2 <= delay <= full
    assert backoff_seconds(20, base=0.5, cap=3.0) <= 3.0


def _rollout(**kw) -> OpenAIRollout:
    # Building the client opens no connection; nothing is sent in these tests.
    return OpenAIRollout("http://127.0.0.1:9/v1", "m", api_key_env="RLKIT_TEST_NO_SUCH_KEY", **kw)


def test_greedy_request_sends_no_sampling_extras():
    kwargs = _rollout()._sampling_kwargs(SamplingParams.greedy(max_tokens=7, top_k=5), n=1, seed=None)
    assert kwargs == {"model": "m", "max_tokens": 7, "temperature": 0.0, "n": 1}


def test_sampling_request_carries_top_k_and_repetition_penalty_in_the_body():
    params = SamplingParams(temperature=0.7, top_k=50, top_p=0.9, repetition_penalty=1.05, max_tokens=3)
    kwargs = _rollout(extra_body={"skip_special_tokens": False})._sampling_kwargs(params, n=2, seed=11)
    assert kwargs["temperature"] == 0.7 and kwargs["top_p"] == 0.9 and kwargs["seed"] == 11 and kwargs["n"] == 2
    assert kwargs["extra_body"] == {"skip_special_tokens": False, "top_k": 50, "repetition_penalty": 1.05}


def test_key_comes_from_the_named_variable_and_never_reaches_logs_or_errors(monkeypatch, caplog):
    assert _rollout().client.api_key == "EMPTY"  # unset variable: loopback servers take any key
    monkeypatch.setenv("RLKIT_TEST_KEY", "sk-secret-value")
    rollout = OpenAIRollout(
        "http://127.0.0.1:9/v1", "m", api_key_env="RLKIT_TEST_KEY", max_retries=1, backoff_base=0.01, timeout=2
    )
    assert rollout.client.api_key == "sk-secret-value"
    caplog.set_level("DEBUG")
    # Port 9 on loopback refuses connections: the request is retried once, then fails clearly.
    with pytest.raises(RuntimeError, match="failed after 2 attempts") as error:
        rollout.generate([ChatPrompt([{"role": "user", "content": "hi"}])], SamplingParams.greedy(max_tokens=1))
    assert rollout.stats.extra["retries"] == 1
    assert "sk-secret-value" not in caplog.text and "sk-secret-value" not in str(error.value)


def test_token_id_prompts_without_tokenizer_or_server_support_are_refused():
    with pytest.raises(ValueError, match="token-id prompts"):
        _rollout()._request([1, 2, 3], SamplingParams.greedy(max_tokens=1), n=1, seed=None)


def test_messages_get_the_openai_wire_format_for_tool_calls_and_results():
    messages = [
        {"role": "user", "content": "lights on"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"type": "function", "function": {"name": "set_lights", "arguments": {"room": "kitchen"}}},
            {"type": "function", "function": {"name": "get_status", "arguments": {}}},
        ]},
        {"role": "tool", "content": "ok"},
        {"role": "tool", "content": "all on"},
    ]
    wire = to_openai_messages(messages)
    calls = wire[1]["tool_calls"]
    assert [c["function"]["arguments"] for c in calls] == ['{"room": "kitchen"}', "{}"]
    assert [c["id"] for c in calls] == ["call_1_0", "call_1_1"]
    assert [m["tool_call_id"] for m in wire[2:]] == ["call_1_0", "call_1_1"]
    assert messages[1]["tool_calls"][0]["function"]["arguments"] == {"room": "kitchen"}  # input untouched
