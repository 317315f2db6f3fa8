// Z-buffer triangle rasterizer: per-vertex, per-triangle and per-pixel math shared by the CPU and CUDA kernels.
//
// Conventions (the NeRF / Blender camera of the project's ray generator):
// * camera space has OpenGL axes: the camera looks down -Z, +Y is up; depth = -z_cam (positive in front);
// * pixel (u, v), row 0 at the top, has its centre on the ray ((u + 0.5 - cx) / fx, -(v + 0.5 - cy) / fy, -1).
//
// How a pixel is tested: with camera-space vertices p0, p1, p2 and the pixel ray r, the weights
// w_k = r . (p_i x p_j) (edge (i, j) opposite vertex k) are the scalar triple products of the ray with each edge.
// They are linear in the pixel position (2D homogeneous rasterization), their signs tell whether the ray passes
// inside the triangle, and w_k / (w0 + w1 + w2) are the exact 3D barycentrics of the ray's hit point, hence
// perspective-correct. The hit depth is interpolated with them, and keeping only hits with depth >= near clips
// the triangle exactly against the near plane per pixel, so triangles crossing it are drawn in part.
//
// Watertightness: an edge shared by two triangles is evaluated on the same two camera-space vertices taken in
// the same order (lower vertex index first, the result negated when the triangle walks the edge the other way),
// so both triangles see exactly opposite weights and a pixel centre on the edge is inside at least one of them
// (the inside test is inclusive). The z-buffer then keeps the nearest hit, the lower triangle id at equal depth.
#pragma once

#include "fields_core/common.h"
#include "fields_core/exact_float.h"

namespace fields {

// Per-triangle record: the three edge vectors (p_i x p_j, 3 floats each, edge k opposite vertex k), then the
// depths of the three vertices.
constexpr int kTriangleSetupSize = 12;
// Bounding-box slack in pixels: the box is a conservative cull only; the per-pixel test decides coverage.
constexpr float kBoxSlack = 1e-2f;

struct Intrinsics {
    float fx, fy, cx, cy;
};

// The edge math uses the separately and correctly rounded arithmetic of exact_float.h (add_rn, sub_rn, mul_rn,
// div_rn). It must round the same way for every triangle sharing
// an edge (see Watertightness above), so on the device it is kept out of nvcc's free fusing into FMAs (which could
// differ between kernels) and out of --use_fast_math's approximate division; the coverage test then also rounds
// exactly like the CPU build and the reference.

// Camera-space point of a world point; w2c is a row-major [3, 4] world-to-camera matrix.
FIELDS_HD void to_camera(const float* w2c, const float* p, float* out) {
    for (int row = 0; row < 3; ++row) {
        const float* m = w2c + 4 * row;
        out[row] = add_rn(add_rn(add_rn(mul_rn(m[0], p[0]), mul_rn(m[1], p[1])), mul_rn(m[2], p[2])), m[3]);
    }
}

// Direction components of the ray through the centre of pixel column u / row v (its z component is -1).
FIELDS_HD float pixel_ray_x(int64_t u, const Intrinsics& k) {
    return div_rn(sub_rn(add_rn(static_cast<float>(u), 0.5f), k.cx), k.fx);
}
FIELDS_HD float pixel_ray_y(int64_t v, const Intrinsics& k) {
    return -div_rn(sub_rn(add_rn(static_cast<float>(v), 0.5f), k.cy), k.fy);
}

// Edge vector a x b for the edge between vertices ia and ib, always computed from the lower index first.
FIELDS_HD void edge_vector(const float* cam_vertices, int64_t ia, int64_t ib, float* out) {
    const bool forward = ia < ib;
    const float* a = cam_vertices + 3 * (forward ? ia : ib);
    const float* b = cam_vertices + 3 * (forward ? ib : ia);
    const float c[3] = {sub_rn(mul_rn(a[1], b[2]), mul_rn(a[2], b[1])), sub_rn(mul_rn(a[2], b[0]), mul_rn(a[0], b[2])),
                        sub_rn(mul_rn(a[0], b[1]), mul_rn(a[1], b[0]))};
    for (int i = 0; i < 3; ++i) out[i] = forward ? c[i] : -c[i];
}

// Screen-space (continuous pixel coordinates) projection of a camera-space point at the given depth.
FIELDS_HD void project(const float* p, float depth, const Intrinsics& k, float* x, float* y) {
    *x = k.cx + k.fx * p[0] / depth;
    *y = k.cy - k.fy * p[1] / depth;
}

// Inclusive pixel range [lo, hi] whose centres (i + 0.5) lie in [min_coord, max_coord], clipped to [0, size - 1].
// Returns false when empty (also for NaN bounds).
FIELDS_HD bool pixel_range(float min_coord, float max_coord, int64_t size, int* lo, int* hi) {
    float first = ceilf(min_coord - 0.5f - kBoxSlack);
    float last = floorf(max_coord - 0.5f + kBoxSlack);
    if (!(first <= last)) return false;
    first = first < 0.f ? 0.f : first;
    last = last > static_cast<float>(size - 1) ? static_cast<float>(size - 1) : last;
    if (first > last) return false;
    *lo = static_cast<int>(first);
    *hi = static_cast<int>(last);
    return true;
}

// Fills the triangle's setup record and its pixel bounding box {u_lo, u_hi, v_lo, v_hi}. The box covers the part of
// the triangle at depth >= near (the vertices in front and the points where edges cross the near plane); a
// triangle wholly behind the near plane or outside the image gets an empty box (u_lo > u_hi).
FIELDS_HD void setup_triangle(const float* cam_vertices, const int64_t* face, const Intrinsics& k, float near,
                              int64_t width, int64_t height, float* setup, int* box) {
    const float* p[3] = {cam_vertices + 3 * face[0], cam_vertices + 3 * face[1], cam_vertices + 3 * face[2]};
    for (int e = 0; e < 3; ++e) edge_vector(cam_vertices, face[(e + 1) % 3], face[(e + 2) % 3], setup + 3 * e);
    for (int i = 0; i < 3; ++i) setup[9 + i] = -p[i][2];

    float min_x = INFINITY, max_x = -INFINITY, min_y = INFINITY, max_y = -INFINITY;
    auto include = [&](const float* q, float depth) {
        float x, y;
        project(q, depth, k, &x, &y);
        min_x = fminf(min_x, x), max_x = fmaxf(max_x, x), min_y = fminf(min_y, y), max_y = fmaxf(max_y, y);
    };
    for (int i = 0; i < 3; ++i) {
        const float* a = p[i];
        const float* b = p[(i + 1) % 3];
        const float da = -a[2], db = -b[2];
        if (da >= near) include(a, da);
        if ((da >= near) != (db >= near)) {  // the edge crosses the near plane: include the crossing point
            const float t = (near - da) / (db - da);
            const float q[3] = {a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1]), -near};
            include(q, near);
        }
    }
    box[0] = 1, box[1] = 0, box[2] = 1, box[3] = 0;  // empty unless both ranges below are not
    int u_lo, u_hi, v_lo, v_hi;
    if (!pixel_range(min_x, max_x, width, &u_lo, &u_hi) || !pixel_range(min_y, max_y, height, &v_lo, &v_hi)) return;
    box[0] = u_lo, box[1] = u_hi, box[2] = v_lo, box[3] = v_hi;
}

