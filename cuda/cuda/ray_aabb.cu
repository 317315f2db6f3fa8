// Ray–AABB intersection, CUDA kernel. No torch headers: compiles with plain nvcc.
#include <cuda_runtime.h>

#include "fields_core/ray_aabb.h"

namespace fields {
namespace {

constexpr int kThreads = 256;

__global__ void ray_aabb_kernel(const float* __restrict__ rays_o, const float* __restrict__ rays_d,
                                const float* __restrict__ aabb, int64_t n, float* __restrict__ t_near,
                                float* __restrict__ t_far, bool* __restrict__ hit) {
    const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (i >= n) return;
    const float lo[3] = {aabb[0], aabb[1], aabb[2]};
    const float hi[3] = {aabb[3], aabb[4], aabb[5]};
    hit[i] = ray_aabb_intersect_one(rays_o + 3 * i, rays_d + 3 * i, lo, hi, t_near[i], t_far[i]);
}

}  // namespace

void ray_aabb_intersect_cuda(const float* rays_o, const float* rays_d, const float* aabb, int64_t n, float* t_near,
                             float* t_far, bool* hit, void* stream) {
    const int64_t blocks = div_round_up(n, kThreads);
    ray_aabb_kernel<<<blocks, kThreads, 0, static_cast<cudaStream_t>(stream)>>>(rays_o, rays_d, aabb, n, t_near,
                                                                                 t_far, hit);
}

}  // namespace fields
