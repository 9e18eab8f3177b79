#!/usr/bin/env bash
# Create .venv and install rlkit. `--dev` adds the test/notebook tools.
# The CPU wheel of torch goes in first, so that no CUDA build is pulled in on a CPU-only machine.
set -euo pipefail
cd "$(dirname "$0")/.."
extras=""
[ "${1:-}" = "--dev" ] && extras="[dev]"
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# (On other CPU-only machines, point pip at PyTorch's CPU wheel index for this step.)
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".${extras}"
