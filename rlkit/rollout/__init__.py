"""Rollout backends behind one interface (see `base.py`); `make_rollout_engine` picks one by name.

Backends: `hf` (HFRollout), `vllm` (VLLMRollout, in-process), `vllm_server` (VLLMServerRollout),
`openai` (OpenAIRollout). The vLLM modules import vLLM lazily, so this package imports without it.
"""

from rlkit.rollout.base import ChatPrompt, Completion, Prompt, RolloutEngine, RolloutStats, SamplingParams
from rlkit.rollout.factory import make_rollout_engine
from rlkit.rollout.hf import HFRollout
from rlkit.rollout.sync import SyncError, verify_sync

__all__ = [
    "ChatPrompt",
    "Completion",
    "Prompt",
    "RolloutEngine",
    "RolloutStats",
    "SamplingParams",
    "HFRollout",
    "make_rollout_engine",
    "verify_sync",
    "SyncError",
]
