// Per-element helpers shared by the CPU (.cpp) and CUDA (.cu) kernels. No torch headers here: .cu files include
// this and must compile with plain nvcc.
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define FIELDS_HD __host__ __device__ __forceinline__
#else
#define FIELDS_HD inline
#endif

namespace fields {

template <typename T>
FIELDS_HD T clamp_value(T v, T lo, T hi) {
    return v < lo ? lo : (v > hi ? hi : v);
}

// Ceil-divide for launch sizes.
FIELDS_HD int64_t div_round_up(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace fields
