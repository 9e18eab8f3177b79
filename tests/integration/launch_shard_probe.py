"""accelerate launch --config_file launch/accelerate/cpu_2proc.yaml tests/integration/launch_shard_probe.py OUT.json

Each of 11 items is handled by whichever process owns it (rlkit.train.distributed.run_sharded); the main
process writes every result, with the rank that produced it, to OUT.json.
"""

from __future__ import annotations

import json
import sys

import torch

from rlkit.train.distributed import close_processes, process_state, run_sharded

if __name__ == "__main__":
    torch.set_num_threads(1)
    state = process_state()
    results = run_sharded(list(range(11)), lambda xs: [{"item": x, "square": x * x, "rank": state.process_index} for x in xs], state)
    if state.is_main_process:
        with open(sys.argv[1], "w") as handle:
            json.dump({"world": state.num_processes, "results": results}, handle)
    state.wait_for_everyone()
    close_processes()
