#!/usr/bin/env bash
# Compiles every CUDA source with plain nvcc for sm_80 and sm_90, so CUDA code that does not compile cannot land
# even on machines without a GPU. The .cu files include no torch headers, which is what makes this possible.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v nvcc >/dev/null; then
    echo "nvcc not found: cannot compile-check the CUDA sources (install the CUDA toolkit)" >&2
    exit 1
fi
out=$(mktemp -d)
for source in cuda/cuda/*.cu; do
    nvcc -std=c++17 -O3 --expt-relaxed-constexpr -Icuda/include \
        -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 \
        -c "$source" -o "$out/$(basename "$source").o"
    echo "nvcc ok: $source"
done
rm -rf "$out"
