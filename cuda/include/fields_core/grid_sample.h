// Bilinear / trilinear sampling of dense feature grids and tri-planes, with torch.nn.functional.grid_sample's
// conventions for mode='bilinear', padding_mode='border' (both align_corners settings). Shared by CPU and CUDA.
//
// Layouts (all contiguous float32):
//   2-D grid:  features [B, C, H, W],    coords [B, N, 2] = (x -> W, y -> H)
//   3-D grid:  features [B, C, D, H, W], coords [B, N, 3] = (x -> W, y -> H, z -> D)
//   tri-plane: planes [B, 3, C, H, W],   coords [B, N, 3]; plane 0 is sampled at (x, y), 1 at (x, z), 2 at (y, z)
//   outputs [B, N, C] (tri-plane concat: [B, N, 3C], plane-major).
// Axis 0 of every helper below is the fastest-varying grid axis (W), so a texel's offset is sum_a index[a]*stride[a].
#pragma once

#include "fields_core/common.h"

namespace fields {

// Sizes of one sampling problem; passed by value to CUDA kernels.
struct GridShape {
    int64_t batch;
    int64_t channels;
    int64_t points;        // N, query points per batch element
    int64_t size[3];       // grid sizes per axis, x first: (W, H) or (W, H, D); tri-planes use (W, H)
    bool align_corners;

