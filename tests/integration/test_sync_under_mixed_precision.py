"""The weight-sync check scores the trainer's model in fp32 even after accelerate's bf16 `prepare`.

accelerate replaces `model.forward` with an autocast one; scoring through it compared bf16
logprobs with the engine's fp32 ones and failed the check by ~0.2 nats with the weights in sync.
"""

from __future__ import annotations

import copy

import pytest
import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState

from rlkit.rollout.sync import score_with_model

pytestmark = pytest.mark.integration


@pytest.fixture
def fresh_accelerator_state():
    AcceleratorState._reset_state(reset_partial_state=True)
    yield
    AcceleratorState._reset_state(reset_partial_state=True)


def test_scores_ignore_the_bf16_autocast_forward(tiny_model, fresh_accelerator_state):
    model, tokenizer = tiny_model
    ids = tokenizer("turn on the hall lights and tell me the temperature", add_special_tokens=False).input_ids
    fp32_scores = score_with_model(model, [ids])[0]

    prepared = Accelerator(mixed_precision="bf16", cpu=True).prepare(copy.deepcopy(model))
    with torch.no_grad():  # the patched forward really computes in bf16: the test would catch the old path
        autocast_logits = prepared(input_ids=torch.tensor([ids])).logits[0, :-1].float()
    autocast_scores = autocast_logits.log_softmax(-1).gather(-1, torch.tensor(ids[1:]).unsqueeze(-1)).squeeze(-1)
    assert max(abs(a - b) for a, b in zip(autocast_scores.tolist(), fp32_scores)) > 1e-3

    assert score_with_model(prepared, [ids])[0] == pytest.approx(fp32_scores, abs=1e-6)
