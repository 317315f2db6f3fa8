// Fully fused MLP, CUDA kernels. No torch headers: compiles with plain nvcc.
//
// Forward: one kernel. A block takes a tile of samples and carries it through every layer: the tile's activations
// live in shared memory (two buffers, one layer's input and output) and each layer's weights are staged there,
// transposed so that the threads of a warp, which compute neighbouring output neurons, read neighbouring banks.
// Only x is read from global memory, and only y (and the hidden activations the backward pass needs) written.
//
// Backward: a fixed number of blocks walk the tiles; for each tile the output gradient goes down the layers in
// shared memory, and each block adds its weight and bias gradients to its own row of a scratch buffer (no atomics).
// A second small kernel sums the rows in block order (the same result from run to run) into the gradients.
#include <cuda_runtime.h>

#include <algorithm>

#include "fields_core/fused_mlp.h"

namespace fields {
namespace {

constexpr int kForwardThreads = 128;
constexpr int kBackwardThreads = 256;
constexpr int kTile = 32;              // samples per tile; see the shared-memory sums below
constexpr int kMaxBackwardBlocks = 512;
constexpr int kReduceThreads = 256;

// Shared floats: forward 2 activation tiles + one layer's weights and bias = 2*32*64 + 64*64 + 64 (~33 KB);
// backward 3 tiles (g, the next g, the layer input) + one layer's weights = 3*32*64 + 64*64 (~40 KB). Both stay
// under the 48 KB a block gets without opting in.
constexpr int kForwardShared = 2 * kTile * kMlpMaxWidth + kMlpMaxWidth * kMlpMaxWidth + kMlpMaxWidth;
constexpr int kBackwardShared = 3 * kTile * kMlpMaxWidth + kMlpMaxWidth * kMlpMaxWidth;

// Where layer l's weight gradient starts in the flat parameter layout (W_0, b_0, W_1, b_1, ...).
__host__ __device__ int64_t parameter_offset(const FusedMlpArgs& a, int layer) {
    int64_t offset = 0;
    for (int l = 0; l < layer; ++l) offset += static_cast<int64_t>(a.widths[l + 1]) * (a.widths[l] + 1);
    return offset;
}

__global__ void mlp_forward_kernel(FusedMlpArgs a, const float* __restrict__ x, float* __restrict__ out,
                                   float* __restrict__ hidden) {
    __shared__ float shared[kForwardShared];
    float* act[2] = {shared, shared + kTile * kMlpMaxWidth};
    float* weight_t = shared + 2 * kTile * kMlpMaxWidth;  // [K, N]
    float* bias = weight_t + kMlpMaxWidth * kMlpMaxWidth;
    const int64_t first = static_cast<int64_t>(blockIdx.x) * kTile;
    const int points = static_cast<int>(min(static_cast<int64_t>(kTile), a.batch - first));
    const int n_in = a.widths[0];
    for (int idx = threadIdx.x; idx < points * n_in; idx += blockDim.x) act[0][idx] = x[first * n_in + idx];
    for (int l = 0; l < a.layers; ++l) {
        const int k = a.widths[l], n = a.widths[l + 1];
        const float* in = act[l % 2];
        float* res = act[(l + 1) % 2];
        for (int idx = threadIdx.x; idx < n * k; idx += blockDim.x) {  // strided reads hit the cache; writes don't conflict
            const int i = idx / n, j = idx % n;
            weight_t[idx] = a.weight[l][j * k + i];
        }
        for (int j = threadIdx.x; j < n; j += blockDim.x) bias[j] = a.bias[l][j];
        __syncthreads();
        const bool last = l + 1 == a.layers;
        for (int idx = threadIdx.x; idx < points * n; idx += blockDim.x) {
            const int p = idx / n, j = idx % n;
            float acc = bias[j];
            for (int i = 0; i < k; ++i) acc += in[p * k + i] * weight_t[i * n + j];
            if (last) {
                out[first * n + idx] = output_value(a.output_activation, acc);
            } else {
                acc = relu_value(acc);
                res[idx] = acc;
                if (hidden) hidden[(l * a.batch + first) * n + idx] = acc;
            }
        }
        __syncthreads();  // res is complete and weight_t may be overwritten
    }
}

// Adds the tile's dL/dW = g^T a and dL/db = sum g of one layer to this block's sums.
__device__ void add_layer_gradients(const float* g, const float* layer_in, int points, int k, int n,
                                    float* __restrict__ sums) {
    for (int idx = threadIdx.x; idx < n * (k + 1); idx += blockDim.x) {
        const int j = idx / (k + 1), i = idx % (k + 1);  // i == k: the bias
        float acc = 0.f;
        if (i < k) {
            for (int p = 0; p < points; ++p) acc += g[p * n + j] * layer_in[p * k + i];
            sums[j * k + i] += acc;
        } else {
            for (int p = 0; p < points; ++p) acc += g[p * n + j];
            sums[n * k + j] += acc;
        }
    }
}

struct BackwardPointers {
    const float* x;
    const float* hidden;
    const float* out;
    const float* grad_out;
    float* grad_x;   // nullptr: not wanted
    float* scratch;  // [gridDim.x, parameter count]
    int64_t parameters;
};

__global__ void mlp_backward_kernel(FusedMlpArgs a, BackwardPointers ptr) {
    __shared__ float shared[kBackwardShared];
    float* g = shared;                                       // [tile, N]: dL/dz of the current layer
    float* g_next = shared + kTile * kMlpMaxWidth;           // [tile, K]
    float* layer_in = shared + 2 * kTile * kMlpMaxWidth;     // [tile, K]
    float* weight = shared + 3 * kTile * kMlpMaxWidth;       // [N, K]
    float* sums = ptr.scratch + blockIdx.x * ptr.parameters;  // this block's own row
    for (int64_t idx = threadIdx.x; idx < ptr.parameters; idx += blockDim.x) sums[idx] = 0.f;
    const int64_t tiles = div_round_up(a.batch, kTile);
    const int n_out = a.widths[a.layers];
    for (int64_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
        const int64_t first = tile * kTile;
        const int points = static_cast<int>(min(static_cast<int64_t>(kTile), a.batch - first));
        __syncthreads();  // the previous tile is done with g
        for (int idx = threadIdx.x; idx < points * n_out; idx += blockDim.x) {
            const int64_t at = first * n_out + idx;
            g[idx] = output_grad(a.output_activation, ptr.out[at], ptr.grad_out[at]);
        }
        for (int l = a.layers - 1; l >= 0; --l) {
            const int k = a.widths[l], n = a.widths[l + 1];
            const float* src = l == 0 ? ptr.x + first * k : ptr.hidden + (static_cast<int64_t>(l - 1) * a.batch + first) * k;
            for (int idx = threadIdx.x; idx < points * k; idx += blockDim.x) layer_in[idx] = src[idx];
            for (int idx = threadIdx.x; idx < n * k; idx += blockDim.x) weight[idx] = a.weight[l][idx];
            __syncthreads();
            add_layer_gradients(g, layer_in, points, k, n, sums + parameter_offset(a, l));
            if (l > 0 || ptr.grad_x) {
                for (int idx = threadIdx.x; idx < points * k; idx += blockDim.x) {
                    const int p = idx / k, i = idx % k;
                    float acc = 0.f;
                    for (int j = 0; j < n; ++j) acc += g[p * n + j] * weight[j * k + i];
                    if (l > 0) g_next[idx] = relu_grad(layer_in[idx], acc);
                    else ptr.grad_x[first * k + idx] = acc;
                }
            }
            __syncthreads();  // g_next is complete; g, layer_in and weight may be overwritten
            float* swap = g;
            g = g_next;
            g_next = swap;
        }
    }
}

// Parameter i (flat, W_0, b_0, W_1, ...) = sum over blocks b, in order, of scratch[b][i], written to its tensor.
__global__ void sum_rows_kernel(FusedMlpArgs a, const float* __restrict__ scratch, int rows, int64_t columns,
                                FusedMlpGrads grads) {
    const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i >= columns) return;
    float acc = 0.f;
    for (int r = 0; r < rows; ++r) acc += scratch[r * columns + i];
    int64_t at = i;
    for (int l = 0; l < a.layers; ++l) {
        const int64_t weights = static_cast<int64_t>(a.widths[l + 1]) * a.widths[l];
        if (at < weights) {
            grads.weight[l][at] = acc;
            return;
        }
        at -= weights;
        if (at < a.widths[l + 1]) {
            grads.bias[l][at] = acc;
            return;
        }
        at -= a.widths[l + 1];
    }
}

int backward_blocks(const FusedMlpArgs& a) {
    return static_cast<int>(std::min<int64_t>(kMaxBackwardBlocks, div_round_up(a.batch, kTile)));
}

}  // namespace

