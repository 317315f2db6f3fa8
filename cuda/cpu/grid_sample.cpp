// Bilinear / trilinear grid sampling and fused tri-plane sampling: torch glue, argument checks and the CPU kernels.
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <string>
#include <tuple>

#include "fields_core/grid_sample.h"
#include "fields_core/torch_checks.h"

namespace fields {
namespace {

constexpr int64_t kGrain = 1024;  // points per parallel chunk

using GradPair = std::tuple<at::Tensor, at::Tensor>;

// ---- CPU kernels: dense 2-D / 3-D grids -----------------------------------------------------------------------

template <int D>
void scatter_add(const Cell<D>& cell, float grad_value, float* channel_grad) {
    for (int k = 0; k < Cell<D>::kCorners; ++k) channel_grad[cell.offset[k]] += cell.weight[k] * grad_value;
}

// The feature gradient is a scatter-add, and points of one batch element may share texels. To stay race-free
// without atomics or per-thread copies of the (large) gradient, it is split into (batch element, channel block)
// slices: one task owns one slice and walks all of that element's points. Cells are recomputed once per block, so
// blocks are only as small as needed to give every thread a task. The summation order is fixed: deterministic.
struct ChannelBlocks {
    int64_t size;   // channels per block
    int64_t count;  // blocks per batch element
};

ChannelBlocks channel_blocks(int64_t batch, int64_t channels) {
    const int64_t wanted = div_round_up(at::get_num_threads(), std::max<int64_t>(batch, 1));
    const int64_t size = div_round_up(channels, std::clamp<int64_t>(wanted, 1, std::max<int64_t>(channels, 1)));
    return {size, size > 0 ? div_round_up(channels, size) : 0};
}

// Calls task(b, c_begin, c_end) for every (batch element, channel block) slice, in parallel.
template <typename Task>
void for_each_channel_block(const GridShape& s, const Task& task) {
    const ChannelBlocks blocks = channel_blocks(s.batch, s.channels);
    at::parallel_for(0, s.batch * blocks.count, 1, [&](int64_t begin, int64_t end) {
        for (int64_t t = begin; t < end; ++t) {
            const int64_t c0 = (t % blocks.count) * blocks.size;
            task(t / blocks.count, c0, std::min(c0 + blocks.size, s.channels));
        }
    });
}

template <int D>
void grid_forward_cpu(const GridShape& s, const float* features, const float* coords, float* out) {
    const int64_t texels = s.texels(D);
    at::parallel_for(0, s.batch * s.points, kGrain, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
            const Cell<D> cell = make_cell<D>(coords + i * D, s.size, s.align_corners);
            const float* batch_features = features + (i / s.points) * s.channels * texels;
            float* row = out + i * s.channels;
            for (int64_t c = 0; c < s.channels; ++c) row[c] = interpolate<D>(cell, batch_features + c * texels);
        }
    });
}

template <int D>
void grid_coords_grad_cpu(const GridShape& s, const float* features, const float* coords, const float* grad_out,
                          float* grad_coords) {
    const int64_t texels = s.texels(D);
    at::parallel_for(0, s.batch * s.points, kGrain, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
            const Cell<D> cell = make_cell<D>(coords + i * D, s.size, s.align_corners);
            const float* batch_features = features + (i / s.points) * s.channels * texels;
            const float* grad_row = grad_out + i * s.channels;
            float g[D] = {};
            for (int64_t c = 0; c < s.channels; ++c)
                add_coord_grad<D>(cell, batch_features + c * texels, grad_row[c], g);
            for (int a = 0; a < D; ++a) grad_coords[i * D + a] = g[a];
        }
    });
}

template <int D>
void grid_features_grad_cpu(const GridShape& s, const float* coords, const float* grad_out, float* grad_features) {
    const int64_t texels = s.texels(D);
    for_each_channel_block(s, [&](int64_t b, int64_t c0, int64_t c1) {
        float* batch_grad = grad_features + b * s.channels * texels;
        for (int64_t i = b * s.points; i < (b + 1) * s.points; ++i) {
            const Cell<D> cell = make_cell<D>(coords + i * D, s.size, s.align_corners);
            const float* grad_row = grad_out + i * s.channels;
            for (int64_t c = c0; c < c1; ++c) scatter_add<D>(cell, grad_row[c], batch_grad + c * texels);
        }
    });
}

