"""Shared fixtures: the tiny model is built once per session; GPU tests skip without CUDA."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

# Tests never reach the network: wandb stays offline, HF libraries use local files only.
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("RLKIT_CACHE_DIR", str(REPO / ".cache" / "rlkit"))


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    """The embedded default model's folder (built on first use, then cached)."""
    from rlkit.model import ensure_tiny_lfm2

    return ensure_tiny_lfm2()


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir):
    """(model, tokenizer) of the tiny LFM2, fp32, eval mode. Tests must not modify it in place."""
    from rlkit.model import load_model_and_tokenizer

    model, tokenizer = load_model_and_tokenizer(str(tiny_model_dir))
    model.eval()
    return model, tokenizer


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """`../shared/data`, or skip when this checkout has no shared data beside it."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def one_thread():
    """One torch thread: the machine is shared, and oversubscribed threads make tiny models crawl."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
