"""rlkit: post-training small tool-calling language models (SFT -> anti-loop DPO -> GRPO)."""

__version__ = "0.1.0"
