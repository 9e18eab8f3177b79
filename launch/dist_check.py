"""accelerate launch --config_file launch/accelerate/<x>.yaml launch/dist_check.py [--out FILE]

Checks that a launch config really starts the processes it promises: every process joins the
process group, an all-gather sees every rank exactly once, and a summed all-reduce adds up.
The main process prints (and optionally writes) one JSON line with what it saw.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
from pathlib import Path

import torch
from accelerate import PartialState

from rlkit.train.distributed import close_processes


def main() -> dict:
    """Gather rank, host and device of every process and return the main process's summary."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    torch.set_num_threads(1)
    # Without CUDA the processes must ask for CPU to get MULTI_CPU over gloo (what the Trainer does
    # with use_cpu=True); otherwise each would think it runs alone.
    state = PartialState(cpu=not torch.cuda.is_available())
    rank_tensor = torch.tensor([state.process_index], device=state.device)
    gathered = [int(r) for r in _gather(rank_tensor, state.num_processes)]
    summary = {
        "num_processes": state.num_processes,
        "distributed_type": str(state.distributed_type),
        "backend": state.backend,
        "ranks_seen": sorted(gathered),
        "rank_sum": int(_sum(rank_tensor.clone())),
        "host": socket.gethostname(),
        "device": str(state.device),
        "master_addr": os.environ.get("MASTER_ADDR", ""),
        "cuda_devices": torch.cuda.device_count(),
    }
    if state.is_main_process:
        print(json.dumps(summary), flush=True)
        if args.out:
            Path(args.out).write_text(json.dumps(summary))
    state.wait_for_everyone()
    return summary


def _gather(tensor: torch.Tensor, world: int) -> list[int]:
    if world == 1 or not torch.distributed.is_initialized():
        return [int(tensor.item())]
    out = [torch.zeros_like(tensor) for _ in range(world)]
    torch.distributed.all_gather(out, tensor)
    return [int(t.item()) for t in out]


def _sum(tensor: torch.Tensor) -> int:
    if torch.distributed.is_initialized():
        torch.distributed.all_reduce(tensor)
    return int(tensor.item())


if __name__ == "__main__":
    main()
    close_processes()
