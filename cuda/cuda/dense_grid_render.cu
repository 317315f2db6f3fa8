// Dense-grid volume rendering, CUDA kernel: one thread per ray. No torch headers: compiles with plain nvcc.
#include <cuda_runtime.h>

#include "fields_core/dense_grid_render.h"

namespace fields {
namespace {

constexpr int kThreads = 128;

__global__ void dense_grid_render_kernel(DenseGrid grid, DenseRenderOptions options, const float* __restrict__ rays_o,
                                         const float* __restrict__ rays_d, int64_t n, float* __restrict__ rgb,
                                         float* __restrict__ opacity, float* __restrict__ depth) {
    const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (i >= n) return;
    dense_grid_render_ray(grid, options, rays_o + 3 * i, rays_d + 3 * i, rgb + 3 * i, opacity[i], depth[i]);
}

}  // namespace

void dense_grid_render_cuda(const DenseGrid& grid, const DenseRenderOptions& options, const float* rays_o,
                            const float* rays_d, int64_t n, float* rgb, float* opacity, float* depth, void* stream) {
    const int64_t blocks = div_round_up(n, kThreads);
    dense_grid_render_kernel<<<blocks, kThreads, 0, static_cast<cudaStream_t>(stream)>>>(grid, options, rays_o, rays_d,
                                                                                         n, rgb, opacity, depth);
}

}  // namespace fields
