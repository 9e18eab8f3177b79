"""Fixtures the integration tests share: the briefly trained tiny checkpoint and HF generate on it."""

from __future__ import annotations

import pytest

from tests.integration.servers import trained_tiny_checkpoint


@pytest.fixture(scope="module")
def trained_dir(tiny_model_dir):
    """The tiny model trained on TRAINING_CHATS (cached; engines are compared on it)."""
    from rlkit.model import cache_root

    return trained_tiny_checkpoint(tiny_model_dir, cache_root() / f"test-trained-{tiny_model_dir.name}")


@pytest.fixture(scope="module")
def reference(trained_dir):
    """HF generate on the trained checkpoint (never modified)."""
    from rlkit.model import load_model_and_tokenizer
    from rlkit.rollout import HFRollout

    model, tokenizer = load_model_and_tokenizer(str(trained_dir))
    return HFRollout(model.eval(), tokenizer)
