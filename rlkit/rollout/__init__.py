"""Rollout backends behind one interface (see `base.py`)."""

from rlkit.rollout.base import ChatPrompt, Completion, Prompt, RolloutEngine, RolloutStats, SamplingParams
from rlkit.rollout.hf import HFRollout

__all__ = ["ChatPrompt", "Completion", "Prompt", "RolloutEngine", "RolloutStats", "SamplingParams", "HFRollout"]
