// Dense-grid volume rendering: torch glue, argument checks and the CPU kernel (forward only: it renders previews).
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <tuple>

#include "fields_core/dense_grid_render.h"
#include "fields_core/torch_checks.h"

namespace fields {
namespace {

// Rays of an image differ widely in cost (the sky is free, the object is not), and at::parallel_for hands each
// thread one contiguous range: a thread given the empty top half of a frame would idle. So the rays are dealt out
// in runs of kRun, run r to lane r % kLanes, and the threads split the lanes: every thread gets runs from all over.
constexpr int64_t kRun = 32;
constexpr int64_t kLanes = 64;

void dense_grid_render_cpu(const DenseGrid& grid, const DenseRenderOptions& options, const float* rays_o,
                           const float* rays_d, int64_t n, float* rgb, float* opacity, float* depth) {
    at::parallel_for(0, kLanes, 1, [&](int64_t first_lane, int64_t end_lane) {
        for (int64_t lane = first_lane; lane < end_lane; ++lane) {
            for (int64_t run = lane * kRun; run < n; run += kLanes * kRun) {
                for (int64_t i = run; i < std::min(run + kRun, n); ++i) {
                    dense_grid_render_ray(grid, options, rays_o + 3 * i, rays_d + 3 * i, rgb + 3 * i, opacity[i],
                                          depth[i]);
                }
            }
        }
    });
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> dense_grid_render(const at::Tensor& rays_o, const at::Tensor& rays_d,
                                                                 const at::Tensor& values,
                                                                 const at::Tensor& skip_distance,
                                                                 const at::Tensor& aabb, double step,
                                                                 double min_transmittance) {
    constexpr const char* op = "dense_grid_render";
    check_tensor(rays_o, op, "rays_o", at::kFloat, {-1, 3});
    check_tensor(rays_d, op, "rays_d", at::kFloat, {rays_o.size(0), 3});
    check_tensor(values, op, "values", at::kFloat, {-1, -1, -1, 4});
    FIELDS_CHECK_VALUE(values.size(0) >= 2 && values.size(1) >= 2 && values.size(2) >= 2, op,
                       ": argument 'values' needs at least 2 vertices along each axis, got ",
                       shape_string(values.sizes()));
    check_tensor(skip_distance, op, "skip_distance", at::kByte, {-1, -1, -1});
    FIELDS_CHECK_VALUE(skip_distance.numel() > 0, op, ": argument 'skip_distance' needs at least one cell");
    check_tensor(aabb, op, "aabb", at::kFloat, {6});
    FIELDS_CHECK_VALUE(step > 0.0, op, ": argument 'step' must be positive, got ", step);
    check_same_device(rays_o, rays_d, op, "rays_o", "rays_d");
    check_same_device(rays_o, values, op, "rays_o", "values");
    check_same_device(rays_o, skip_distance, op, "rays_o", "skip_distance");
    const at::Tensor box = aabb.cpu();  // six numbers the kernels take by value
    const float* b = box.data_ptr<float>();
    FIELDS_CHECK_VALUE(b[0] < b[3] && b[1] < b[4] && b[2] < b[5], op, ": argument 'aabb' must be (min xyz, max xyz) ",
                       "with min < max on every axis");
    const auto size = [](const at::Tensor& t, int dim) { return static_cast<int32_t>(t.size(dim)); };
    const DenseGrid grid{values.data_ptr<float>(),
                         {size(values, 2), size(values, 1), size(values, 0)},
                         skip_distance.data_ptr<uint8_t>(),
                         {size(skip_distance, 2), size(skip_distance, 1), size(skip_distance, 0)},
                         {b[0], b[1], b[2]},
                         {b[3], b[4], b[5]}};
    const DenseRenderOptions options{static_cast<float>(step), static_cast<float>(min_transmittance)};
    const int64_t n = rays_o.size(0);
    at::Tensor rgb = at::empty({n, 3}, rays_o.options());
    at::Tensor opacity = at::empty({n}, rays_o.options());
    at::Tensor depth = at::empty({n}, rays_o.options());
    if (n == 0) return {rgb, opacity, depth};
#ifdef WITH_CUDA
    if (rays_o.is_cuda()) {
        dense_grid_render_cuda(grid, options, rays_o.data_ptr<float>(), rays_d.data_ptr<float>(), n,
                               rgb.data_ptr<float>(), opacity.data_ptr<float>(), depth.data_ptr<float>(),
                               at::cuda::getCurrentCUDAStream().stream());
        return {rgb, opacity, depth};
    }
#endif
    dense_grid_render_cpu(grid, options, rays_o.data_ptr<float>(), rays_d.data_ptr<float>(), n, rgb.data_ptr<float>(),
                          opacity.data_ptr<float>(), depth.data_ptr<float>());
    return {rgb, opacity, depth};
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(fields, m) {
    m.def("dense_grid_render(Tensor rays_o, Tensor rays_d, Tensor values, Tensor skip_distance, Tensor aabb, "
          "float step, float min_transmittance) -> (Tensor, Tensor, Tensor)",
          &dense_grid_render);
}

}  // namespace fields
