"""The in-process vLLM engine (eager, rotary fix on) against HF generate, and verified weight sync.

One engine serves the whole module. Weights are those of a briefly trained tiny LFM2, so greedy
replies differ per prompt and end their turn. Tests that change the engine's weights leave it
synced to the model they pushed; parity tests first push the reference model back.
"""

import os

import pytest
import torch

from rlkit.model import cache_root, load_model_and_tokenizer
from rlkit.rollout import ChatPrompt, HFRollout, SamplingParams, SyncError, verify_sync
from rlkit.rollout.vllm_engine import vllm_available
from tests.integration.servers import SKIP_NO_VLLM, TRAINING_CHATS, trained_tiny_checkpoint

pytestmark = [pytest.mark.integration, pytest.mark.skipif(not vllm_available(), reason=SKIP_NO_VLLM)]

UNSEEN = [[{"role": "user", "content": "set the thermostat to 20"}], [{"role": "user", "content": "hi there"}]]
PROMPTS = [ChatPrompt(messages) for messages, _ in TRAINING_CHATS] + [ChatPrompt(m) for m in UNSEEN]


@pytest.fixture(scope="module")
def engine(trained_dir, reference):
    from rlkit.rollout.vllm_engine import VLLMRollout

    # Compile/kernel caches stay in the repo's ignored cache: warm starts take ~2 s instead of ~10.
    os.environ.setdefault("VLLM_CACHE_ROOT", str(cache_root() / "vllm"))
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache_root() / "inductor"))
    return VLLMRollout(trained_dir, reference.tokenizer, enforce_eager=True, max_model_len=512)


@pytest.fixture
def trainer(trained_dir):
    """A fresh trainable copy of the checkpoint for tests that update weights."""
    model, _ = load_model_and_tokenizer(str(trained_dir))
    return model


def _probe_sequences(reference):
    ids = [reference.prompt_ids(p) for p in PROMPTS[:3]]
    return [seq + [7] + seq[:5] for seq in ids]  # prompts, an end of turn, then more text


def test_engine_runs_fp32_with_the_rotary_fix(engine):
    from vllm.model_executor.layers.rotary_embedding.base import RotaryEmbedding

    assert engine.llm.llm_engine.model_config.dtype == torch.float32
    assert getattr(RotaryEmbedding.forward_cpu, "rlkit_flattens_3d", False)


def test_greedy_completions_and_finish_reasons_match_hf(engine, reference):
    engine.sync_weights(reference.model)
    prompts = PROMPTS + [reference.prompt_ids(PROMPTS[0])]  # a token-id prompt too
    ours = engine.generate(prompts, SamplingParams.greedy(max_tokens=24))
    theirs = reference.generate(prompts, SamplingParams.greedy(max_tokens=24))
    for prompt, a, b in zip(prompts, ours, theirs):
        assert (a[0].token_ids, a[0].text, a[0].finish_reason) == (b[0].token_ids, b[0].text, b[0].finish_reason), prompt
    assert {g[0].finish_reason for g in ours} == {"stop"}
    assert "<|tool_call_start|>" in ours[4][0].text  # special tokens are kept in the text
    short = engine.generate(PROMPTS, SamplingParams.greedy(max_tokens=3, n=2))
    short_ref = reference.generate(PROMPTS, SamplingParams.greedy(max_tokens=3, n=2))
    for a, b in zip(short, short_ref):
        assert len(a) == 2 and [c.token_ids for c in a] == [c.token_ids for c in b]
        assert {c.finish_reason for c in a} == {"length"}


def test_generated_logprobs_match_the_trainer_scores(engine, reference):
    engine.sync_weights(reference.model)
    out = engine.generate(PROMPTS[:3], SamplingParams.greedy(max_tokens=12, logprobs=True))
    for prompt, group in zip(PROMPTS, out):
        ids = reference.prompt_ids(prompt)
        trainer = reference.score([ids + group[0].token_ids])[0][len(ids) - 1 :]
        assert len(group[0].logprobs) == len(group[0].token_ids)
        assert max(abs(x - y) for x, y in zip(group[0].logprobs, trainer)) < 1e-4


def test_seeded_sampling_repeats_and_samples_differ(engine):
    params = SamplingParams(temperature=1.5, max_tokens=8, n=4, seed=3)
    first = engine.generate(PROMPTS[:2], params)
    again = engine.generate(PROMPTS[:2], params)
    assert [[c.token_ids for c in g] for g in first] == [[c.token_ids for c in g] for g in again]
    assert all(len(g) == 4 for g in first)
    assert len({tuple(c.token_ids) for g in first for c in g}) > 2


