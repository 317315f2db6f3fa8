// Bilinear / trilinear grid sampling and fused tri-plane sampling, CUDA kernels. No torch headers: compiles with
// plain nvcc.
//
// Forward: one thread per (point, channel), channel fastest, so output writes are coalesced.
// Backward: one thread per point, looping over channels; the per-point coordinate gradient is a sum over channels
// kept in registers, and the feature gradient is scattered with atomicAdd (points share texels).
#include <cuda_runtime.h>

#include "fields_core/grid_sample.h"

namespace fields {
namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ int64_t linear_index() {
    return blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
}

int64_t blocks_for(int64_t threads) { return div_round_up(threads, kThreads); }

template <int D>
__global__ void grid_forward_kernel(GridShape s, const float* __restrict__ features, const float* __restrict__ coords,
                                    float* __restrict__ out) {
    const int64_t idx = linear_index();
    if (idx >= s.batch * s.points * s.channels) return;
    const int64_t i = idx / s.channels, c = idx % s.channels;
    const int64_t texels = s.texels(D);
    const Cell<D> cell = make_cell<D>(coords + i * D, s.size, s.align_corners);
    out[idx] = interpolate<D>(cell, features + ((i / s.points) * s.channels + c) * texels);
}

template <int D>
__global__ void grid_backward_kernel(GridShape s, const float* __restrict__ features,
                                     const float* __restrict__ coords, const float* __restrict__ grad_out,
                                     float* __restrict__ grad_features, float* __restrict__ grad_coords) {
    const int64_t i = linear_index();
    if (i >= s.batch * s.points) return;
    const int64_t texels = s.texels(D);
    const int64_t batch_offset = (i / s.points) * s.channels * texels;
    const Cell<D> cell = make_cell<D>(coords + i * D, s.size, s.align_corners);
    float g[D] = {};
    for (int64_t c = 0; c < s.channels; ++c) {
        const float go = grad_out[i * s.channels + c];
        const int64_t channel = batch_offset + c * texels;
        if (grad_features) {
            for (int k = 0; k < Cell<D>::kCorners; ++k)
                atomicAdd(grad_features + channel + cell.offset[k], cell.weight[k] * go);
        }
        if (grad_coords) add_coord_grad<D>(cell, features + channel, go, g);
    }
    if (grad_coords) {
        for (int a = 0; a < D; ++a) grad_coords[i * D + a] = g[a];
    }
}

__global__ void triplane_forward_kernel(GridShape s, PlaneReduce reduce, const float* __restrict__ planes,
                                        const float* __restrict__ coords, float* __restrict__ out) {
    const int64_t idx = linear_index();
    if (idx >= s.batch * s.points * s.channels) return;
    const int64_t i = idx / s.channels, c = idx % s.channels, b = i / s.points;
    float samples[3];
    for (int p = 0; p < 3; ++p) {
        const Cell<2> cell = plane_cell(coords + 3 * i, p, s);
        samples[p] = interpolate<2>(cell, planes + plane_offset(s, b, p, c));
    }
    write_reduced(reduce, samples, s.channels, c, out + i * triplane_width(s, reduce));
}

__global__ void triplane_backward_kernel(GridShape s, PlaneReduce reduce, const float* __restrict__ planes,
                                         const float* __restrict__ coords, const float* __restrict__ grad_out,
                                         float* __restrict__ grad_planes, float* __restrict__ grad_coords) {
    const int64_t i = linear_index();
    if (i >= s.batch * s.points) return;
    const int64_t b = i / s.points;
    const float* grad_row = grad_out + i * triplane_width(s, reduce);
    Cell<2> cells[3];
    for (int p = 0; p < 3; ++p) cells[p] = plane_cell(coords + 3 * i, p, s);
    float g_plane[3][2] = {};
    for (int64_t c = 0; c < s.channels; ++c) {
        float samples[3] = {}, g[3];
        if (reduce == PlaneReduce::kProduct) {
            for (int p = 0; p < 3; ++p) samples[p] = interpolate<2>(cells[p], planes + plane_offset(s, b, p, c));
        }
        plane_sample_grads(reduce, samples, grad_row, s.channels, c, g);
        for (int p = 0; p < 3; ++p) {
            const int64_t channel = plane_offset(s, b, p, c);
            if (grad_planes) {
                for (int k = 0; k < Cell<2>::kCorners; ++k)
                    atomicAdd(grad_planes + channel + cells[p].offset[k], cells[p].weight[k] * g[p]);
            }
            if (grad_coords) add_coord_grad<2>(cells[p], planes + channel, g[p], g_plane[p]);
        }
    }
    if (grad_coords) {
        float* g_xyz = grad_coords + 3 * i;
        g_xyz[0] = g_xyz[1] = g_xyz[2] = 0.f;
        for (int p = 0; p < 3; ++p)
            for (int j = 0; j < 2; ++j) g_xyz[plane_axis(p, j)] += g_plane[p][j];
    }
}

}  // namespace

void grid_sample_forward_cuda(int dims, const GridShape& shape, const float* features, const float* coords,
                              float* out, void* stream) {
    const int64_t blocks = blocks_for(shape.batch * shape.points * shape.channels);
    const cudaStream_t s = static_cast<cudaStream_t>(stream);
    if (dims == 2) {
        grid_forward_kernel<2><<<blocks, kThreads, 0, s>>>(shape, features, coords, out);
    } else {
        grid_forward_kernel<3><<<blocks, kThreads, 0, s>>>(shape, features, coords, out);
    }
}

void grid_sample_backward_cuda(int dims, const GridShape& shape, const float* features, const float* coords,
                               const float* grad_out, float* grad_features, float* grad_coords, void* stream) {
    const int64_t blocks = blocks_for(shape.batch * shape.points);
    const cudaStream_t s = static_cast<cudaStream_t>(stream);
    if (dims == 2) {
        grid_backward_kernel<2><<<blocks, kThreads, 0, s>>>(shape, features, coords, grad_out, grad_features,
                                                            grad_coords);
    } else {
        grid_backward_kernel<3><<<blocks, kThreads, 0, s>>>(shape, features, coords, grad_out, grad_features,
                                                            grad_coords);
    }
}

void triplane_sample_forward_cuda(const GridShape& shape, PlaneReduce reduce, const float* planes,
                                  const float* coords, float* out, void* stream) {
    const int64_t blocks = blocks_for(shape.batch * shape.points * shape.channels);
    triplane_forward_kernel<<<blocks, kThreads, 0, static_cast<cudaStream_t>(stream)>>>(shape, reduce, planes,
                                                                                         coords, out);
}

void triplane_sample_backward_cuda(const GridShape& shape, PlaneReduce reduce, const float* planes,
                                   const float* coords, const float* grad_out, float* grad_planes,
                                   float* grad_coords, void* stream) {
    const int64_t blocks = blocks_for(shape.batch * shape.points);
    triplane_backward_kernel<<<blocks, kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
        shape, reduce, planes, coords, grad_out, grad_planes, grad_coords);
}

}  // namespace fields
