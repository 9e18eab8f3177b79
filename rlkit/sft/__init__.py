"""Narrow SFT: `data` tokenizes conversations with an assistant-only loss mask; `trainer` is the CPU-fast SFTTrainer."""
