"""GRPO with verifiable rewards: `trainer` (tool-call text for rewards, dynamic sampling); `rollout` (engine rollouts)."""
