// Multiresolution hash encoding: torch glue, argument checks and the CPU kernels.
//
// Parallel layout on the CPU:
// * forward and d/dx: each thread takes a range of points and walks the levels one after the other, so the threads
//   share one level's table (a few MiB, cache resident) at a time instead of streaming all the tables at once;
//   every point's outputs and d/dx belong to one thread;
// * d/d embeddings: each thread owns whole levels, claimed finest (costliest) first from a shared counter. Levels'
//   table rows are disjoint, so the scatter-add is race-free without atomics.
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <atomic>
#include <cstdint>

#include "fields_core/hash_encoding.h"
#include "fields_core/torch_checks.h"

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
    FIELDS_CHECK_VALUE(count >= 1 && count <= kHashMaxLevels, op, ": argument 'resolutions' must hold 1 to ",
                       kHashMaxLevels, " levels, got ", count);
    check_tensor(level_offsets, op, "level_offsets", at::kLong, {count + 1});
    const at::Tensor offsets_cpu = level_offsets.cpu();
    const at::Tensor resolutions_cpu = resolutions.cpu();
    const int64_t* offsets = offsets_cpu.data_ptr<int64_t>();
    const int64_t* res = resolutions_cpu.data_ptr<int64_t>();
    FIELDS_CHECK_VALUE(offsets[0] == 0 && offsets[count] == embedding_rows, op,
                       ": argument 'level_offsets' must start at 0 and end at the number of rows of 'embeddings' (",
                       embedding_rows, "), got ", offsets[0], " and ", offsets[count]);
    HashLevels levels;
    levels.count = static_cast<int>(count);
    for (int64_t l = 0; l < count; ++l) {
        const int64_t rows = offsets[l + 1] - offsets[l];
        FIELDS_CHECK_VALUE(rows >= 1 && rows <= kMaxTableRows, op, ": argument 'level_offsets' gives level ", l,
                           " ", rows, " rows; each level needs 1 to 2^31");
        FIELDS_CHECK_VALUE(res[l] >= 1 && res[l] <= kMaxResolution, op, ": argument 'resolutions' must lie in [1, ",
                           kMaxResolution, "], got ", res[l], " at level ", l);
        const bool dense = fits_densely(res[l], dims, rows);
        FIELDS_CHECK_VALUE(dense || is_power_of_two(rows), op, ": argument 'level_offsets' gives level ", l, " ",
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
    FIELDS_CHECK_VALUE(x.size(1) == 2 || x.size(1) == 3, op, ": argument 'x' must have shape [N, 2] or [N, 3], got ",
                       shape_string(x.sizes()));
    check_tensor(embeddings, op, "embeddings", at::kFloat, {-1, -1});
    const int64_t features = embeddings.size(1);
    FIELDS_CHECK_VALUE(features == 1 || features == 2 || features == 4 || features == 8, op,
                       ": argument 'embeddings' must have 1, 2, 4 or 8 features per row (columns), got ", features);
    check_same_device(x, embeddings, op, "x", "embeddings");
    return {static_cast<int>(x.size(1)), static_cast<int>(features)};
}

// Points are processed in small blocks: first every point of the block is located and the table rows of its
// corners are prefetched, then the rows are used. A hashed level's rows are scattered over a table of several MiB,
// so a plain loop waits on one cache miss after another; a block keeps on the order of a hundred in flight.
constexpr int kBlock = 16;

template <int D>
struct CornerBlock {
    HashCell<D> cell[kBlock];
    uint32_t row[kBlock][1 << D];
};

// Locates points [begin, begin + count) and prefetches their corner rows of `table` (F floats per row).
template <int D, int F, bool kForWrite>
void locate_block(const float* x, int64_t begin, int count, const HashLevel& level, const float* table,
                  CornerBlock<D>& block) {
    for (int b = 0; b < count; ++b) {
        block.cell[b] = locate_cell<D>(x + (begin + b) * D, level);
        FIELDS_HASH_UNROLL
        for (int k = 0; k < (1 << D); ++k) {
            block.row[b][k] = corner_row<D>(block.cell[b], level, k);
            __builtin_prefetch(table + static_cast<int64_t>(block.row[b][k]) * F, kForWrite ? 1 : 0);
        }
    }
}

// Features of one level for points [begin, end): out[i * out_stride + f].
template <int D, int F>
void forward_points(const float* x, int64_t begin, int64_t end, const float* table, const HashLevel& level,
                    int64_t out_stride, float* out) {
    CornerBlock<D> block;
    for (int64_t start = begin; start < end; start += kBlock) {
        const int count = static_cast<int>(std::min<int64_t>(kBlock, end - start));
        locate_block<D, F, false>(x, start, count, level, table, block);
        for (int b = 0; b < count; ++b) {
            float acc[F] = {};
            FIELDS_HASH_UNROLL
            for (int k = 0; k < (1 << D); ++k) {
                const float w = corner_weight<D>(block.cell[b], k);
                const float* row = table + static_cast<int64_t>(block.row[b][k]) * F;
                for (int f = 0; f < F; ++f) acc[f] += w * row[f];
            }
            for (int f = 0; f < F; ++f) out[(start + b) * out_stride + f] = acc[f];
        }
    }
}

// Adds one level's contribution to d loss / d x for points [begin, end).
template <int D, int F>
void grad_x_points(const float* x, int64_t begin, int64_t end, const float* table, const float* grad_out,
                   int64_t out_stride, const HashLevel& level, float* grad_x) {
    CornerBlock<D> block;
    for (int64_t start = begin; start < end; start += kBlock) {
        const int count = static_cast<int>(std::min<int64_t>(kBlock, end - start));
        locate_block<D, F, false>(x, start, count, level, table, block);
        for (int b = 0; b < count; ++b) {
            const int64_t i = start + b;
            float g_dot_corner[1 << D];  // d loss / d (this level's interpolated value) at each corner
            FIELDS_HASH_UNROLL
            for (int k = 0; k < (1 << D); ++k) {
                const float* row = table + static_cast<int64_t>(block.row[b][k]) * F;
                g_dot_corner[k] = 0.f;
                for (int f = 0; f < F; ++f) g_dot_corner[k] += grad_out[i * out_stride + f] * row[f];
            }
            float dx[D];
            interpolation_gradient<D>(block.cell[b], g_dot_corner, dx);
            for (int a = 0; a < D; ++a) grad_x[i * D + a] += dx[a];
        }
    }
}

// Scatter-adds one level's output gradient of all n points into its table gradient. Only the thread that owns the
// level runs this, so the read-modify-writes need no atomics.
template <int D, int F>
void scatter_level(const float* x, int64_t n, const float* grad_out, int64_t out_stride, const HashLevel& level,
                   float* grad_table) {
    CornerBlock<D> block;
    for (int64_t start = 0; start < n; start += kBlock) {
        const int count = static_cast<int>(std::min<int64_t>(kBlock, n - start));
        locate_block<D, F, true>(x, start, count, level, grad_table, block);
        for (int b = 0; b < count; ++b) {
            float g[F];  // a local copy: the stores below cannot alias it
            for (int f = 0; f < F; ++f) g[f] = grad_out[(start + b) * out_stride + f];
            FIELDS_HASH_UNROLL
            for (int k = 0; k < (1 << D); ++k) {
                const float w = corner_weight<D>(block.cell[b], k);
                float* row = grad_table + static_cast<int64_t>(block.row[b][k]) * F;
                for (int f = 0; f < F; ++f) row[f] += w * g[f];
            }
        }
    }
}

// Each thread takes a contiguous range of points and runs through the levels one after the other, so the threads
// work on about the same level (one table, cache resident) at a time.
template <int D, int F>
void forward_cpu(const float* x, int64_t n, const float* embeddings, const HashLevels& levels, float* out) {
    const int64_t out_stride = static_cast<int64_t>(levels.count) * F;
    at::parallel_for(0, n, kGrain, [&](int64_t begin, int64_t end) {
        for (int l = 0; l < levels.count; ++l) {
            const HashLevel& level = levels.level[l];
            forward_points<D, F>(x, begin, end, embeddings + level.offset * F, level, out_stride, out + l * F);
        }
    });
}

template <int D, int F>
void grad_x_cpu(const float* x, int64_t n, const float* embeddings, const float* grad_out, const HashLevels& levels,
                float* grad_x) {
    const int64_t out_stride = static_cast<int64_t>(levels.count) * F;
    at::parallel_for(0, n, kGrain, [&](int64_t begin, int64_t end) {
        for (int l = 0; l < levels.count; ++l) {
            const HashLevel& level = levels.level[l];
            grad_x_points<D, F>(x, begin, end, embeddings + level.offset * F, grad_out + l * F, out_stride, level,
                                grad_x);
        }
    });
}

// Workers claim whole levels, finest (costliest) first, from a shared counter: levels own disjoint table rows, so
// no two threads ever add to the same row.
template <int D, int F>
void grad_embeddings_cpu(const float* x, int64_t n, const float* grad_out, const HashLevels& levels,
                         float* grad_embeddings) {
    const int64_t out_stride = static_cast<int64_t>(levels.count) * F;
    const int workers = std::max(1, std::min(at::get_num_threads(), levels.count));
    std::atomic<int> next_claim{0};
    at::parallel_for(0, workers, 1, [&](int64_t begin, int64_t end) {
        for (int64_t worker = begin; worker < end; ++worker) {
            for (int claim = next_claim++; claim < levels.count; claim = next_claim++) {
                const int l = levels.count - 1 - claim;
                const HashLevel& level = levels.level[l];
                scatter_level<D, F>(x, n, grad_out + l * F, out_stride, level, grad_embeddings + level.offset * F);
            }
        }
    });
}

#ifdef WITH_CUDA
// The CUDA kernels read rows of F floats with vector loads, which need the rows aligned to min(F * 4, 16) bytes.
// Fresh tensors always are; a view that starts mid-alignment is copied.
at::Tensor with_aligned_rows(const at::Tensor& t, int features) {
    const auto alignment = static_cast<uintptr_t>(std::min(features * 4, 16));
    return reinterpret_cast<uintptr_t>(t.data_ptr()) % alignment == 0 ? t : t.clone();
}
#endif

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
        const at::Tensor table = with_aligned_rows(embeddings, features);
        hash_encode_forward_cuda(x.data_ptr<float>(), n, dims, table.data_ptr<float>(), features, levels,
                                 out.data_ptr<float>(), at::cuda::getCurrentCUDAStream().stream());
        return out;
    }
