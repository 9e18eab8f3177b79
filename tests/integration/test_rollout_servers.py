"""OpenAI-compatible servers on 127.0.0.1 serving the same checkpoint as HF generate.

`transformers serve` through `OpenAIRollout` (also behind the fault-injecting proxy), and vLLM's
API server through `VLLMServerRollout`, including a weight push over loopback and verify_sync.
"""

import pytest
import torch

from rlkit.model import cache_root, load_model_and_tokenizer
from rlkit.rollout import ChatPrompt, HFRollout, SamplingParams, SyncError, make_rollout_engine, verify_sync
from rlkit.rollout.openai_backend import OpenAIRollout
from tests.integration.faulty_proxy import FaultyProxy
from tests.integration.servers import TRAINING_CHATS, server_fixture, trained_tiny_checkpoint

pytestmark = pytest.mark.integration

PROMPTS = [ChatPrompt(messages) for messages, _ in TRAINING_CHATS] + [
    ChatPrompt([{"role": "user", "content": "set the thermostat to 20"}])
]

transformers_server = server_fixture("transformers", model="trained_dir")
vllm_server = server_fixture("vllm", model="trained_dir", max_model_len=512)


def _without_special_tokens(reference, completion):
    body = completion.token_ids[:-1] if completion.finish_reason == "stop" else completion.token_ids
    return reference.tokenizer.decode(body, skip_special_tokens=True)


def test_transformers_server_gives_hf_greedy_replies_and_finish_reasons(transformers_server, reference):
    engine = make_rollout_engine(
        "openai", transformers_server.model, reference.tokenizer, base_url=transformers_server.base_url
    )
    for max_tokens, finish in [(24, "stop"), (3, "length")]:
        params = SamplingParams.greedy(max_tokens=max_tokens)
        ours, theirs = engine.generate(PROMPTS, params), reference.generate(PROMPTS, params)
        for prompt, a, b in zip(PROMPTS, ours, theirs):
            # This server decodes replies without special tokens (tool-call markers included).
            assert a[0].text == _without_special_tokens(reference, b[0]), prompt
            assert a[0].finish_reason == b[0].finish_reason == finish
    assert engine.stats.completions == 2 * len(PROMPTS) and engine.stats.tokens > 0


def test_openai_backend_retries_server_errors_drops_and_timeouts(transformers_server, reference):
    expected = reference.generate(PROMPTS[:1], SamplingParams.greedy(max_tokens=8))[0][0]
    for fault in ["error", "drop", "delay"]:
        with FaultyProxy(transformers_server.base_url, schedule=[fault, "pass"], delay_s=3.0) as proxy:
            engine = OpenAIRollout(
                proxy.url, transformers_server.model, reference.tokenizer,
                timeout=1.5, max_retries=2, backoff_base=0.05, api_key_env="RLKIT_TEST_NO_KEY",
            )
            got = engine.generate(PROMPTS[:1], SamplingParams.greedy(max_tokens=8))[0][0]
            assert got.text == _without_special_tokens(reference, expected), fault
            assert engine.stats.extra["retries"] == 1 and proxy.injected[fault] == 1, fault


def test_vllm_server_matches_hf_token_for_token(vllm_server, reference):
    engine = make_rollout_engine(
        "vllm_server", None, reference.tokenizer, base_url=vllm_server.base_url, served_model=vllm_server.model
    )
    prompts = PROMPTS + [reference.prompt_ids(PROMPTS[1])]
    for max_tokens in (24, 3):
        params = SamplingParams.greedy(max_tokens=max_tokens, n=2)
        ours, theirs = engine.generate(prompts, params), reference.generate(prompts, params)
        for prompt, a, b in zip(prompts, ours, theirs):
            assert [(c.token_ids, c.text, c.finish_reason) for c in a] == [
                (c.token_ids, c.text, c.finish_reason) for c in b
            ], prompt
    assert "<|tool_call_start|>" in ours[4][0].text or "<|tool_call_start|>" in engine.generate(
        prompts[4:5], SamplingParams.greedy(max_tokens=24))[0][0].text


def test_vllm_server_weight_push_after_a_training_step_passes_verify_sync(vllm_server, reference, trained_dir):
    from rlkit.rollout.vllm_server import VLLMServerRollout

    trainer, _ = load_model_and_tokenizer(str(trained_dir))
    engine = VLLMServerRollout(vllm_server.base_url, vllm_server.model, reference.tokenizer)
    sequences = [reference.prompt_ids(p) + [7] for p in PROMPTS[:3]]
    assert verify_sync(trainer, engine, sequences, tol=1e-4) < 1e-4
    trainer.train()
    optimizer = torch.optim.AdamW(trainer.parameters(), lr=1e-2)
    batch = torch.tensor(sequences[:1])
    trainer(input_ids=batch, labels=batch).loss.backward()
    optimizer.step()
    with pytest.raises(SyncError):
        verify_sync(trainer, engine, sequences, tol=1e-4)
    assert engine.sync_weights(trainer) > 0
    assert verify_sync(trainer, engine, sequences, tol=1e-4) < 1e-4
    engine.sync_weights(reference.model)  # leave the module's server serving the checkpoint again
