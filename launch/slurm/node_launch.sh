#!/usr/bin/env bash
# bash launch/slurm/node_launch.sh <accelerate config> <script.py> [script args...]
#
# The per-node entry point: `srun` starts it once on every training node of a Slurm job, and it
# turns Slurm's variables into `accelerate launch` arguments. Without Slurm variables it is a plain
# single-machine launch, which is how the tests run it locally with two CPU processes.
#
#   machine rank      <- SLURM_NODEID (the node's index inside this srun step)
#   machines          <- SLURM_NNODES (nodes in this step; vLLM server nodes are not counted)
#   main process addr <- RLKIT_MAIN_PROCESS_IP, else the first host of SLURM_STEP_NODELIST /
#                        SLURM_JOB_NODELIST (via scontrol), else 127.0.0.1
#   processes         <- machines x GPUs per node (SLURM_GPUS_ON_NODE, else nvidia-smi), or the
#                        config file's num_processes when neither is known
# RLKIT_DRY_RUN=1 prints the command (one argument per line) instead of running it.
set -euo pipefail

if [[ $# -lt 2 ]]; then
  echo "usage: node_launch.sh <accelerate config yaml> <script.py> [args...]" >&2
  exit 2
fi
config_file=$1
script=$2
shift 2

num_machines=${SLURM_NNODES:-1}
machine_rank=${SLURM_NODEID:-0}
main_port=${RLKIT_MAIN_PROCESS_PORT:-29500}

main_ip=${RLKIT_MAIN_PROCESS_IP:-}
if [[ -z "$main_ip" ]]; then
  nodelist=${SLURM_STEP_NODELIST:-${SLURM_JOB_NODELIST:-}}
  if [[ -n "$nodelist" ]]; then
    main_ip=$(scontrol show hostnames "$nodelist" | head -n 1)
  else
    main_ip=127.0.0.1
  fi
fi

gpus_per_node=${SLURM_GPUS_ON_NODE:-}
if [[ -z "$gpus_per_node" ]] && command -v nvidia-smi >/dev/null 2>&1; then
  gpus_per_node=$(nvidia-smi --list-gpus | wc -l)
fi

cmd=(accelerate launch --config_file "$config_file")
if [[ "$num_machines" -gt 1 ]]; then
  cmd+=(--num_machines "$num_machines" --machine_rank "$machine_rank"
        --main_process_ip "$main_ip" --main_process_port "$main_port"
        --rdzv_backend static --same_network)
fi
if [[ -n "$gpus_per_node" && "$gpus_per_node" -gt 0 ]]; then
  cmd+=(--num_processes $((num_machines * gpus_per_node)))
fi
cmd+=("$script" "$@")

if [[ "${RLKIT_DRY_RUN:-0}" == "1" ]]; then
  echo "# node_launch rank=$machine_rank host=$(hostname)"
  printf '%s\n' "${cmd[@]}"
  exit 0
fi
exec "${cmd[@]}"
