// Fused Gaussian RBF layer (GNF), CUDA kernels. No torch headers: compiles with plain nvcc.
//
// A block takes a tile of points and stages their features (and, backward, their output gradients) in shared
// memory; its threads then share out the (point, kernel) pairs for the distances and activations, and the
// (point, output) pairs for the read-out. The kernel tables are small and read through the cache by every block.
// Backward: each block sums its tile's parameter-gradient terms per (kernel, feature) and (output, kernel) pair
// and adds them to the global sums with one atomicAdd per pair and tile.
#include <cuda_runtime.h>

#include <algorithm>

#include "fields_core/rbf_layer.h"

namespace fields {
namespace {

constexpr int kForwardThreads = 128;
constexpr int kBackwardThreads = 256;
constexpr int kMaxTile = 64;
constexpr int64_t kSharedBytes = 48 * 1024;  // the default per-block limit, no opt-in needed

// Points per block so that `floats_per_point` floats per point fit the shared memory.
int tile_points(int64_t floats_per_point) {
    const int64_t fit = kSharedBytes / (floats_per_point * static_cast<int64_t>(sizeof(float)));
    return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(kMaxTile, fit)));
}

__device__ float point_distance(const RbfLayerArgs& a, const float* f, int k) {
    float distance = a.offset[k];
    for (int d = 0; d < a.features_dim; ++d)
        distance += rbf_distance_term(f[d], a.quad_t[d * a.kernels + k], a.cross_t[d * a.kernels + k]);
    return distance;
}

// Copies `count` floats starting at `src` into shared memory, all threads of the block together.
__device__ void stage(float* dst, const float* __restrict__ src, int64_t count) {
    for (int64_t idx = threadIdx.x; idx < count; idx += blockDim.x) dst[idx] = src[idx];
}

__global__ void rbf_forward_kernel(RbfLayerArgs a, int tile, float* __restrict__ out) {
    extern __shared__ float shared[];
    const int nf = a.features_dim, n = a.kernels, o = a.outputs;
    float* f_tile = shared;               // [tile, F]
    float* phi = shared + tile * nf;      // [tile, N]
    const int64_t first = blockIdx.x * static_cast<int64_t>(tile);
    const int points = static_cast<int>(std::min<int64_t>(tile, a.batch - first));
    stage(f_tile, a.features + first * nf, static_cast<int64_t>(points) * nf);
    __syncthreads();
    for (int idx = threadIdx.x; idx < points * n; idx += blockDim.x) {
        const int p = idx / n, k = idx % n;
        phi[idx] = rbf_activation(point_distance(a, f_tile + p * nf, k));
    }
    __syncthreads();
    for (int idx = threadIdx.x; idx < points * o; idx += blockDim.x) {
        const int p = idx / o, j = idx % o;
        float acc = a.bias[j] + rbf_nonfinite_probe(f_tile + p * nf, nf);
        for (int k = 0; k < n; ++k) acc += a.weight[j * n + k] * phi[p * n + k];
        out[(first + p) * o + j] = acc;
    }
}

__global__ void rbf_backward_kernel(RbfLayerArgs a, RbfLayerBackwardArgs e, RbfLayerGrads grads, int tile) {
    extern __shared__ float shared[];
    const int nf = a.features_dim, n = a.kernels, o = a.outputs;
    float* f_tile = shared;                // [tile, F]
    float* g_tile = f_tile + tile * nf;    // [tile, O]
    float* phi = g_tile + tile * o;        // [tile, N]
    float* grad_d = phi + tile * n;        // [tile, N]: dL/dD
    const int64_t first = blockIdx.x * static_cast<int64_t>(tile);
    const int points = static_cast<int>(std::min<int64_t>(tile, a.batch - first));
    stage(f_tile, a.features + first * nf, static_cast<int64_t>(points) * nf);
    stage(g_tile, e.grad_out + first * o, static_cast<int64_t>(points) * o);
    __syncthreads();
    for (int idx = threadIdx.x; idx < points * n; idx += blockDim.x) {
        const int p = idx / n, k = idx % n;
        const float distance = point_distance(a, f_tile + p * nf, k);
        const float activation = rbf_activation(distance);
        float grad_phi = 0.f;
        for (int j = 0; j < o; ++j) grad_phi += g_tile[p * o + j] * a.weight[j * n + k];
        phi[idx] = activation;
        grad_d[idx] = grad_phi * rbf_activation_grad(distance, activation);
    }
    __syncthreads();
    if (grads.features) {
        for (int idx = threadIdx.x; idx < points * nf; idx += blockDim.x) {
            const int p = idx / nf, d = idx % nf;
            const float fd = f_tile[idx];
            float acc = 0.f;
            for (int k = 0; k < n; ++k) acc += grad_d[p * n + k] * e.precision[k * nf + d] * (fd - e.centres[k * nf + d]);
            grads.features[first * nf + idx] = acc;
        }
    }
    for (int idx = threadIdx.x; idx < n * nf; idx += blockDim.x) {
        const int k = idx / nf, d = idx % nf;
        const float c = e.centres[idx];
        float st = 0.f, stt = 0.f;
        for (int p = 0; p < points; ++p) {
            const float t = f_tile[p * nf + d] - c;
            const float u = grad_d[p * n + k] * t;
            st += u;
            stt += u * t;
        }
        atomicAdd(grads.sum_t + idx, st);
        atomicAdd(grads.sum_tt + idx, stt);
    }
    for (int idx = threadIdx.x; idx < o * n; idx += blockDim.x) {
        const int j = idx / n, k = idx % n;
        float acc = 0.f;
        for (int p = 0; p < points; ++p) acc += g_tile[p * o + j] * phi[p * n + k];
        atomicAdd(grads.weight + idx, acc);
    }
    for (int j = threadIdx.x; j < o; j += blockDim.x) {
        float acc = 0.f;
        for (int p = 0; p < points; ++p) acc += g_tile[p * o + j];
        atomicAdd(grads.bias + j, acc);
    }
}

}  // namespace

void rbf_layer_forward_cuda(const RbfLayerArgs& args, float* out, void* stream) {
    const int64_t per_point = args.features_dim + args.kernels;
    const int tile = tile_points(per_point);
    const int64_t blocks = div_round_up(args.batch, tile);
    const size_t shared = static_cast<size_t>(tile * per_point) * sizeof(float);
    rbf_forward_kernel<<<blocks, kForwardThreads, shared, static_cast<cudaStream_t>(stream)>>>(args, tile, out);
}

void rbf_layer_backward_cuda(const RbfLayerArgs& args, const RbfLayerBackwardArgs& extra, const RbfLayerGrads& grads,
                             void* stream) {
    const int64_t per_point = args.features_dim + args.outputs + 2 * args.kernels;
    const int tile = tile_points(per_point);
    const int64_t blocks = div_round_up(args.batch, tile);
    const size_t shared = static_cast<size_t>(tile * per_point) * sizeof(float);
    rbf_backward_kernel<<<blocks, kBackwardThreads, shared, static_cast<cudaStream_t>(stream)>>>(args, extra, grads,
                                                                                                  tile);
}

}  // namespace fields
