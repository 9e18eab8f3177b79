"""make_rollout_engine's argument checks (the engines themselves are tested in tests/integration)."""

import pytest

from rlkit.rollout import make_rollout_engine


def test_unknown_backend_names_the_choices():
    with pytest.raises(ValueError, match="hf, vllm, vllm_server, openai"):
        make_rollout_engine("vllm-cpu", None, None)


def test_endpoint_backends_need_a_base_url():
    with pytest.raises(ValueError, match="base_url"):
        make_rollout_engine("openai", "judge-model", None)
    with pytest.raises(ValueError, match="served_model"):
        make_rollout_engine("vllm_server", None, None, base_url="http://127.0.0.1:8000/v1")


def test_openai_backend_is_built_without_contacting_the_server():
    engine = make_rollout_engine("openai", "judge-model", None, base_url="http://127.0.0.1:9/v1", max_concurrency=3)
    assert (engine.model, engine.base_url, engine.max_concurrency) == ("judge-model", "http://127.0.0.1:9/v1", 3)
