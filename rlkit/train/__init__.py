"""What every training stage shares: LoRA, process state, atomic checkpoints, experiment tracking."""
