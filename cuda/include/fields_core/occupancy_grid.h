// Cascaded occupancy grid: geometry of the levels, the bitfield layout and the per-cell EMA-max rule. Shared by the
// occupancy-update and ray-marching kernels (CPU and CUDA).
//
// Level l covers the scene box scaled by 2^l about its centre; each level has resolution³ cells. Cell (l, x, y, z)
// has the linear index ((l·R + x)·R + y)·R + z, which is also its bit in the bitfield: bit (i & 7) of byte i >> 3.
#pragma once

#include <cstdint>
#include <cstring>

#include "fields_core/common.h"
#include "fields_core/exact_float.h"

namespace fields {

constexpr int kMaxGridLevels = 16;

struct GridLevel {
    float lo[3];
    float hi[3];
    float cells_per_unit[3];  // resolution / (hi - lo)
    float cell_size[3];       // (hi - lo) / resolution
};

struct GridGeometry {
    GridLevel level[kMaxGridLevels];
    int levels;
    int resolution;
};

// Level 0 is the scene box itself (bit for bit); level l >= 1 is centre ± half-extent · 2^l.
FIELDS_HD void grid_level_box(const float* aabb, int l, float lo[3], float hi[3]) {
    for (int a = 0; a < 3; ++a) {
        if (l == 0) {
            lo[a] = aabb[a];
            hi[a] = aabb[a + 3];
            continue;
        }
        const float centre = mul_rn(add_rn(aabb[a], aabb[a + 3]), 0.5f);
        const float half = mul_rn(sub_rn(aabb[a + 3], aabb[a]), 0.5f);
        const float extent = mul_rn(half, static_cast<float>(1 << l));
        lo[a] = sub_rn(centre, extent);
        hi[a] = add_rn(centre, extent);
    }
}

FIELDS_HD GridGeometry make_grid_geometry(const float* aabb, int levels, int resolution) {
    GridGeometry g;
    g.levels = levels;
    g.resolution = resolution;
    const float res = static_cast<float>(resolution);
    for (int l = 0; l < levels; ++l) {
        GridLevel& lv = g.level[l];
        grid_level_box(aabb, l, lv.lo, lv.hi);
        for (int a = 0; a < 3; ++a) {
            const float width = sub_rn(lv.hi[a], lv.lo[a]);
            lv.cells_per_unit[a] = div_rn(res, width);
            lv.cell_size[a] = div_rn(width, res);
        }
    }
    return g;
}

// Finest level whose box (faces included) contains x, or -1 when x lies outside every level.
FIELDS_HD int grid_level_of(const GridGeometry& g, const float x[3]) {
    for (int l = 0; l < g.levels; ++l) {
        const GridLevel& lv = g.level[l];
        bool inside = true;
        for (int a = 0; a < 3; ++a) inside = inside && x[a] >= lv.lo[a] && x[a] <= lv.hi[a];
        if (inside) return l;
    }
    return -1;
}

// Cell of x inside level `lv`; clamped so that points on the upper faces fall into the last cell.
FIELDS_HD void grid_cell_of(const GridLevel& lv, int resolution, const float x[3], int cell[3]) {
    for (int a = 0; a < 3; ++a) {
        const float u = floorf(mul_rn(sub_rn(x[a], lv.lo[a]), lv.cells_per_unit[a]));
        cell[a] = static_cast<int>(clamp_value(u, 0.f, static_cast<float>(resolution - 1)));
    }
}

FIELDS_HD int64_t grid_cell_index(int level, const int cell[3], int resolution) {
    const int64_t r = resolution;
    return ((level * r + cell[0]) * r + cell[1]) * r + cell[2];
}

FIELDS_HD bool bitfield_test(const uint8_t* bitfield, int64_t index) {
    return (bitfield[index >> 3] >> (index & 7)) & 1;
}

// Byte `byte` of the packed form of binary[0, count). A full byte reads its 8 bools (each 0 or 1) as one
// little-endian word; multiplying by 0x0102040810204080 gathers bool j into bit 56 + j of the product.
FIELDS_HD uint8_t pack_bitfield_byte(const bool* binary, int64_t count, int64_t byte) {
    if (8 * byte + 8 <= count) {
        uint64_t word;
        memcpy(&word, binary + 8 * byte, sizeof(word));
        return static_cast<uint8_t>((word * 0x0102040810204080ull) >> 56);
    }
    uint8_t bits = 0;
    for (int64_t i = 8 * byte; i < count; ++i) {
        if (binary[i]) bits |= static_cast<uint8_t>(1u << (i - 8 * byte));
    }
    return bits;
}

// One step of the decay of a cell's EMA; cells holding a negative value are masked out and never change.
FIELDS_HD float occupancy_decay(float value, float decay) { return value >= 0.f ? value * decay : value; }

// CUDA launchers (cuda/cuda/occupancy_grid.cu). `stream` is a cudaStream_t.
void occupancy_ema_update_cuda(float* occupancy, int64_t cells, const int64_t* indices, const float* values,
                               int64_t count, float decay, void* stream);
void pack_bitfield_cuda(const bool* binary, int64_t count, uint8_t* bitfield, void* stream);

}  // namespace fields