// ---- CPU kernels: tri-planes (one pass over the three planes per point) ---------------------------------------

struct PlaneCells {
    Cell<2> cell[3];
    PlaneCells(const float* xyz, const GridShape& s) {
        for (int p = 0; p < 3; ++p) cell[p] = plane_cell(xyz, p, s);
    }
};

void plane_samples(const PlaneCells& cells, const float* planes, const GridShape& s, int64_t b, int64_t c,
                   float samples[3]) {
    for (int p = 0; p < 3; ++p) samples[p] = interpolate<2>(cells.cell[p], planes + plane_offset(s, b, p, c));
}

void triplane_forward_cpu(const GridShape& s, PlaneReduce reduce, const float* planes, const float* coords,
                          float* out) {
    const int64_t width = triplane_width(s, reduce);
    at::parallel_for(0, s.batch * s.points, kGrain, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
            const int64_t b = i / s.points;
            const PlaneCells cells(coords + 3 * i, s);
            for (int64_t c = 0; c < s.channels; ++c) {
                float samples[3];
                plane_samples(cells, planes, s, b, c, samples);
                write_reduced(reduce, samples, s.channels, c, out + i * width);
            }
        }
    });
}

void triplane_coords_grad_cpu(const GridShape& s, PlaneReduce reduce, const float* planes, const float* coords,
                              const float* grad_out, float* grad_coords) {
    const int64_t width = triplane_width(s, reduce);
    at::parallel_for(0, s.batch * s.points, kGrain, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
            const int64_t b = i / s.points;
            const PlaneCells cells(coords + 3 * i, s);
            float g_plane[3][2] = {};
            for (int64_t c = 0; c < s.channels; ++c) {
                float samples[3], g[3];
                plane_samples(cells, planes, s, b, c, samples);
                plane_sample_grads(reduce, samples, grad_out + i * width, s.channels, c, g);
                for (int p = 0; p < 3; ++p)
                    add_coord_grad<2>(cells.cell[p], planes + plane_offset(s, b, p, c), g[p], g_plane[p]);
            }
            float* g_xyz = grad_coords + 3 * i;
            g_xyz[0] = g_xyz[1] = g_xyz[2] = 0.f;
            for (int p = 0; p < 3; ++p)
                for (int j = 0; j < 2; ++j) g_xyz[plane_axis(p, j)] += g_plane[p][j];
        }
    });
}

void triplane_planes_grad_cpu(const GridShape& s, PlaneReduce reduce, const float* planes, const float* coords,
                              const float* grad_out, float* grad_planes) {
    const int64_t width = triplane_width(s, reduce);
    for_each_channel_block(s, [&](int64_t b, int64_t c0, int64_t c1) {
        for (int64_t i = b * s.points; i < (b + 1) * s.points; ++i) {
            const PlaneCells cells(coords + 3 * i, s);
            for (int64_t c = c0; c < c1; ++c) {
                float samples[3] = {}, g[3];
                if (reduce == PlaneReduce::kProduct) plane_samples(cells, planes, s, b, c, samples);
                plane_sample_grads(reduce, samples, grad_out + i * width, s.channels, c, g);
                for (int p = 0; p < 3; ++p) scatter_add<2>(cells.cell[p], g[p], grad_planes + plane_offset(s, b, p, c));
            }
        }
    });
}

// ---- torch glue ------------------------------------------------------------------------------------------------

// Shape of a problem whose grid sizes are the last `dims` sizes of `grid` (named `name`); they must be non-empty.
GridShape make_shape(const char* op, const char* name, const at::Tensor& grid, int dims, int64_t channels,
                     int64_t points, bool align_corners) {
    GridShape s{};
    s.batch = grid.size(0);
    s.channels = channels;
    s.points = points;
    s.align_corners = align_corners;
    for (int a = 0; a < dims; ++a) {
        s.size[a] = grid.size(grid.dim() - 1 - a);
        FIELDS_CHECK_VALUE(s.size[a] > 0, op, ": argument '", name, "' must have non-empty spatial dimensions, got ",
                           shape_string(grid.sizes()));
    }
    return s;
}