    FIELDS_HD int64_t texels(int dims) const {
        int64_t t = 1;
        for (int a = 0; a < dims; ++a) t *= size[a];
        return t;
    }
};

// Where a normalised coordinate lands on one axis of `size` texels.
struct AxisSample {
    int64_t lo, hi;  // neighbouring texels (hi == lo at the last texel)
    float frac;      // weight of `hi`; `lo` gets 1 - frac
    float dpos;      // d(texel position) / d(coordinate); 0 where the border clamp is active
};

FIELDS_HD AxisSample axis_sample(float coord, int64_t size, bool align_corners) {
    // Same unnormalisation as torch: align_corners maps -1/+1 to the centres of the corner texels, otherwise to
    // their outer edges.
    const float scale = align_corners ? 0.5f * static_cast<float>(size - 1) : 0.5f * static_cast<float>(size);
    float pos = (coord + 1.f) * scale - (align_corners ? 0.f : 0.5f);
    float dpos = scale;
    const float last = static_cast<float>(size - 1);
    // Border padding. Like torch, a position exactly on the border counts as clamped (zero coordinate gradient).
    // `!(pos > 0)` also sends NaN to texel 0, so no NaN is ever turned into an index.
    if (!(pos > 0.f)) {
        pos = 0.f;
        dpos = 0.f;
    } else if (pos >= last) {
        pos = last;
        dpos = 0.f;
    }
    const float base = floorf(pos);
    AxisSample s;
    s.lo = static_cast<int64_t>(base);
    s.hi = s.lo + 1 < size ? s.lo + 1 : s.lo;
    s.frac = pos - base;
    s.dpos = dpos;
    return s;
}

// The 2^D texels around a sample point, their interpolation weights and the weights' coordinate derivatives.
template <int D>
struct Cell {
    static constexpr int kCorners = 1 << D;
    int64_t offset[kCorners];       // texel offsets inside one channel; corner bit a selects hi on axis a
    float weight[kCorners];
    float dweight[D][kCorners];     // d weight[k] / d coords[a]
};

template <int D>
FIELDS_HD Cell<D> make_cell(const float* coords, const int64_t* size, bool align_corners) {
    AxisSample axis[D];
    for (int a = 0; a < D; ++a) axis[a] = axis_sample(coords[a], size[a], align_corners);
    Cell<D> cell;
    for (int k = 0; k < Cell<D>::kCorners; ++k) {
        float w[D];  // this corner's per-axis weight
        int64_t offset = 0, stride = 1;
        for (int a = 0; a < D; ++a) {
            const bool hi = (k >> a) & 1;
            offset += (hi ? axis[a].hi : axis[a].lo) * stride;
            stride *= size[a];
            w[a] = hi ? axis[a].frac : 1.f - axis[a].frac;
        }
        cell.offset[k] = offset;
        float weight = 1.f;
        for (int a = 0; a < D; ++a) weight *= w[a];
        cell.weight[k] = weight;
        for (int a = 0; a < D; ++a) {
            float others = 1.f;
            for (int b = 0; b < D; ++b)
                if (b != a) others *= w[b];
            cell.dweight[a][k] = ((k >> a) & 1 ? axis[a].dpos : -axis[a].dpos) * others;
        }
    }
    return cell;
}

// Interpolated value of one channel.
template <int D>
FIELDS_HD float interpolate(const Cell<D>& cell, const float* channel) {
    float v = 0.f;
    for (int k = 0; k < Cell<D>::kCorners; ++k) v += cell.weight[k] * channel[cell.offset[k]];
    return v;
}

// Adds grad_value * d(interpolated value)/d(coords) of one channel to grad_coords[0..D).
template <int D>
FIELDS_HD void add_coord_grad(const Cell<D>& cell, const float* channel, float grad_value, float* grad_coords) {
    for (int k = 0; k < Cell<D>::kCorners; ++k) {
        const float v = grad_value * channel[cell.offset[k]];
        for (int a = 0; a < D; ++a) grad_coords[a] += cell.dweight[a][k] * v;
    }
}

// ---- tri-planes ----------------------------------------------------------------------------------------------

enum class PlaneReduce : int { kSum = 0, kProduct = 1, kConcat = 2 };

// Which point axes each plane is sampled at: (x, y), (x, z), (y, z).
FIELDS_HD int plane_axis(int plane, int i) {
    return plane == 0 ? i : (plane == 1 ? 2 * i : 1 + i);
}

// Offset of channel c of plane p of batch element b in a [B, 3, C, H, W] tensor.
FIELDS_HD int64_t plane_offset(const GridShape& s, int64_t b, int p, int64_t c) {
    return ((b * 3 + p) * s.channels + c) * s.texels(2);
}

// Channels per output row: C, or 3C for concat.
FIELDS_HD int64_t triplane_width(const GridShape& s, PlaneReduce reduce) {
    return reduce == PlaneReduce::kConcat ? 3 * s.channels : s.channels;
}

FIELDS_HD Cell<2> plane_cell(const float* xyz, int plane, const GridShape& shape) {
    const float uv[2] = {xyz[plane_axis(plane, 0)], xyz[plane_axis(plane, 1)]};
    return make_cell<2>(uv, shape.size, shape.align_corners);
}

// Writes channel c of the reduced tri-plane feature, given the three plane samples s, into one point's output row.
FIELDS_HD void write_reduced(PlaneReduce reduce, const float s[3], int64_t channels, int64_t c, float* out_row) {
    if (reduce == PlaneReduce::kSum) {
        out_row[c] = s[0] + s[1] + s[2];
    } else if (reduce == PlaneReduce::kProduct) {
        out_row[c] = s[0] * s[1] * s[2];
    } else {
        for (int p = 0; p < 3; ++p) out_row[p * channels + c] = s[p];
    }
}

// Gradient of the loss with respect to each plane sample s[p] of channel c, from one point's grad_out row.
FIELDS_HD void plane_sample_grads(PlaneReduce reduce, const float s[3], const float* grad_row, int64_t channels,
                                  int64_t c, float g[3]) {
    if (reduce == PlaneReduce::kSum) {
        g[0] = g[1] = g[2] = grad_row[c];
    } else if (reduce == PlaneReduce::kProduct) {
        const float go = grad_row[c];
        g[0] = go * s[1] * s[2];
        g[1] = go * s[0] * s[2];
        g[2] = go * s[0] * s[1];
    } else {
        for (int p = 0; p < 3; ++p) g[p] = grad_row[p * channels + c];
    }
}

// CUDA launchers (cuda/cuda/grid_sample.cu). `dims` is 2 or 3; `stream` is a cudaStream_t. grad_features /
// grad_planes must be zero-filled (the kernels scatter-add); either gradient pointer may be null to skip it.
void grid_sample_forward_cuda(int dims, const GridShape& shape, const float* features, const float* coords,
                              float* out, void* stream);
void grid_sample_backward_cuda(int dims, const GridShape& shape, const float* features, const float* coords,
                               const float* grad_out, float* grad_features, float* grad_coords, void* stream);
void triplane_sample_forward_cuda(const GridShape& shape, PlaneReduce reduce, const float* planes,
                                  const float* coords, float* out, void* stream);
void triplane_sample_backward_cuda(const GridShape& shape, PlaneReduce reduce, const float* planes,
                                   const float* coords, const float* grad_out, float* grad_planes,
                                   float* grad_coords, void* stream);

}  // namespace fields
