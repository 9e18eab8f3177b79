"""verify_sync on the HF backend: trivial when it shares the trainer's model, and a real check when not."""

import pytest
import torch

from rlkit.model import load_model_and_tokenizer
from rlkit.rollout import HFRollout, SyncError, verify_sync

pytestmark = pytest.mark.integration

SEQUENCES = [[1, 6, 20, 31, 42, 53, 7, 6, 64, 75], list(range(100, 130))]


def test_engine_sharing_the_trainer_model_is_always_in_sync(tiny_model_dir):
    model, tokenizer = load_model_and_tokenizer(str(tiny_model_dir))
    engine = HFRollout(model, tokenizer)
    assert verify_sync(model, engine, SEQUENCES, tol=0.0) == 0.0
    assert engine.sync_weights(model) >= 0.0  # same object: nothing to copy


def test_separate_engine_model_is_caught_until_synced_and_a_partial_sync_is_caught(tiny_model_dir):
    trainer, tokenizer = load_model_and_tokenizer(str(tiny_model_dir))
    rollout_model, _ = load_model_and_tokenizer(str(tiny_model_dir))
    engine = HFRollout(rollout_model.eval(), tokenizer)
    trainer.train()
    optimizer = torch.optim.SGD(trainer.parameters(), lr=0.5)
    batch = torch.tensor(SEQUENCES[:1])
    trainer(input_ids=batch, labels=batch).loss.backward()
    optimizer.step()
    with pytest.raises(SyncError, match=r"sequence \d+, token \d+"):
        verify_sync(trainer, engine, SEQUENCES)
    # A sync that skips LFM2's short-conv kernels, as a known bug elsewhere did.
    partial = {k: v for k, v in trainer.state_dict().items() if ".conv.conv." not in k}
    rollout_model.load_state_dict(partial, strict=False)
    with pytest.raises(SyncError):
        verify_sync(trainer, engine, SEQUENCES)
    engine.sync_weights(trainer)
    assert verify_sync(trainer, engine, SEQUENCES, tol=1e-6) <= 1e-6
    assert trainer.training  # verify_sync restores the trainer's mode
