// Ray–axis-aligned-box intersection (slab test), shared by the CPU and CUDA kernels and by ray marching.
#pragma once

#include <cmath>

#include "fields_core/common.h"
#include "fields_core/exact_float.h"

namespace fields {

// Distance reported for both ends of a ray that misses the box.
constexpr float kMissDistance = 1e10f;

// Intersects the ray o + t·d (t >= 0) with the box [lo, hi] (faces included). On a hit, t_near is clamped to 0 for a
// ray that starts inside, and t_far may be +inf for a degenerate direction. On a miss (or a box behind the ray) both
// are kMissDistance. A zero direction component never divides: the ray is parallel to that slab, so it is inside it
// for every t or for none. A NaN anywhere counts as a miss.
FIELDS_HD bool ray_aabb_intersect_one(const float o[3], const float d[3], const float lo[3], const float hi[3],
                                      float& t_near, float& t_far) {
    float near = 0.f;
    float far = INFINITY;
    bool hit = true;
    for (int a = 0; a < 3; ++a) {
        if (d[a] == 0.f) {
            hit = hit && o[a] >= lo[a] && o[a] <= hi[a];
            continue;
        }
        const float t0 = div_rn(sub_rn(lo[a], o[a]), d[a]);
        const float t1 = div_rn(sub_rn(hi[a], o[a]), d[a]);
        const float enter = t0 < t1 ? t0 : t1;
        const float leave = t0 < t1 ? t1 : t0;
        hit = hit && enter <= leave;  // false only for NaN
        near = enter > near ? enter : near;
        far = leave < far ? leave : far;
    }
    hit = hit && near <= far;
    t_near = hit ? near : kMissDistance;
    t_far = hit ? far : kMissDistance;
    return hit;
}

// CUDA launcher (cuda/cuda/ray_aabb.cu). `stream` is a cudaStream_t.
void ray_aabb_intersect_cuda(const float* rays_o, const float* rays_d, const float* aabb, int64_t n, float* t_near,
                             float* t_far, bool* hit, void* stream);

}  // namespace fields