// features [B, C, H, W] or [B, C, D, H, W]; coords [B, N, dims].
GridShape check_grid_inputs(const char* op, const at::Tensor& features, const at::Tensor& coords, int dims,
                            bool align_corners) {
    if (dims == 2) {
        check_tensor(features, op, "features", at::kFloat, {-1, -1, -1, -1});
    } else {
        check_tensor(features, op, "features", at::kFloat, {-1, -1, -1, -1, -1});
    }
    check_tensor(coords, op, "coords", at::kFloat, {features.size(0), -1, dims});
    check_same_device(features, coords, op, "features", "coords");
    return make_shape(op, "features", features, dims, features.size(1), coords.size(1), align_corners);
}

// planes [B, 3, C, H, W]; coords [B, N, 3].
GridShape check_triplane_inputs(const char* op, const at::Tensor& planes, const at::Tensor& coords,
                                bool align_corners) {
    check_tensor(planes, op, "planes", at::kFloat, {-1, 3, -1, -1, -1});
    check_tensor(coords, op, "coords", at::kFloat, {planes.size(0), -1, 3});
    check_same_device(planes, coords, op, "planes", "coords");
    return make_shape(op, "planes", planes, 2, planes.size(2), coords.size(1), align_corners);
}

void check_grad_out(const char* op, const at::Tensor& grad_out, const at::Tensor& coords, int64_t width) {
    check_tensor(grad_out, op, "grad_out", at::kFloat, {coords.size(0), coords.size(1), width});
    check_same_device(coords, grad_out, op, "coords", "grad_out");
}

PlaneReduce parse_reduce(const char* op, const std::string& reduce) {
    FIELDS_CHECK_VALUE(reduce == "sum" || reduce == "product" || reduce == "concat", op,
                       ": argument 'reduce' must be 'sum', 'product' or 'concat', got '", reduce, "'");
    return reduce == "sum" ? PlaneReduce::kSum : (reduce == "product" ? PlaneReduce::kProduct : PlaneReduce::kConcat);
}

#ifdef WITH_CUDA
void* current_stream() { return at::cuda::getCurrentCUDAStream().stream(); }
#endif

template <int D>
at::Tensor grid_sample_forward(const at::Tensor& features, const at::Tensor& coords, bool align_corners) {
    const char* op = D == 2 ? "grid_sample_2d" : "grid_sample_3d";
    const GridShape s = check_grid_inputs(op, features, coords, D, align_corners);
    at::Tensor out = at::empty({s.batch, s.points, s.channels}, features.options());
    if (out.numel() == 0) return out;
#ifdef WITH_CUDA
    if (features.is_cuda()) {
        grid_sample_forward_cuda(D, s, features.data_ptr<float>(), coords.data_ptr<float>(), out.data_ptr<float>(),
                                 current_stream());
        return out;
    }
#endif
    grid_forward_cpu<D>(s, features.data_ptr<float>(), coords.data_ptr<float>(), out.data_ptr<float>());
    return out;
}

// Returns (grad_features, grad_coords); a gradient that is not asked for is returned undefined (None in Python).
template <int D>
GradPair grid_sample_backward(const at::Tensor& features, const at::Tensor& coords, const at::Tensor& grad_out,
                              bool align_corners, bool features_grad, bool coords_grad) {
    const char* op = D == 2 ? "grid_sample_2d_backward" : "grid_sample_3d_backward";
    const GridShape s = check_grid_inputs(op, features, coords, D, align_corners);
    check_grad_out(op, grad_out, coords, s.channels);
    at::Tensor grad_features = features_grad ? at::zeros_like(features) : at::Tensor();
    at::Tensor grad_coords = coords_grad ? at::zeros_like(coords) : at::Tensor();
    if (grad_out.numel() == 0) return {grad_features, grad_coords};
    float* grad_features_ptr = features_grad ? grad_features.data_ptr<float>() : nullptr;
    float* grad_coords_ptr = coords_grad ? grad_coords.data_ptr<float>() : nullptr;
#ifdef WITH_CUDA
    if (features.is_cuda()) {
        grid_sample_backward_cuda(D, s, features.data_ptr<float>(), coords.data_ptr<float>(),
                                  grad_out.data_ptr<float>(), grad_features_ptr, grad_coords_ptr, current_stream());
        return {grad_features, grad_coords};
    }
#endif
    if (grad_coords_ptr)
        grid_coords_grad_cpu<D>(s, features.data_ptr<float>(), coords.data_ptr<float>(), grad_out.data_ptr<float>(),
                                grad_coords_ptr);
    if (grad_features_ptr)
        grid_features_grad_cpu<D>(s, coords.data_ptr<float>(), grad_out.data_ptr<float>(), grad_features_ptr);
    return {grad_features, grad_coords};
}