#endif
    dispatch_dims_features(dims, features, [&](auto dim, auto feature) {
        constexpr int D = decltype(dim)::value, F = decltype(feature)::value;
        forward_cpu<D, F>(x.data_ptr<float>(), n, embeddings.data_ptr<float>(), levels, out.data_ptr<float>());
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
    at::Tensor grad_x = x_grad ? at::zeros_like(x) : at::empty({0, dims}, x.options());
    if (n == 0) return {grad_embeddings, grad_x};
#ifdef WITH_CUDA
    if (x.is_cuda()) {
        const at::Tensor table = with_aligned_rows(embeddings, features);
        const at::Tensor grad_rows = with_aligned_rows(grad_out, features);
        hash_encode_backward_cuda(x.data_ptr<float>(), table.data_ptr<float>(), grad_rows.data_ptr<float>(), n,
                                  dims, features, levels, grad_embeddings.data_ptr<float>(),
                                  x_grad ? grad_x.data_ptr<float>() : nullptr,
                                  at::cuda::getCurrentCUDAStream().stream());
        return {grad_embeddings, grad_x};
    }
#endif
    dispatch_dims_features(dims, features, [&](auto dim, auto feature) {
        constexpr int D = decltype(dim)::value, F = decltype(feature)::value;
        if (x_grad) {
            grad_x_cpu<D, F>(x.data_ptr<float>(), n, embeddings.data_ptr<float>(), grad_out.data_ptr<float>(), levels,
                             grad_x.data_ptr<float>());
        }
        grad_embeddings_cpu<D, F>(x.data_ptr<float>(), n, grad_out.data_ptr<float>(), levels,
                                  grad_embeddings.data_ptr<float>());
    });
    return {grad_embeddings, grad_x};
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
