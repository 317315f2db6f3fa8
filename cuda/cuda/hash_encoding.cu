// Multiresolution hash encoding, CUDA kernels. No torch headers: compiles with plain nvcc.
//
// One thread per (point, level); the level is blockIdx.y, so the level description (a kernel parameter) is read
// uniformly per block, and blocks run roughly level after level: the resident blocks share one level's table in L2.
#include <cuda_runtime.h>

#include "fields_core/hash_encoding.h"

namespace fields {
namespace {

constexpr int kThreads = 256;

template <int D, int F>
__global__ void hash_forward_kernel(const float* __restrict__ x, int64_t n, const float* __restrict__ embeddings,
                                    const HashLevels levels, float* __restrict__ out) {
    const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (i >= n) return;
    const int l = blockIdx.y;
    const HashLevel& level = levels.level[l];
    float point[D];
#pragma unroll
    for (int d = 0; d < D; ++d) point[d] = x[i * D + d];
    const HashCell<D> cell = locate_cell<D>(point, level);
    const float* table = embeddings + level.offset * F;
    float acc[F] = {};
#pragma unroll
    for (int k = 0; k < (1 << D); ++k) {
        const float w = corner_weight<D>(cell, k);
        const float* row = table + static_cast<int64_t>(corner_row<D>(cell, level, k)) * F;
#pragma unroll
        for (int f = 0; f < F; ++f) acc[f] += w * __ldg(row + f);
    }
    float* dst = out + (i * levels.count + l) * F;
#pragma unroll
    for (int f = 0; f < F; ++f) dst[f] = acc[f];
}

// Adds F consecutive floats. sm_90 has native float2/float4 atomics: half or a quarter of the atomic operations.
// Rows are aligned for them: each is F * 4 bytes and the gradient tensor is freshly allocated.
template <int F>
__device__ __forceinline__ void atomic_add_row(float* dst, const float* values) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    if constexpr (F == 1) {
        atomicAdd(dst, values[0]);
    } else if constexpr (F == 2) {
        atomicAdd(reinterpret_cast<float2*>(dst), make_float2(values[0], values[1]));
    } else {
#pragma unroll
        for (int f = 0; f < F; f += 4) {
            atomicAdd(reinterpret_cast<float4*>(dst + f),
                      make_float4(values[f], values[f + 1], values[f + 2], values[f + 3]));
        }
    }
#else
#pragma unroll
    for (int f = 0; f < F; ++f) atomicAdd(dst + f, values[f]);
#endif
}

template <int D, int F>
__global__ void hash_backward_kernel(const float* __restrict__ x, const float* __restrict__ embeddings,
                                     const float* __restrict__ grad_out, int64_t n, const HashLevels levels,
                                     float* __restrict__ grad_embeddings, float* __restrict__ grad_x) {
    const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (i >= n) return;
    const int l = blockIdx.y;
    const HashLevel& level = levels.level[l];
    float point[D];
#pragma unroll
    for (int d = 0; d < D; ++d) point[d] = x[i * D + d];
    const HashCell<D> cell = locate_cell<D>(point, level);
    float g[F];
#pragma unroll
    for (int f = 0; f < F; ++f) g[f] = grad_out[(i * levels.count + l) * F + f];
    const float* table = embeddings + level.offset * F;
    float* grad_table = grad_embeddings + level.offset * F;
    float g_dot_corner[1 << D];  // d loss / d (this level's interpolated value) at each corner
#pragma unroll
    for (int k = 0; k < (1 << D); ++k) {
        const int64_t row = static_cast<int64_t>(corner_row<D>(cell, level, k)) * F;
        const float w = corner_weight<D>(cell, k);
        float weighted[F];
#pragma unroll
        for (int f = 0; f < F; ++f) weighted[f] = w * g[f];
        atomic_add_row<F>(grad_table + row, weighted);
        if (grad_x != nullptr) {
            g_dot_corner[k] = 0.f;
#pragma unroll
            for (int f = 0; f < F; ++f) g_dot_corner[k] += g[f] * __ldg(table + row + f);
        }
    }
    if (grad_x != nullptr) {
        float dx[D];
        interpolation_gradient<D>(cell, g_dot_corner, dx);
        // The levels of one point run in different blocks: their contributions meet here.
#pragma unroll
        for (int a = 0; a < D; ++a) atomicAdd(grad_x + i * D + a, dx[a]);
    }
}

}  // namespace

void hash_encode_forward_cuda(const float* x, int64_t n, int dims, const float* embeddings, int features,
                              const HashLevels& levels, float* out, void* stream) {
    const dim3 blocks(static_cast<unsigned>(div_round_up(n, kThreads)), static_cast<unsigned>(levels.count));
    dispatch_dims_features(dims, features, [&](auto dim, auto feature) {
        hash_forward_kernel<decltype(dim)::value, decltype(feature)::value>
            <<<blocks, kThreads, 0, static_cast<cudaStream_t>(stream)>>>(x, n, embeddings, levels, out);
    });
}

void hash_encode_backward_cuda(const float* x, const float* embeddings, const float* grad_out, int64_t n, int dims,
                               int features, const HashLevels& levels, float* grad_embeddings, float* grad_x,
                               void* stream) {
    const dim3 blocks(static_cast<unsigned>(div_round_up(n, kThreads)), static_cast<unsigned>(levels.count));
    dispatch_dims_features(dims, features, [&](auto dim, auto feature) {
        hash_backward_kernel<decltype(dim)::value, decltype(feature)::value>
            <<<blocks, kThreads, 0, static_cast<cudaStream_t>(stream)>>>(x, embeddings, grad_out, n, levels,
                                                                         grad_embeddings, grad_x);
    });
}

}  // namespace fields
