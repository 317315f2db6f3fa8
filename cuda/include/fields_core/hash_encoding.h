// Multiresolution hash encoding (Instant-NGP): per-level grid lookup shared by the CPU and CUDA kernels.
//
// Convention (the same as fields/ops/hash_encoding.py::hash_encode_reference, which is the specification):
// * x is clamped to [0, 1]^D and scaled to p = x * res; grid vertices sit at the integer points 0..res of every
//   axis, so a level has (res + 1)^D vertices. The cell of p is floor(p), capped at res - 1 so that x = 1 lies on
//   the upper face of the last cell.
// * A level whose (res + 1)^D vertices fit in its table indexes them densely (x fastest); a finer level hashes
//   vertex v to (v_0 * 1 XOR v_1 * 2654435761 XOR v_2 * 805459861) mod size, in uint32 arithmetic, size a power
//   of two.
// * The 2^D corner features are blended with (bi/tri)linear weights. Corner k takes the upper vertex along axis d
//   when bit d of k is set.
#pragma once

#include <type_traits>

#include "fields_core/common.h"

// Fully unrolled corner loops let the compiler resolve every corner's bit pattern at compile time.
#if defined(__CUDACC__)
#define FIELDS_HASH_UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define FIELDS_HASH_UNROLL _Pragma("GCC unroll 8")
#else
#define FIELDS_HASH_UNROLL
#endif

namespace fields {

constexpr int kHashMaxLevels = 64;

// One level's table inside the embeddings matrix.
struct HashLevel {
    int64_t offset;       // first row of the level's table in `embeddings`
    uint32_t resolution;  // cells per axis
    uint32_t size;        // rows in the table
    uint32_t dense;       // 1: direct indexing; 0: spatial hash (size is a power of two)
    float scale;          // resolution as a float: p = x * scale
};

struct HashLevels {
    HashLevel level[kHashMaxLevels];
    int count;
};

// The grid cell holding one point at one level: the per-axis index terms of its lower and upper vertices, the
// interpolation fractions, and the derivative of the fraction with respect to x (0 where x was clamped).
template <int D>
struct HashCell {
    uint32_t term[D][2];  // dense: vertex * stride; hashed: vertex * prime. Combined with + or ^ respectively.
    float frac[D];
    float dfrac_dx[D];
};

// NaN is sent to 0 (the comparisons fail) so that no kernel ever casts NaN to an integer.
FIELDS_HD float clamp_unit(float v) { return v >= 0.f ? (v <= 1.f ? v : 1.f) : 0.f; }

template <int D>
FIELDS_HD HashCell<D> locate_cell(const float* x, const HashLevel& level) {
    HashCell<D> cell;
    uint32_t stride = 1;
    FIELDS_HASH_UNROLL
    for (int d = 0; d < D; ++d) {
        const float p = clamp_unit(x[d]) * level.scale;
        uint32_t lower = static_cast<uint32_t>(floorf(p));
        if (lower >= level.resolution) lower = level.resolution - 1;
        cell.frac[d] = p - static_cast<float>(lower);
        cell.dfrac_dx[d] = (x[d] >= 0.f && x[d] <= 1.f) ? level.scale : 0.f;
        const uint32_t prime = d == 0 ? 1u : (d == 1 ? 2654435761u : 805459861u);
        const uint32_t factor = level.dense ? stride : prime;
        cell.term[d][0] = lower * factor;
        cell.term[d][1] = (lower + 1) * factor;
        stride *= level.resolution + 1;
    }
    return cell;
}

// Row of corner k (relative to the level's offset).
template <int D>
FIELDS_HD uint32_t corner_row(const HashCell<D>& cell, const HashLevel& level, int k) {
    uint32_t index = cell.term[0][k & 1];
    if (level.dense) {
        FIELDS_HASH_UNROLL
        for (int d = 1; d < D; ++d) index += cell.term[d][(k >> d) & 1];
        return index;
    }
    FIELDS_HASH_UNROLL
    for (int d = 1; d < D; ++d) index ^= cell.term[d][(k >> d) & 1];
    return index & (level.size - 1);
}

// Interpolation weight of corner k.
template <int D>
FIELDS_HD float corner_weight(const HashCell<D>& cell, int k) {
    float w = 1.f;
    FIELDS_HASH_UNROLL
    for (int d = 0; d < D; ++d) w *= ((k >> d) & 1) ? cell.frac[d] : 1.f - cell.frac[d];
    return w;
}

// Gradient with respect to x of the interpolation sum_k weight_k * value_k, given the value of every corner: along
// axis a it is the difference between the upper and lower face, interpolated over the other axes.
template <int D>
FIELDS_HD void interpolation_gradient(const HashCell<D>& cell, const float* corner_value, float* d_dx) {
    FIELDS_HASH_UNROLL
    for (int a = 0; a < D; ++a) {
        float sum = 0.f;
        FIELDS_HASH_UNROLL
        for (int k = 0; k < (1 << D); ++k) {
            if ((k >> a) & 1) continue;
            float w = 1.f;
            FIELDS_HASH_UNROLL
            for (int d = 0; d < D; ++d) {
                if (d != a) w *= ((k >> d) & 1) ? cell.frac[d] : 1.f - cell.frac[d];
            }
            sum += w * (corner_value[k | (1 << a)] - corner_value[k]);
        }
        d_dx[a] = sum * cell.dfrac_dx[a];
    }
}

// Calls body(std::integral_constant<int, D>{}, std::integral_constant<int, F>{}) for the runtime dims (2 or 3) and
// features (1, 2, 4 or 8; validated by the caller), so that kernels are compiled for each combination.
template <typename Body>
void dispatch_dims_features(int dims, int features, Body&& body) {
    auto with_features = [&](auto dim) {
        switch (features) {
            case 1: return body(dim, std::integral_constant<int, 1>{});
            case 2: return body(dim, std::integral_constant<int, 2>{});
            case 4: return body(dim, std::integral_constant<int, 4>{});
            default: return body(dim, std::integral_constant<int, 8>{});
        }
    };
    if (dims == 2) return with_features(std::integral_constant<int, 2>{});
    return with_features(std::integral_constant<int, 3>{});
}

// CUDA launchers (cuda/cuda/hash_encoding.cu). `stream` is a cudaStream_t. `out` is [n, levels.count * features];
// `grad_embeddings` must be zeroed by the caller, as must `grad_x` ([n, dims]) unless it is null (not wanted).
void hash_encode_forward_cuda(const float* x, int64_t n, int dims, const float* embeddings, int features,
                              const HashLevels& levels, float* out, void* stream);
void hash_encode_backward_cuda(const float* x, const float* embeddings, const float* grad_out, int64_t n, int dims,
                               int features, const HashLevels& levels, float* grad_embeddings, float* grad_x,
                               void* stream);

}  // namespace fields
