"""Process-level helpers for multi-process runs (DDP, DeepSpeed, FSDP; GPUs or gloo on CPU).

`process_state()` is how recipes should get accelerate's `PartialState`: on a machine without CUDA,
a plain `PartialState()` in a process started by `accelerate launch --multi_gpu`/torchrun reports
ONE process (distributed type NO), so every process believes it is the main one, until a
Trainer's `TrainingArguments(use_cpu=True)` re-initializes the state to the real world size.
Work gated on `is_main_process` before that point (building pairs, judging) would then run in
every process. Asking for the CPU state when there is no GPU gives the right world from the start.

`run_sharded` spreads per-item work (rollouts + jury per prompt) over the processes: each item is
handled by exactly one process, and every process gets all results back in the original order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import torch
from accelerate import PartialState

T = TypeVar("T")
R = TypeVar("R")


def process_state() -> PartialState:
    """accelerate's PartialState with the right world size on GPUs and on CPU (gloo)."""
    return PartialState(cpu=not torch.cuda.is_available())


def close_processes() -> None:
    """Tear down the process group before exit (gloo aborts at interpreter exit otherwise)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def shard_bounds(num_items: int, rank: int, world_size: int) -> tuple[int, int]:
    """[start, end) of the contiguous slice process `rank` owns; sizes differ by at most one."""
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not in a world of {world_size} processes")
    base, extra = divmod(num_items, world_size)
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


def run_sharded(items: Sequence[T], work: Callable[[list[T]], list[R]], state: PartialState | None = None) -> list[R]:
    """`work` on this process's slice of `items`; returns every process's results in item order."""
    state = state or process_state()
    start, end = shard_bounds(len(items), state.process_index, state.num_processes)
    mine = work(list(items[start:end]))
    if len(mine) != end - start:
        raise ValueError(f"work returned {len(mine)} results for {end - start} items (one per item expected)")
    if state.num_processes == 1:
        return mine
    gathered: list[Any] = [None] * state.num_processes
    torch.distributed.all_gather_object(gathered, mine)
    return [result for part in gathered for result in part]