at::Tensor triplane_sample_forward(const at::Tensor& planes, const at::Tensor& coords, bool align_corners,
                                   const std::string& reduce_name) {
    const char* op = "triplane_sample";
    const GridShape s = check_triplane_inputs(op, planes, coords, align_corners);
    const PlaneReduce reduce = parse_reduce(op, reduce_name);
    at::Tensor out = at::empty({s.batch, s.points, triplane_width(s, reduce)}, planes.options());
    if (out.numel() == 0) return out;
#ifdef WITH_CUDA
    if (planes.is_cuda()) {
        triplane_sample_forward_cuda(s, reduce, planes.data_ptr<float>(), coords.data_ptr<float>(),
                                     out.data_ptr<float>(), current_stream());
        return out;
    }
#endif
    triplane_forward_cpu(s, reduce, planes.data_ptr<float>(), coords.data_ptr<float>(), out.data_ptr<float>());
    return out;
}

GradPair triplane_sample_backward(const at::Tensor& planes, const at::Tensor& coords, const at::Tensor& grad_out,
                                  bool align_corners, const std::string& reduce_name, bool planes_grad,
                                  bool coords_grad) {
    const char* op = "triplane_sample_backward";
    const GridShape s = check_triplane_inputs(op, planes, coords, align_corners);
    const PlaneReduce reduce = parse_reduce(op, reduce_name);
    check_grad_out(op, grad_out, coords, triplane_width(s, reduce));
    at::Tensor grad_planes = planes_grad ? at::zeros_like(planes) : at::Tensor();
    at::Tensor grad_coords = coords_grad ? at::zeros_like(coords) : at::Tensor();
    if (grad_out.numel() == 0) return {grad_planes, grad_coords};
    float* grad_planes_ptr = planes_grad ? grad_planes.data_ptr<float>() : nullptr;
    float* grad_coords_ptr = coords_grad ? grad_coords.data_ptr<float>() : nullptr;
#ifdef WITH_CUDA
    if (planes.is_cuda()) {
        triplane_sample_backward_cuda(s, reduce, planes.data_ptr<float>(), coords.data_ptr<float>(),
                                      grad_out.data_ptr<float>(), grad_planes_ptr, grad_coords_ptr, current_stream());
        return {grad_planes, grad_coords};
    }
#endif
    if (grad_coords_ptr)
        triplane_coords_grad_cpu(s, reduce, planes.data_ptr<float>(), coords.data_ptr<float>(),
                                 grad_out.data_ptr<float>(), grad_coords_ptr);
    if (grad_planes_ptr)
        triplane_planes_grad_cpu(s, reduce, planes.data_ptr<float>(), coords.data_ptr<float>(),
                                 grad_out.data_ptr<float>(), grad_planes_ptr);
    return {grad_planes, grad_coords};
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(fields, m) {
    m.def("grid_sample_2d_forward(Tensor features, Tensor coords, bool align_corners) -> Tensor",
          &grid_sample_forward<2>);
    m.def("grid_sample_2d_backward(Tensor features, Tensor coords, Tensor grad_out, bool align_corners, "
          "bool features_grad, bool coords_grad) -> (Tensor, Tensor)",
          &grid_sample_backward<2>);
    m.def("grid_sample_3d_forward(Tensor features, Tensor coords, bool align_corners) -> Tensor",
          &grid_sample_forward<3>);
    m.def("grid_sample_3d_backward(Tensor features, Tensor coords, Tensor grad_out, bool align_corners, "
          "bool features_grad, bool coords_grad) -> (Tensor, Tensor)",
          &grid_sample_backward<3>);
    m.def("triplane_sample_forward(Tensor planes, Tensor coords, bool align_corners, str reduce) -> Tensor",
          &triplane_sample_forward);
    m.def("triplane_sample_backward(Tensor planes, Tensor coords, Tensor grad_out, bool align_corners, str reduce, "
          "bool planes_grad, bool coords_grad) -> (Tensor, Tensor)",
          &triplane_sample_backward);
}

}  // namespace fields