def test_seeded_sampling_of_many_long_prompts_runs(engine):
    # ~5k prompt tokens (n=2): more than one engine step takes, which split seeded prefills before the fix.
    prompts = [[20 + (i + j) % 200 for j in range(400)] for i in range(6)]
    params = SamplingParams(temperature=1.0, max_tokens=4, n=2, seed=0)
    first = engine.generate(prompts, params)
    assert [[c.token_ids for c in g] for g in first] == [[c.token_ids for c in g] for g in engine.generate(prompts, params)]


def test_training_step_then_sync_makes_engine_logprobs_match_trainer(engine, reference, trainer):
    sequences = _probe_sequences(reference)
    engine.sync_weights(trainer)
    assert verify_sync(trainer, engine, sequences, tol=1e-4) < 1e-4
    conv_before = trainer.model.layers[0].conv.conv.weight.detach().clone()
    head_before = trainer.lm_head.weight.detach().clone()
    optimizer = torch.optim.AdamW(trainer.parameters(), lr=1e-2)
    trainer.train()
    batch = torch.tensor(sequences[:1])
    trainer(input_ids=batch, labels=batch).loss.backward()
    optimizer.step()
    # The step changed exactly the weights a faulty sync is known to miss.
    assert (trainer.model.layers[0].conv.conv.weight - conv_before).abs().max() > 1e-4
    assert (trainer.lm_head.weight - head_before).abs().max() > 1e-4
    with pytest.raises(SyncError, match="weight sync check failed"):
        verify_sync(trainer, engine, sequences, tol=1e-4)  # not synced yet
    engine.sync_weights(trainer)
    assert verify_sync(trainer, engine, sequences, tol=1e-4) < 1e-4


def _perturbed(model, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.05 * torch.randn(param.shape, generator=generator))
    return model


def test_sync_that_skips_short_conv_weights_is_caught(engine, reference, trainer):
    from rlkit.rollout.vllm_cpu_fixes import push_weights

    sequences = _probe_sequences(reference)
    _perturbed(trainer)
    named = [(n, p) for n, p in trainer.named_parameters() if ".conv.conv." not in n]
    assert len(named) < len(list(trainer.parameters()))
    push_weights(engine.llm, named)
    with pytest.raises(SyncError, match="weight sync check failed"):
        verify_sync(trainer, engine, sequences, tol=1e-4)
    engine.sync_weights(trainer)
    assert verify_sync(trainer, engine, sequences, tol=1e-4) < 1e-4


def test_defect_reload_without_repack_keeps_a_stale_tied_lm_head(engine, reference, trainer):
    sequences = _probe_sequences(reference)
    _perturbed(trainer, seed=1)
    weights = [(n, p.detach()) for n, p in trainer.named_parameters()]
    engine.llm.collective_rpc("reload_weights", kwargs={"weights_iterator": weights, "is_checkpoint_format": True})
    engine.llm.reset_prefix_cache()
    with pytest.raises(SyncError):  # if this stops raising, vLLM re-packs itself: drop the re-pack step
        verify_sync(trainer, engine, sequences, tol=1e-4)
    engine.sync_weights(trainer)  # reload + re-pack: the workaround
    assert verify_sync(trainer, engine, sequences, tol=1e-4) < 1e-4


def test_defect_trl_colocate_load_weights_fails_on_cpu(engine, reference, trainer):
    weights = [(n, p.detach()) for n, p in trainer.named_parameters()]
    with pytest.raises(AttributeError, match="weight_loader"):  # stops raising: TRL's own sync works again
        engine.llm.collective_rpc(lambda worker: worker.model_runner.get_model().load_weights(weights))
    engine.sync_weights(trainer)  # a failed partial load must not leave the engine broken
    assert verify_sync(trainer, engine, _probe_sequences(reference), tol=1e-4) < 1e-4


@pytest.mark.slow
def test_compiled_engine_matches_hf_and_syncs(trained_dir, reference, trainer):
    """Compiled mode (the default on GPUs) takes the other rotary path; ~30-60 s to start on CPU."""
    from rlkit.rollout.vllm_engine import VLLMRollout

    compiled = VLLMRollout(trained_dir, reference.tokenizer, enforce_eager=False, max_model_len=512)
    try:
        ours = compiled.generate(PROMPTS, SamplingParams.greedy(max_tokens=24))
        theirs = reference.generate(PROMPTS, SamplingParams.greedy(max_tokens=24))
        assert [g[0].token_ids for g in ours] == [g[0].token_ids for g in theirs]
        compiled.sync_weights(_perturbed(trainer, seed=2))
        assert verify_sync(trainer, compiled, _probe_sequences(reference), tol=1e-4) < 1e-4
    finally:
        del compiled
