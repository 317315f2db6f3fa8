// Ray marching through a cascaded occupancy grid, CUDA kernels (one thread per ray, count pass then fill pass).
// No torch headers: compiles with plain nvcc.
#include <cuda_runtime.h>

#include "fields_core/ray_marching.h"

namespace fields {
namespace {

constexpr int kThreads = 128;

// The level tables are the same for every ray: one thread builds them in shared memory for its block.
__device__ void load_geometry(const MarchInputs& in, GridGeometry& g) {
    if (threadIdx.x == 0) g = make_grid_geometry(in.aabb, in.levels, in.resolution);
    __syncthreads();
}

__global__ void count_kernel(MarchInputs in, MarchParams p, int64_t* __restrict__ counts) {
    __shared__ GridGeometry g;
    load_geometry(in, g);
    const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (i >= in.n_rays) return;
    counts[i] = march_ray(in, g, p, i, [](int, float, float) {});
}

__global__ void fill_kernel(MarchInputs in, MarchParams p, const int64_t* __restrict__ first_sample,
                            int64_t* __restrict__ ray_indices, float* __restrict__ t_starts,
                            float* __restrict__ t_ends) {
    __shared__ GridGeometry g;
    load_geometry(in, g);
    const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (i >= in.n_rays) return;
    const int64_t base = first_sample[i];
    march_ray(in, g, p, i, [&](int k, float t_start, float t_end) {
        ray_indices[base + k] = i;
        t_starts[base + k] = t_start;
        t_ends[base + k] = t_end;
    });
}

}  // namespace

void ray_marching_count_cuda(const MarchInputs& in, const MarchParams& p, int64_t* counts, void* stream) {
    const int64_t blocks = div_round_up(in.n_rays, kThreads);
    count_kernel<<<blocks, kThreads, 0, static_cast<cudaStream_t>(stream)>>>(in, p, counts);
}

void ray_marching_fill_cuda(const MarchInputs& in, const MarchParams& p, const int64_t* first_sample,
                            int64_t* ray_indices, float* t_starts, float* t_ends, void* stream) {
    const int64_t blocks = div_round_up(in.n_rays, kThreads);
    fill_kernel<<<blocks, kThreads, 0, static_cast<cudaStream_t>(stream)>>>(in, p, first_sample, ray_indices,
                                                                             t_starts, t_ends);
}

}  // namespace fields
