// Volume rendering of a dense voxel grid of density and colour, fused into one pass per ray: box intersection,
// fixed-step marching that skips empty cells, trilinear lookup, compositing and early termination. Shared by the
// CPU and CUDA kernels.
//
// The viewer renders its baked preview of a radiance field with it while the camera moves: the generic path (ray
// marching into packed samples, a lookup per sample, packed compositing) writes and reads every sample of every
// ray through memory, which costs more than the lookups themselves; here a sample lives in registers only.
#pragma once

#include <cstdint>

#include "fields_core/common.h"
#include "fields_core/fast_exp.h"
#include "fields_core/ray_aabb.h"

namespace fields {

struct DenseGrid {
    const float* values;          // [D, H, W, 4] vertex values (sigma, r, g, b), z-major as grid_sample_3d reads them
    int32_t size[3];              // vertices along x, y, z (W, H, D); at least 2 each
    const uint8_t* skip_distance; // [C, B, A] cells over the same box: 0 where samples count, else the Chebyshev
                                  // distance (in cells) to the nearest such cell, or a lower bound of it
    int32_t cells[3];             // skip_distance's cells along x, y, z (A, B, C)
    float lo[3], hi[3];           // the box the grid's corner vertices sit on
};

struct DenseRenderOptions {
    float step;              // distance between samples along a ray
    float min_transmittance; // a ray stops once less than this much light passes
};

// Renders one ray o + t·d (d of unit length, so t is a distance): samples at t_near + (k + ½)·step inside the box,
// skipping the samples in cells of non-zero skip distance. Writes the colour (not composited on a background), the
// opacity and the expected depth Σ wᵢ tᵢ.
//
// Empty space is crossed in jumps: a point in a cell of skip distance n stays within n − 1 cells of it (so in
// skipped cells) for (n − 1) cell widths along every axis, so the ray moves on to the first sample beyond that.
FIELDS_HD void dense_grid_render_ray(const DenseGrid& grid, const DenseRenderOptions& options, const float o[3],
                                     const float d[3], float rgb[3], float& opacity, float& depth) {
    rgb[0] = rgb[1] = rgb[2] = 0.f;
    opacity = depth = 0.f;
    float t_near, t_far;
    // A zero direction inside the box would never leave it (t_far = inf): it sees nothing.
    if (!ray_aabb_intersect_one(o, d, grid.lo, grid.hi, t_near, t_far) || !(t_far < INFINITY)) return;
    float vertex_o[3], vertex_d[3], cell_o[3], cell_d[3];  // the ray in vertex and in skip-cell units
    float cell_crossing = INFINITY;  // ray length that crosses one skip cell along some axis
    for (int a = 0; a < 3; ++a) {
        const float extent = grid.hi[a] - grid.lo[a];
        const float to_vertex = (grid.size[a] - 1) / extent, to_cell = grid.cells[a] / extent;
        vertex_o[a] = (o[a] - grid.lo[a]) * to_vertex;
        vertex_d[a] = d[a] * to_vertex;
        cell_o[a] = (o[a] - grid.lo[a]) * to_cell;
        cell_d[a] = d[a] * to_cell;
        if (d[a] != 0.f) cell_crossing = fminf(cell_crossing, 1.f / fabsf(cell_d[a]));
    }
    const int64_t stride_y = grid.size[0], stride_z = int64_t(grid.size[0]) * grid.size[1];
    const int64_t cell_stride_y = grid.cells[0], cell_stride_z = int64_t(grid.cells[0]) * grid.cells[1];
    float transmittance = 1.f;
    for (int64_t k = 0;;) {
        const float t = t_near + (k + 0.5f) * options.step;
        if (!(t < t_far)) break;
        int64_t cell_index = 0;
        for (int a = 0; a < 3; ++a) {
            const int32_t c = clamp_value(int32_t(cell_o[a] + t * cell_d[a]), 0, grid.cells[a] - 1);
            cell_index += c * (a == 0 ? 1 : a == 1 ? cell_stride_y : cell_stride_z);
        }
        const int skip = grid.skip_distance[cell_index];
        if (skip > 0) {
            // 0.999: a jump that lands exactly on a cell face must not cross it by rounding.
            const float beyond = t + 0.999f * (skip - 1) * cell_crossing;
            const float next = ceilf((beyond - t_near) / options.step - 0.5f);
            k = next > k + 1 ? int64_t(next) : k + 1;
            continue;
        }
        int32_t corner[3];
        float frac[3];
        for (int a = 0; a < 3; ++a) {
            const float u = clamp_value(vertex_o[a] + t * vertex_d[a], 0.f, float(grid.size[a] - 1));
            corner[a] = clamp_value(int32_t(u), 0, grid.size[a] - 2);
            frac[a] = u - corner[a];
        }
        float value[4] = {0.f, 0.f, 0.f, 0.f};
        const float* base = grid.values + 4 * (corner[0] + corner[1] * stride_y + corner[2] * stride_z);
        for (int corner_id = 0; corner_id < 8; ++corner_id) {
            const int dx = corner_id & 1, dy = (corner_id >> 1) & 1, dz = corner_id >> 2;
            const float weight = (dx ? frac[0] : 1.f - frac[0]) * (dy ? frac[1] : 1.f - frac[1]) *
                                 (dz ? frac[2] : 1.f - frac[2]);
            const float* v = base + 4 * (dx + dy * stride_y + dz * stride_z);
            for (int c = 0; c < 4; ++c) value[c] += weight * v[c];
        }
        const float alpha = one_minus_exp_neg(positive_part(value[0]) * options.step);
        const float w = transmittance * alpha;
        for (int c = 0; c < 3; ++c) rgb[c] += w * value[1 + c];
        depth += w * t;
        transmittance *= 1.f - alpha;
        if (transmittance < options.min_transmittance) break;
        ++k;
    }
    opacity = 1.f - transmittance;
}

// CUDA launcher (cuda/cuda/dense_grid_render.cu). `stream` is a cudaStream_t.
void dense_grid_render_cuda(const DenseGrid& grid, const DenseRenderOptions& options, const float* rays_o,
                            const float* rays_d, int64_t n, float* rgb, float* opacity, float* depth, void* stream);

}  // namespace fields