// The edge weights w_e = r . (edge vector e) of the pixel ray r = (rx, ry, -1).
FIELDS_HD void edge_weights(const float* setup, float rx, float ry, float* w) {
    for (int e = 0; e < 3; ++e) {
        w[e] = sub_rn(add_rn(mul_rn(rx, setup[3 * e]), mul_rn(ry, setup[3 * e + 1])), setup[3 * e + 2]);
    }
}

// Barycentrics of the ray's hit on the triangle's plane: the weights over their sum.
FIELDS_HD void barycentrics(const float* w, float* bary) {
    const float sum = w[0] + w[1] + w[2];
    for (int i = 0; i < 3; ++i) bary[i] = w[i] / sum;
}

// Tests the pixel ray (rx, ry, -1) against a triangle. On a hit at depth >= near, writes its depth (the vertex
// depths blended with the perspective-correct barycentrics w / sum) and returns true. Both windings are drawn; a
// triangle seen exactly edge-on is not.
FIELDS_HD bool hit_triangle(const float* setup, float rx, float ry, float near, float* depth) {
    float w[3];
    edge_weights(setup, rx, ry, w);
    const float sum = w[0] + w[1] + w[2];
    const bool inside = (sum > 0.f && w[0] >= 0.f && w[1] >= 0.f && w[2] >= 0.f) ||
                        (sum < 0.f && w[0] <= 0.f && w[1] <= 0.f && w[2] <= 0.f);
    if (!inside) return false;
    float bary[3];  // normalised first: blending the raw weights (cubic in the coordinates) overflows far sooner
    barycentrics(w, bary);
    *depth = bary[0] * setup[9] + bary[1] * setup[10] + bary[2] * setup[11];
    return *depth >= near;  // also rejects hits behind the camera (negative depth) and NaN
}

// Colour of the pixel ray (rx, ry, -1) on a triangle that it hits: the vertex colours blended with the barycentrics.
FIELDS_HD void hit_color(const float* setup, const float* colors, const int64_t* face, float rx, float ry,
                         float* rgb) {
    float w[3], bary[3];
    edge_weights(setup, rx, ry, w);
    barycentrics(w, bary);
    const float* c0 = colors + 3 * face[0];
    const float* c1 = colors + 3 * face[1];
    const float* c2 = colors + 3 * face[2];
    for (int i = 0; i < 3; ++i) rgb[i] = bary[0] * c0[i] + bary[1] * c1[i] + bary[2] * c2[i];
}

// CUDA launcher (cuda/cuda/rasterize.cu). Scratch buffers come from the caller: cam_vertices [V, 3],
// setup [F, kTriangleSetupSize], boxes [F, 4] int32, keys [H * W] 64-bit z-buffer. `stream` is a cudaStream_t.
void rasterize_forward_cuda(const float* vertices, int64_t num_vertices, const int64_t* faces, int64_t num_faces,
                            const float* colors, const float* w2c, Intrinsics intrinsics, int64_t width,
                            int64_t height, float near, float* cam_vertices, float* setup, int* boxes,
                            unsigned long long* keys, float* rgb, float* depth, int64_t* triangle_id, void* stream);

}  // namespace fields
