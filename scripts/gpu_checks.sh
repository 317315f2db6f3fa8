#!/usr/bin/env bash
# The checks and figures that need a GPU, in stages that each fit a 10-minute call on a lent machine:
#
#   bash scripts/gpu_wheels.sh   # here, once: the wheels the device image lacks, into .whl/ (carried)
#   DATA_ROOT=path/to/data OUT=results bash scripts/gpu_checks.sh deps build tests ops profile sdf
#   DATA_ROOT=path/to/data OUT=results bash scripts/gpu_checks.sh build lego viewer
#   PHOTOS="astronaut coffee" OUT=results bash scripts/gpu_checks.sh build fresh-siren  # then 3 more pairs
#
# DATA_ROOT holds nerf_synthetic/lego and sdf/bunny.obj (default ../shared/data); logs go to $OUT (default
# outputs/gpu_checks). Uses the python3 on PATH (a CUDA torch); `build` compiles the extension for this GPU only.
set -uo pipefail
export PYTHONUNBUFFERED=1
DATA_ROOT=${DATA_ROOT:-../shared/data}
OUT=${OUT:-outputs/gpu_checks}
mkdir -p "$OUT"
start=$(date +%s)
stage() { echo "[$(($(date +%s) - start)) s] $1"; }

for step in "$@"; do
    stage "$step"
    case $step in
    deps)  # the packages the device image lacks, from the carried .whl/ (scripts/gpu_wheels.sh)
        python3 -m pip install -q --no-index --find-links .whl tyro trimesh libigl viser >"$OUT/deps.log" 2>&1 ||
            { tail -20 "$OUT/deps.log"; exit 1; }
        ;;
    build)
        arch=$(python3 -c "import torch; print('%d.%d' % torch.cuda.get_device_capability())")
        TORCH_CUDA_ARCH_LIST=$arch MAX_JOBS=$(nproc) python3 setup.py build_ext --inplace >"$OUT/build.log" 2>&1 ||
            { tail -30 "$OUT/build.log"; exit 1; }
        python3 -c "import fields; assert fields.built_with_cuda(), 'the extension was built without CUDA'" || exit 1
        ;;
    tests)  # every op's CUDA variant (the CPU ones run in CI)
        python3 -m pytest -q -p no:cacheprovider -rfE --tb=short -k cuda tests/ops >"$OUT/tests_cuda.log" 2>&1
        tail -3 "$OUT/tests_cuda.log"
        ;;
    ops)
        python3 -m bench.ops --device cuda --only hash_encoding volume_rendering ray_marching sh_encoding \
            dense_grid_render rbf_layer grid_sample fused_mlp >"$OUT/bench_ops.txt" 2>&1
        grep -v '^ *[]{}"[]' "$OUT/bench_ops.txt" | tail -30
        ;;
    profile)
        python3 -m bench.nerf_profile --device cuda --data-root "$DATA_ROOT" >"$OUT/nerf_profile.txt" 2>&1
        grep -v '^ *[]{}"[]' "$OUT/nerf_profile.txt" | tail -20
        ;;
    sdf)  # issue 6: bunny IoU >= 0.98 within 15 s on a GPU
        python3 -m bench.rbf sdf --device cuda --budget 15 --points 3 --mesh "$DATA_ROOT/sdf/bunny.obj" \
            >"$OUT/rbf_sdf.txt" 2>&1
        grep -v '^ *[]{}"[]' "$OUT/rbf_sdf.txt" | tail -9
        ;;
    lego)  # issue 3: >= 34 dB within 2 minutes; the default batch against twice the samples per step
        for samples in 262144 524288; do
            rm -rf "$OUT/lego_$samples"  # a rerun trains afresh (the trainer refuses to write over a run)
            python3 -m bench.nerf_lego --device cuda --budget 120 --points 4 --data-root "$DATA_ROOT" \
                --target-samples $samples --output "$OUT/lego_$samples" >"$OUT/lego_$samples.txt" 2>&1
            grep -v '^ *[]{}"[]' "$OUT/lego_$samples.txt" | tail -8
        done
        ;;
    viewer)  # viewer frame rates on the lego field trained by `lego`, and what skipping hidden samples saves there
        python3 -m bench.viewer --device cuda --sizes 256 512 800 \
            --checkpoint "$OUT/lego_262144/checkpoints/latest.safetensors" >"$OUT/viewer.txt" 2>&1
        grep -v '^ *[]{}"[]' "$OUT/viewer.txt" | tail -25
        python3 -m bench.hidden_samples --device cuda --checkpoint "$OUT/lego_262144" --data-root "$DATA_ROOT" \
            >>"$OUT/viewer.txt" 2>&1
        grep -v '^ *[]{}"[]' "$OUT/viewer.txt" | tail -6
        ;;
    rbf-lego)  # issue 6: >= 33 dB within 15 minutes (here 8, to fit one call) and >= 60 frames/s at 400x400
        python3 -m bench.rbf lego --device cuda --budget 480 --points 3 --fields rbf --data-root "$DATA_ROOT" \
            >"$OUT/rbf_lego.txt" 2>&1
        grep -v '^ *[]{}"[]' "$OUT/rbf_lego.txt" | tail -8
        ;;
    fresh-siren)  # issue 9: FreSh's SIREN regime (512^2, 4 sine layers x 256), out of reach of a 2-core CPU
        photos=${PHOTOS:-astronaut coffee}  # 5 runs of 2000 steps per photograph; time one pair before more
        python3 -m bench.fresh images --device cuda --size 512 --hidden-dim 256 --n-layers 4 --steps "${STEPS:-2000}" \
            --families siren --photos $photos --json "$OUT/fresh_siren_512_${photos// /_}.json" \
            >"$OUT/fresh_siren_512.txt" 2>&1
        grep -v '^ *[]{}"[]' "$OUT/fresh_siren_512.txt" | tail -8
        ;;
    *)
        echo "unknown stage $step (deps build tests ops profile sdf lego viewer rbf-lego fresh-siren)"
        exit 2
        ;;
    esac
done
stage done
