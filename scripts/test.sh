#!/usr/bin/env bash
# The test command of the README (and of CI): set up, compile-check the CUDA sources, run pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The viewer's browser test needs headless Chromium (Debian's package). Install it when apt can; elsewhere the
# test is skipped and says why.
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    { apt-get install -y -q chromium || { apt-get update -q && apt-get install -y -q chromium; }; } >/dev/null 2>&1 \
        || echo "note: could not install chromium; the viewer's browser test will be skipped"
fi
bash scripts/check_cuda_compiles.sh
.venv/bin/python -m pytest -q "$@"
