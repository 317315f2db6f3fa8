// Occupancy-grid maintenance, CUDA kernels. No torch headers: compiles with plain nvcc.
#include <cuda_runtime.h>

#include "fields_core/occupancy_grid.h"

namespace fields {
namespace {

constexpr int kThreads = 256;

__global__ void decay_kernel(float* __restrict__ occupancy, int64_t cells, float decay) {
    const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (i >= cells) return;
    occupancy[i] = occupancy_decay(occupancy[i], decay);
}

// Raises `value` into `*cell` unless the cell is masked out (negative); indices may repeat, hence the CAS loop.
__device__ void atomic_raise(float* cell, float value) {
    int* bits = reinterpret_cast<int*>(cell);
    int current = *bits;
    while (__int_as_float(current) >= 0.f && value > __int_as_float(current)) {
        const int seen = atomicCAS(bits, current, __float_as_int(value));
        if (seen == current) return;
        current = seen;
    }
}

__global__ void raise_kernel(float* __restrict__ occupancy, const int64_t* __restrict__ indices,
                             const float* __restrict__ values, int64_t count) {
    const int64_t k = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (k >= count) return;
    atomic_raise(occupancy + indices[k], values[k]);
}

__global__ void pack_kernel(const bool* __restrict__ binary, int64_t count, uint8_t* __restrict__ bitfield) {
    const int64_t b = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (b >= div_round_up(count, 8)) return;
    bitfield[b] = pack_bitfield_byte(binary, count, b);
}

}  // namespace

void occupancy_ema_update_cuda(float* occupancy, int64_t cells, const int64_t* indices, const float* values,
                               int64_t count, float decay, void* stream) {
    const cudaStream_t s = static_cast<cudaStream_t>(stream);
    decay_kernel<<<div_round_up(cells, kThreads), kThreads, 0, s>>>(occupancy, cells, decay);
    if (count > 0) raise_kernel<<<div_round_up(count, kThreads), kThreads, 0, s>>>(occupancy, indices, values, count);
}

void pack_bitfield_cuda(const bool* binary, int64_t count, uint8_t* bitfield, void* stream) {
    const int64_t bytes = div_round_up(count, 8);
    pack_kernel<<<div_round_up(bytes, kThreads), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(binary, count,
                                                                                                   bitfield);
}

}  // namespace fields
