"""Process-level helpers for multi-process runs (DDP, DeepSpeed, FSDP; GPUs or gloo on CPU).

`process_state()` is how recipes should get accelerate's `PartialState`: on a machine without CUDA,
a plain `PartialState()` in a process started by `accelerate launch --multi_gpu`/torchrun reports
ONE process (distributed type NO), so every process believes it is the main one, until a
Trainer's `TrainingArguments(use_cpu=True)` re-initializes the state to the real world size.
Work gated on `is_main_process` before that point (building pairs, judging) would then run in
every process. Asking for the CPU state when there is no GPU gives the right world from the start.
"""

from __future__ import annotations

import torch
from accelerate import PartialState


def process_state() -> PartialState:
    """accelerate's PartialState with the right world size on GPUs and on CPU (gloo)."""
    return PartialState(cpu=not torch.cuda.is_available())


def close_processes() -> None:
    """Tear down the process group before exit (gloo aborts at interpreter exit otherwise)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
