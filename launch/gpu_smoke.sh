#!/usr/bin/env bash
# bash launch/gpu_smoke.sh [OUT_DIR]
#
# GPU check on the tiny model, a few minutes on one GPU: the launch configs and recipes on CUDA.
#   1. launch/dist_check.py through launch/accelerate/single_gpu.yaml (device and process count)
#   2. SFT, 20 steps, through single_gpu.yaml (bf16 mixed precision)
#   3. GRPO, 3 steps: rollouts from vLLM colocated with training (weight sync verified on the first
#      push) when vLLM is installed, else TRL's HF generate on the GPU
#   4. one anti-loop DPO round (K sampled + 1 greedy rollouts, rule jury, sigmoid_norm DPO)
# Each stage's wall time and the GPU are written to OUT_DIR/gpu_smoke.md; any failure stops it.
set -euo pipefail
out=${1:-runs/gpu_smoke}
mkdir -p "$out"
export WANDB_MODE=offline HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export PYTHONPATH="$(pwd)${PYTHONPATH:+:$PYTHONPATH}"
export RLKIT_CACHE_DIR=${RLKIT_CACHE_DIR:-$out/cache}
python=${PYTHON:-python}
report="$out/gpu_smoke.md"
gpu=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -n 1)
torch_v=$($python -c 'import torch; print(torch.__version__, "cuda", torch.version.cuda)')
if $python -c 'import vllm' 2>/dev/null; then grpo_backend=vllm_colocate; else grpo_backend=hf; fi
{
  echo "# GPU smoke: $gpu"
  echo
  echo "torch $torch_v; GRPO rollout backend: $grpo_backend"
  echo
  echo "| stage | seconds | result |"
  echo "|---|---|---|"
} > "$report"

stage() {  # stage NAME COMMAND...: run, time, record
  local name=$1; shift
  local start=$SECONDS
  if "$@" > "$out/$name.log" 2>&1; then
    echo "| $name | $((SECONDS - start)) | ok |" >> "$report"
  else
    echo "| $name | $((SECONDS - start)) | FAILED (see $name.log) |" >> "$report"
    tail -n 40 "$out/$name.log"
    cat "$report"
    exit 1
  fi
}

stage build_tiny_model $python -c 'from rlkit.model import ensure_tiny_lfm2; print(ensure_tiny_lfm2())'
stage dist_check accelerate launch --config_file launch/accelerate/single_gpu.yaml launch/dist_check.py --out "$out/dist_check.json"
stage sft_20_steps accelerate launch --config_file launch/accelerate/single_gpu.yaml recipes/sft.py \
  train.max_steps=20 train.batch_size=8 data.num_rows=200 train.logging_steps=5 train.report_to=none \
  train.num_threads=0 output_dir="$out/sft"
stage grpo_3_steps accelerate launch --config_file launch/accelerate/single_gpu.yaml recipes/grpo_toolcall.py \
  model="$out/sft/model" rollout.backend=$grpo_backend train.max_steps=3 train.prompts_per_step=4 \
  rollout.num_generations=4 data.num_rows=32 train.logging_steps=1 train.report_to=none train.num_threads=0 \
  output_dir="$out/grpo"
stage dpo_1_round accelerate launch --config_file launch/accelerate/single_gpu.yaml recipes/dpo_antiloop.py \
  model="$out/sft/model" rounds=1 data.num_rows=16 sampling.k=4 sampling.max_tokens=64 'jury.llm_judges=[]' \
  train.steps_per_round=5 train.batch_size=4 train.num_threads=0 output_dir="$out/dpo"
grep -h "weight sync verified" "$out"/grpo_3_steps.log >> "$report" || echo "(no weight-sync line: HF rollouts need none)" >> "$report"
cat "$report"
