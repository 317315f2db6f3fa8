// Multiresolution hash encoding: torch glue, argument checks and the CPU kernels.
//
// Parallel layout on the CPU:
// * forward: level by level, the points of one level split between the threads, so that the threads share one
//   level's table (a few MiB, cache resident) instead of streaming all levels' tables at once;
// * backward: each thread owns whole levels, claimed finest (costliest) first from a shared counter. Levels' table
//   rows are disjoint, so the scatter-add into the embedding gradient is race-free without atomics. The gradient
//   with respect to x sums over levels, so each thread accumulates it in its own buffer and the buffers are added
//   at the end.
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <atomic>

#include "fields_core/hash_encoding.h"
#include "fields_core/torch_checks.h"

#ifdef WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

namespace fields {
namespace {

constexpr int64_t kGrain = 4096;
constexpr int64_t kMaxResolution = int64_t(1) << 24;  // integer grid positions stay exact in fp32
constexpr int64_t kMaxTableRows = int64_t(1) << 31;   // rows are indexed with uint32

bool is_power_of_two(int64_t v) { return v > 0 && (v & (v - 1)) == 0; }

// True when the (res + 1)^dims vertices of a level fit in `rows` (computed without overflow).
bool fits_densely(int64_t resolution, int dims, int64_t rows) {
    int64_t vertices = 1;
    for (int d = 0; d < dims; ++d) {
        vertices *= resolution + 1;
        if (vertices > rows) return false;
    }
    return true;
}

// Validates the level description and copies it into the struct the kernels read.
HashLevels read_levels(const at::Tensor& level_offsets, const at::Tensor& resolutions, int dims,
                       int64_t embedding_rows, const char* op) {
    check_tensor(resolutions, op, "resolutions", at::kLong, {-1});
    const int64_t count = resolutions.size(0);
    TORCH_CHECK_VALUE(count >= 1 && count <= kHashMaxLevels, op, ": argument 'resolutions' must hold 1 to ",
                      kHashMaxLevels, " levels, got ", count);
    check_tensor(level_offsets, op, "level_offsets", at::kLong, {count + 1});
    const at::Tensor offsets_cpu = level_offsets.cpu();
    const at::Tensor resolutions_cpu = resolutions.cpu();
    const int64_t* offsets = offsets_cpu.data_ptr<int64_t>();
    const int64_t* res = resolutions_cpu.data_ptr<int64_t>();
    TORCH_CHECK_VALUE(offsets[0] == 0 && offsets[count] == embedding_rows, op,
                      ": argument 'level_offsets' must start at 0 and end at the number of rows of 'embeddings' (",
                      embedding_rows, "), got ", offsets[0], " and ", offsets[count]);
    HashLevels levels;
    levels.count = static_cast<int>(count);
    for (int64_t l = 0; l < count; ++l) {
        const int64_t rows = offsets[l + 1] - offsets[l];
        TORCH_CHECK_VALUE(rows >= 1 && rows <= kMaxTableRows, op, ": argument 'level_offsets' gives level ", l,
                          " ", rows, " rows; each level needs 1 to 2^31");
        TORCH_CHECK_VALUE(res[l] >= 1 && res[l] <= kMaxResolution, op, ": argument 'resolutions' must lie in [1, ",
                          kMaxResolution, "], got ", res[l], " at level ", l);
        const bool dense = fits_densely(res[l], dims, rows);
        TORCH_CHECK_VALUE(dense || is_power_of_two(rows), op, ": argument 'level_offsets' gives level ", l, " ",
                          rows, " rows: fewer than its (", res[l], " + 1)^", dims,
                          " grid vertices, so it is hashed, and a hashed table needs a power-of-two size");
        levels.level[l] = HashLevel{offsets[l], static_cast<uint32_t>(res[l]), static_cast<uint32_t>(rows),
                                    dense ? 1u : 0u, static_cast<float>(res[l])};
    }
    return levels;
}

// Checks x and embeddings; returns (dims, features).
std::pair<int, int> check_inputs(const at::Tensor& x, const at::Tensor& embeddings, const char* op) {
    check_tensor(x, op, "x", at::kFloat, {-1, -1});
    TORCH_CHECK_VALUE(x.size(1) == 2 || x.size(1) == 3, op, ": argument 'x' must have shape [N, 2] or [N, 3], got ",
                      x.sizes());
    check_tensor(embeddings, op, "embeddings", at::kFloat, {-1, -1});
    const int64_t features = embeddings.size(1);
    TORCH_CHECK_VALUE(features == 1 || features == 2 || features == 4 || features == 8, op,
                      ": argument 'embeddings' must have 1, 2, 4 or 8 features per row (columns), got ", features);
    check_same_device(x, embeddings, op, "x", "embeddings");
    return {static_cast<int>(x.size(1)), static_cast<int>(features)};
}

template <int D, int F>
void forward_level_cpu(const float* x, int64_t n, const float* table, const HashLevel& level, int64_t out_stride,
                       float* out) {
    at::parallel_for(0, n, kGrain, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
            const HashCell<D> cell = locate_cell<D>(x + i * D, level);
            float acc[F] = {};
            for (int k = 0; k < (1 << D); ++k) {
                const float w = corner_weight<D>(cell, k);
                const float* row = table + static_cast<int64_t>(corner_row<D>(cell, level, k)) * F;
                for (int f = 0; f < F; ++f) acc[f] += w * row[f];
            }
            for (int f = 0; f < F; ++f) out[i * out_stride + f] = acc[f];
        }
    });
}

