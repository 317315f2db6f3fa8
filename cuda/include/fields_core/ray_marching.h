// Ray marching through a cascaded occupancy grid into packed samples. The per-ray walk below is shared by the CPU and
// CUDA kernels; fields/ops/ray_marching.py holds its pure-torch twin, which must give the same samples bit for bit.
//
// The walk, for one ray with interval [t0, t1] = [max(t_min, near), min(t_max, far)]:
//   t = t0 + jitter · dt(t0)
//   while t < t1 and fewer than max_samples are kept:
//       dt = dt(t);  end = min(t + dt, t1);  mid = (t + end) / 2
//       if the cell holding o + mid·d (finest level containing it) is occupied: keep [t, end], t += dt
//       otherwise jump: t += m·dt, with m >= 1 the number of steps whose midpoints lie before the point where the
//           ray leaves that cell — or its whole block of 8³ cells when the block is empty — (or, outside every level,
//           before it enters the outermost box; past the box: stop).
// The jump keeps samples on the lattice t + k·dt and costs one exit computation per empty block or cell, so empty
// space is crossed in O(blocks + cells near the occupied ones) instead of O(steps). Blocks need a resolution
// divisible by 8; otherwise (block_occupied null) the walk goes cell by cell.
//
// Step size dt(t): render_step_size, or with cone_angle > 0 clamp(t · cone_angle, render_step_size, 1e10) (the
// usual cone-step rule). dt is not capped at the cell size: with the cascades doubling in size with distance, the
// usual cone angles (1/256) keep dt below a cell of the level a sample falls in.
#pragma once

#include <cstdint>

#include "fields_core/common.h"
#include "fields_core/exact_float.h"
#include "fields_core/occupancy_grid.h"
#include "fields_core/ray_aabb.h"

namespace fields {

struct MarchParams {
    float step;
    float cone_angle;
    float near_plane;
    float far_plane;
    int max_samples;
};

// Device (or host) pointers of one ray-marching call; jitter may be null (no stratification).
struct MarchInputs {
    const float* rays_o;
    const float* rays_d;
    const float* t_min;
    const float* t_max;
    const float* jitter;
    const uint8_t* bitfield;
    const uint8_t* block_occupied;  // [levels, R/8, R/8, R/8], nonzero where a cell of the 8³ block is occupied;
                                    // null: no blocks (the walk goes cell by cell)
    const float* aabb;
    int64_t n_rays;
    int levels;
    int resolution;
};

constexpr float kMaxStep = 1e10f;

FIELDS_HD float march_step_size(float t, const MarchParams& p) {
    if (p.cone_angle <= 0.f) return p.step;
    return clamp_value(mul_rn(t, p.cone_angle), p.step, kMaxStep);
}

constexpr int kBlockCells = 8;  // cells per axis of an occupancy block

// Distance along the ray at which it leaves the cube of `size`³ cells whose lowest cell is `lower` (one cell: size 1)
// of level `lv`; +inf if it never does (zero direction).
FIELDS_HD float cube_exit_distance(const GridLevel& lv, const int lower[3], int size, const float o[3],
                                   const float d[3]) {
    float exit = INFINITY;
    for (int a = 0; a < 3; ++a) {
        if (d[a] == 0.f) continue;
        const float face = static_cast<float>(lower[a] + (d[a] > 0.f ? size : 0));
        const float plane = add_rn(lv.lo[a], mul_rn(face, lv.cell_size[a]));
        const float t = div_rn(sub_rn(plane, o[a]), d[a]);
        exit = t < exit ? t : exit;
    }
    return exit;
}

// Where the ray leaves the empty space around the empty cell `cell` of level `level`: the cell's 8³ block if the
// whole block is empty, else the cell.
FIELDS_HD float empty_region_exit(const MarchInputs& in, const GridGeometry& g, int level, const int cell[3],
                                  const float o[3], const float d[3]) {
    if (in.block_occupied != nullptr) {
        const int blocks = g.resolution / kBlockCells;
        const int block[3] = {cell[0] / kBlockCells, cell[1] / kBlockCells, cell[2] / kBlockCells};
        if (!in.block_occupied[((static_cast<int64_t>(level) * blocks + block[0]) * blocks + block[1]) * blocks +
                               block[2]]) {
            const int lower[3] = {block[0] * kBlockCells, block[1] * kBlockCells, block[2] * kBlockCells};
            return cube_exit_distance(g.level[level], lower, kBlockCells, o, d);
        }
    }
    return cube_exit_distance(g.level[level], cell, 1, o, d);
}

// Marches ray i; calls emit(k, t_start, t_end) for its k-th kept sample and returns the number kept.
template <typename Emit>
FIELDS_HD int march_ray(const MarchInputs& in, const GridGeometry& g, const MarchParams& p, int64_t i, Emit&& emit) {
    const float o[3] = {in.rays_o[3 * i], in.rays_o[3 * i + 1], in.rays_o[3 * i + 2]};
    const float d[3] = {in.rays_d[3 * i], in.rays_d[3 * i + 1], in.rays_d[3 * i + 2]};
    const GridLevel& outer = g.level[g.levels - 1];
    float box_near, box_far;
    if (!ray_aabb_intersect_one(o, d, outer.lo, outer.hi, box_near, box_far)) return 0;
    const float t_begin = in.t_min[i] > p.near_plane ? in.t_min[i] : p.near_plane;
    const float t_stop = in.t_max[i] < p.far_plane ? in.t_max[i] : p.far_plane;
    const float jitter = in.jitter != nullptr ? in.jitter[i] : 0.f;

    float t = add_rn(t_begin, mul_rn(jitter, march_step_size(t_begin, p)));
    int kept = 0;
    while (t < t_stop && kept < p.max_samples) {
        const float dt = march_step_size(t, p);
        const float t_next = add_rn(t, dt);
        const float t_end = t_next < t_stop ? t_next : t_stop;
        const float mid = mul_rn(add_rn(t, t_end), 0.5f);
        const float x[3] = {add_rn(o[0], mul_rn(mid, d[0])), add_rn(o[1], mul_rn(mid, d[1])),
                            add_rn(o[2], mul_rn(mid, d[2]))};
        const int level = grid_level_of(g, x);
        float skip_to;  // the ray is known to meet only empty space before this distance
        if (level >= 0) {
            int cell[3];
            grid_cell_of(g.level[level], g.resolution, x, cell);
            if (bitfield_test(in.bitfield, grid_cell_index(level, cell, g.resolution))) {
                emit(kept, t, t_end);
                ++kept;
                t = t_next;
                continue;
            }
            skip_to = empty_region_exit(in, g, level, cell, o, d);
        } else {
            if (mid > box_far) break;  // past the outermost box: nothing more to find
            skip_to = box_near;
        }
        // Skip the whole steps whose midpoints come before skip_to (at least the current one).
        const float steps = ceilf(sub_rn(div_rn(sub_rn(skip_to, t), dt), 0.5f));
        const float jumped = add_rn(t, mul_rn(steps > 1.f ? steps : 1.f, dt));
        if (!(jumped > t)) break;  // t is so large that dt no longer moves it
        t = jumped;
    }
    return kept;
}

// CUDA launchers (cuda/cuda/ray_marching.cu). `stream` is a cudaStream_t.
void ray_marching_count_cuda(const MarchInputs& in, const MarchParams& p, int64_t* counts, void* stream);
void ray_marching_fill_cuda(const MarchInputs& in, const MarchParams& p, const int64_t* first_sample,
                            int64_t* ray_indices, float* t_starts, float* t_ends, void* stream);

}  // namespace fields
