// Packed volume rendering, CUDA kernels: one thread per ray (each ray owns its samples, so no atomics are needed).
// No torch headers: compiles with plain nvcc.
#include <cuda_runtime.h>

#include "fields_core/volume_rendering.h"

namespace fields {
namespace {

constexpr int kThreads = 256;

__global__ void volume_render_forward_kernel(PackedRays in, DropRules rules, RenderedRays out) {
    const int64_t ray = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (ray >= in.n_rays) return;
    render_ray_forward<1>(in, rules, ray, out);  // sample by sample: per-thread arrays would spill to local memory
}

__global__ void volume_render_backward_kernel(PackedRays in, RenderGradients grads) {
    const int64_t ray = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (ray >= in.n_rays) return;
    render_ray_backward(in, ray, grads);
}

}  // namespace

void volume_render_forward_cuda(const PackedRays& in, const DropRules& rules, const RenderedRays& out, void* stream) {
    const int64_t blocks = div_round_up(in.n_rays, kThreads);
    volume_render_forward_kernel<<<blocks, kThreads, 0, static_cast<cudaStream_t>(stream)>>>(in, rules, out);
}

void volume_render_backward_cuda(const PackedRays& in, const RenderGradients& grads, void* stream) {
    const int64_t blocks = div_round_up(in.n_rays, kThreads);
    volume_render_backward_kernel<<<blocks, kThreads, 0, static_cast<cudaStream_t>(stream)>>>(in, grads);
}

}  // namespace fields