// One level's backward over all points, run by the single thread that owns the level. grad_x (when wanted) is
// that thread's private [n, D] accumulator.
template <int D, int F, bool kWantX>
void backward_level_cpu(const float* x, int64_t n, const float* table, const float* grad_out, int64_t out_stride,
                        const HashLevel& level, float* grad_table, float* grad_x) {
    for (int64_t i = 0; i < n; ++i) {
        const HashCell<D> cell = locate_cell<D>(x + i * D, level);
        const float* g = grad_out + i * out_stride;
        float dx[D] = {};
        for (int k = 0; k < (1 << D); ++k) {
            const int64_t row = static_cast<int64_t>(corner_row<D>(cell, level, k)) * F;
            const float w = corner_weight<D>(cell, k);
            for (int f = 0; f < F; ++f) grad_table[row + f] += w * g[f];
            if constexpr (kWantX) {
                float g_dot_feature = 0.f;
                for (int f = 0; f < F; ++f) g_dot_feature += g[f] * table[row + f];
                float dw_dx[D];
                corner_weight_gradient<D>(cell, k, dw_dx);
                for (int a = 0; a < D; ++a) dx[a] += g_dot_feature * dw_dx[a];
            }
        }
        if constexpr (kWantX) {
            for (int a = 0; a < D; ++a) grad_x[i * D + a] += dx[a];
        }
    }
}

template <int D, int F>
void forward_cpu(const float* x, int64_t n, const float* embeddings, const HashLevels& levels, float* out) {
    const int64_t out_stride = static_cast<int64_t>(levels.count) * F;
    for (int l = 0; l < levels.count; ++l) {
        const HashLevel& level = levels.level[l];
        forward_level_cpu<D, F>(x, n, embeddings + level.offset * F, level, out_stride, out + l * F);
    }
}

// Returns grad_x ([n, D]) when want_x, else an undefined tensor.
template <int D, int F>
at::Tensor backward_cpu(const at::Tensor& x, const at::Tensor& embeddings, const at::Tensor& grad_out,
                        const HashLevels& levels, bool want_x, float* grad_embeddings) {
    const int64_t n = x.size(0);
    const int64_t out_stride = static_cast<int64_t>(levels.count) * F;
    const int workers = std::max(1, std::min(at::get_num_threads(), levels.count));
    at::Tensor partial_grad_x = want_x ? at::zeros({workers, n, D}, x.options()) : at::Tensor();
    const float* x_ptr = x.data_ptr<float>();
    const float* table_base = embeddings.data_ptr<float>();
    const float* grad_out_ptr = grad_out.data_ptr<float>();
    std::atomic<int> next_claim{0};
    at::parallel_for(0, workers, 1, [&](int64_t begin, int64_t end) {
        for (int64_t worker = begin; worker < end; ++worker) {
            float* grad_x = want_x ? partial_grad_x.data_ptr<float>() + worker * n * D : nullptr;
            for (int claim = next_claim++; claim < levels.count; claim = next_claim++) {
                const int l = levels.count - 1 - claim;
                const HashLevel& level = levels.level[l];
                const float* table = table_base + level.offset * F;
                float* grad_table = grad_embeddings + level.offset * F;
                if (want_x) {
                    backward_level_cpu<D, F, true>(x_ptr, n, table, grad_out_ptr + l * F, out_stride, level,
                                                   grad_table, grad_x);
                } else {
                    backward_level_cpu<D, F, false>(x_ptr, n, table, grad_out_ptr + l * F, out_stride, level,
                                                    grad_table, nullptr);
                }
            }
        }
    });
    if (!want_x) return at::Tensor();
    return workers == 1 ? partial_grad_x[0] : partial_grad_x.sum(0);
}

