// Occupancy-grid maintenance: EMA-max update of evaluated cells and packing of the binary grid into a bitfield.
// Torch glue, argument checks and the CPU kernels.
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <atomic>

#include "fields_core/occupancy_grid.h"
#include "fields_core/torch_checks.h"

namespace fields {
namespace {

constexpr int64_t kGrain = 1 << 14;

// Raises `value` into `cell` unless the cell is masked out (negative). Lock-free: an index may repeat in one update.
void atomic_raise(float& cell, float value) {
    std::atomic_ref<float> ref(cell);
    float current = ref.load(std::memory_order_relaxed);
    while (current >= 0.f && value > current &&
           !ref.compare_exchange_weak(current, value, std::memory_order_relaxed)) {
    }
}

void occupancy_ema_update_cpu(float* occupancy, int64_t cells, const int64_t* indices, const float* values,
                              int64_t count, float decay) {
    at::parallel_for(0, cells, kGrain, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) occupancy[i] = occupancy_decay(occupancy[i], decay);
    });
    at::parallel_for(0, count, kGrain, [&](int64_t begin, int64_t end) {
        for (int64_t k = begin; k < end; ++k) atomic_raise(occupancy[indices[k]], values[k]);
    });
}

void pack_bitfield_cpu(const bool* binary, int64_t count, uint8_t* bitfield) {
    at::parallel_for(0, div_round_up(count, 8), kGrain, [&](int64_t begin, int64_t end) {
        for (int64_t b = begin; b < end; ++b) bitfield[b] = pack_bitfield_byte(binary, count, b);
    });
}

void check_indices_in_range(const at::Tensor& indices, int64_t cells) {
    if (indices.numel() == 0) return;
    const int64_t lowest = indices.min().item<int64_t>();
    const int64_t highest = indices.max().item<int64_t>();
    FIELDS_CHECK_VALUE(lowest >= 0 && highest < cells, "occupancy_ema_update_: argument 'indices' must lie in [0, ",
                       cells, "), got values in [", lowest, ", ", highest, "]");
}

// occupancy[c] <- max(occupancy[c] · decay, max of values[k] with indices[k] == c), for every cell c >= 0.
void occupancy_ema_update_(const at::Tensor& occupancy, const at::Tensor& indices, const at::Tensor& values,
                           double decay) {
    constexpr const char* op = "occupancy_ema_update_";
    check_tensor(occupancy, op, "occupancy", at::kFloat, {-1});
    check_tensor(indices, op, "indices", at::kLong, {-1});
    check_tensor(values, op, "values", at::kFloat, {indices.size(0)});
    check_same_device(occupancy, indices, op, "occupancy", "indices");
    check_same_device(occupancy, values, op, "occupancy", "values");
    FIELDS_CHECK_VALUE(decay >= 0.0 && decay <= 1.0, op, ": argument 'decay' must lie in [0, 1], got ", decay);
    check_indices_in_range(indices, occupancy.size(0));
    const int64_t cells = occupancy.size(0);
    if (cells == 0) return;
#ifdef WITH_CUDA
    if (occupancy.is_cuda()) {
        occupancy_ema_update_cuda(occupancy.data_ptr<float>(), cells, indices.data_ptr<int64_t>(),
                                  values.data_ptr<float>(), indices.size(0), static_cast<float>(decay),
                                  at::cuda::getCurrentCUDAStream().stream());
        return;
    }
#endif
    occupancy_ema_update_cpu(occupancy.data_ptr<float>(), cells, indices.data_ptr<int64_t>(), values.data_ptr<float>(),
                             indices.size(0), static_cast<float>(decay));
}

at::Tensor pack_bitfield(const at::Tensor& binary) {
    check_tensor(binary, "pack_bitfield", "binary", at::kBool, {-1});
    const int64_t count = binary.size(0);
    at::Tensor bitfield = at::empty({div_round_up(count, 8)}, binary.options().dtype(at::kByte));
    if (count == 0) return bitfield;
#ifdef WITH_CUDA
    if (binary.is_cuda()) {
        pack_bitfield_cuda(binary.data_ptr<bool>(), count, bitfield.data_ptr<uint8_t>(),
                           at::cuda::getCurrentCUDAStream().stream());
        return bitfield;
    }
#endif
    pack_bitfield_cpu(binary.data_ptr<bool>(), count, bitfield.data_ptr<uint8_t>());
    return bitfield;
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(fields, m) {
    m.def("occupancy_ema_update_(Tensor(a!) occupancy, Tensor indices, Tensor values, float decay) -> ()",
          &occupancy_ema_update_);
    m.def("pack_bitfield(Tensor binary) -> Tensor", &pack_bitfield);
}

}  // namespace fields
