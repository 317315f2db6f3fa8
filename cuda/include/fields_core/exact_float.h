// Correctly rounded float arithmetic that yields the same bits on the CPU, on CUDA and in the pure-torch references.
// setup.py builds CUDA with --use_fast_math, which would fuse a*b+c into one FMA and approximate divisions; the
// __f*_rn intrinsics are exempt from both. Ops whose outputs are compared bit for bit with their reference (ray–box
// distances, ray-marching sample positions) do their arithmetic through these helpers. On the host, the CPU build
// targets baseline x86-64 (no FMA instructions), so plain operators are already exact there.
#pragma once

#include "fields_core/common.h"

namespace fields {

FIELDS_HD float add_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
    return __fadd_rn(a, b);
#else
    return a + b;
#endif
}

FIELDS_HD float sub_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
    return __fsub_rn(a, b);
#else
    return a - b;
#endif
}

FIELDS_HD float mul_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
    return __fmul_rn(a, b);
#else
    return a * b;
#endif
}

FIELDS_HD float div_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
    return __fdiv_rn(a, b);
#else
    return a / b;
#endif
}

}  // namespace fields