at::Tensor hash_encode_forward(const at::Tensor& x, const at::Tensor& embeddings, const at::Tensor& level_offsets,
                               const at::Tensor& resolutions) {
    const char* op = "hash_encode";
    const auto [dims, features] = check_inputs(x, embeddings, op);
    const HashLevels levels = read_levels(level_offsets, resolutions, dims, embeddings.size(0), op);
    const int64_t n = x.size(0);
    at::Tensor out = at::empty({n, static_cast<int64_t>(levels.count) * features}, x.options());
    if (n == 0) return out;
#ifdef WITH_CUDA
    if (x.is_cuda()) {
        hash_encode_forward_cuda(x.data_ptr<float>(), n, dims, embeddings.data_ptr<float>(), features, levels,
                                 out.data_ptr<float>(), at::cuda::getCurrentCUDAStream().stream());
        return out;
    }
#endif
    dispatch_dims_features(dims, features, [&](auto dim, auto feature) {
        forward_cpu<decltype(dim)::value, decltype(feature)::value>(x.data_ptr<float>(), n,
                                                                      embeddings.data_ptr<float>(), levels,
                                                                      out.data_ptr<float>());
    });
    return out;
}

// Returns (grad_embeddings [P, F], grad_x [N, D]); grad_x is empty ([0, D]) unless x_grad is true.
std::tuple<at::Tensor, at::Tensor> hash_encode_backward(const at::Tensor& x, const at::Tensor& embeddings,
                                                        const at::Tensor& level_offsets,
                                                        const at::Tensor& resolutions, const at::Tensor& grad_out,
                                                        bool x_grad) {
    const char* op = "hash_encode_backward";
    const auto [dims, features] = check_inputs(x, embeddings, op);
    const HashLevels levels = read_levels(level_offsets, resolutions, dims, embeddings.size(0), op);
    const int64_t n = x.size(0);
    check_tensor(grad_out, op, "grad_out", at::kFloat, {n, static_cast<int64_t>(levels.count) * features});
    check_same_device(x, grad_out, op, "x", "grad_out");
    at::Tensor grad_embeddings = at::zeros_like(embeddings);
    at::Tensor empty_grad_x = at::empty({0, dims}, x.options());
    if (n == 0) return {grad_embeddings, x_grad ? at::zeros_like(x) : empty_grad_x};
#ifdef WITH_CUDA
    if (x.is_cuda()) {
        at::Tensor grad_x = x_grad ? at::zeros_like(x) : empty_grad_x;
        hash_encode_backward_cuda(x.data_ptr<float>(), embeddings.data_ptr<float>(), grad_out.data_ptr<float>(), n,
                                  dims, features, levels, grad_embeddings.data_ptr<float>(),
                                  x_grad ? grad_x.data_ptr<float>() : nullptr,
                                  at::cuda::getCurrentCUDAStream().stream());
        return {grad_embeddings, grad_x};
    }
#endif
    at::Tensor grad_x;
    dispatch_dims_features(dims, features, [&](auto dim, auto feature) {
        grad_x = backward_cpu<decltype(dim)::value, decltype(feature)::value>(x, embeddings, grad_out, levels, x_grad,
                                                                             grad_embeddings.data_ptr<float>());
    });
    return {grad_embeddings, x_grad ? grad_x : empty_grad_x};
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(fields, m) {
    m.def("hash_encode_forward(Tensor x, Tensor embeddings, Tensor level_offsets, Tensor resolutions) -> Tensor",
          &hash_encode_forward);
    m.def(
        "hash_encode_backward(Tensor x, Tensor embeddings, Tensor level_offsets, Tensor resolutions, "
        "Tensor grad_out, bool x_grad) -> (Tensor, Tensor)",
        &hash_encode_backward);
}

}  // namespace fields
