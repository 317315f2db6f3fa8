// Spherical-harmonics encoding, CUDA kernels. No torch headers: compiles with plain nvcc.
#include <cuda_runtime.h>

#include "fields_core/sh_encoding.h"

namespace fields {
namespace {

constexpr int kThreads = 256;

__global__ void sh_forward_kernel(const float* __restrict__ dirs, int64_t n, int degree, float* __restrict__ out) {
    const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (i >= n) return;
    float basis[kMaxShDegree * kMaxShDegree];
    sh_basis<float>(dirs[3 * i], dirs[3 * i + 1], dirs[3 * i + 2], degree, basis);
    const int width = degree * degree;
    for (int k = 0; k < width; ++k) out[i * width + k] = basis[k];
}

__global__ void sh_backward_kernel(const float* __restrict__ dirs, const float* __restrict__ grad_out, int64_t n,
                                   int degree, float* __restrict__ grad_dirs) {
    const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (i >= n) return;
    Dual3 basis[kMaxShDegree * kMaxShDegree];
    sh_basis<Dual3>(Dual3::variable(dirs[3 * i], 0), Dual3::variable(dirs[3 * i + 1], 1),
                    Dual3::variable(dirs[3 * i + 2], 2), degree, basis);
    const int width = degree * degree;
    float g[3] = {0.f, 0.f, 0.f};
    for (int k = 0; k < width; ++k) {
        const float go = grad_out[i * width + k];
        for (int a = 0; a < 3; ++a) g[a] += go * basis[k].d[a];
    }
    for (int a = 0; a < 3; ++a) grad_dirs[3 * i + a] = g[a];
}

}  // namespace

void sh_encode_forward_cuda(const float* dirs, int64_t n, int degree, float* out, void* stream) {
    const int64_t blocks = div_round_up(n, kThreads);
    sh_forward_kernel<<<blocks, kThreads, 0, static_cast<cudaStream_t>(stream)>>>(dirs, n, degree, out);
}

void sh_encode_backward_cuda(const float* dirs, const float* grad_out, int64_t n, int degree, float* grad_dirs,
                             void* stream) {
    const int64_t blocks = div_round_up(n, kThreads);
    sh_backward_kernel<<<blocks, kThreads, 0, static_cast<cudaStream_t>(stream)>>>(dirs, grad_out, n, degree,
                                                                                    grad_dirs);
}

}  // namespace fields
