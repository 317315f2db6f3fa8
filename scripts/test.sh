#!/usr/bin/env bash
# The test command of the README (and of CI): set up, compile-check the CUDA sources, run pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/check_cuda_compiles.sh
.venv/bin/python -m pytest -q "$@"
