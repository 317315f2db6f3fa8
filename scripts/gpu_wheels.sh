#!/usr/bin/env bash
# Downloads, on a machine that reaches a package index, the wheels that the GPU machines' image lacks into .whl/
# (git-ignored; carry it with the run: carry [".whl"]). The image (Python 3.12) already holds torch, numpy, scipy,
# scikit-image, imageio, pillow, tqdm, rich, requests and pytest; these nine are what this package needs beyond them.
# Install them there with the `deps` stage of scripts/gpu_checks.sh.
set -euo pipefail
PYTHON=${PYTHON:-.venv/bin/python}
"$PYTHON" -m pip download --no-deps --only-binary=:all: --python-version 3.12 --platform any \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 -d .whl \
    tyro docstring_parser typeguard trimesh libigl viser msgspec "websockets<17" zstandard  # viser: websockets<17
ls .whl