void fused_mlp_forward_cuda(const FusedMlpArgs& args, const float* x, float* out, float* hidden, void* stream) {
    const int64_t blocks = div_round_up(args.batch, kTile);
    mlp_forward_kernel<<<blocks, kForwardThreads, 0, static_cast<cudaStream_t>(stream)>>>(args, x, out, hidden);
}

int64_t mlp_backward_scratch_floats(const FusedMlpArgs& args) {
    return backward_blocks(args) * mlp_parameter_count(args);
}

void fused_mlp_backward_cuda(const FusedMlpArgs& args, const float* x, const float* hidden, const float* out,
                             const float* grad_out, const FusedMlpGrads& grads, float* scratch, void* stream) {
    const int blocks = backward_blocks(args);
    const int64_t parameters = mlp_parameter_count(args);
    const BackwardPointers ptr{x, hidden, out, grad_out, grads.x, scratch, parameters};
    const cudaStream_t s = static_cast<cudaStream_t>(stream);
    mlp_backward_kernel<<<blocks, kBackwardThreads, 0, s>>>(args, ptr);
    sum_rows_kernel<<<div_round_up(parameters, kReduceThreads), kReduceThreads, 0, s>>>(args, scratch, blocks,
                                                                                       parameters, grads);
}

}  // namespace fields
