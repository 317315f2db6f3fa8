#!/usr/bin/env bash
# One-time setup on a fresh machine: a virtual environment with the pinned CPU torch, the package and its native
# core (built in place), and the test tools. Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip setuptools wheel ninja pybind11
# torch==2.13.0 is the CPU build that installs from local disk; an unpinned torch would pull a multi-GB CUDA build.
.venv/bin/python -m pip install -q torch==2.13.0
.venv/bin/python -m pip install -q --no-build-isolation -e ".[dev]"
