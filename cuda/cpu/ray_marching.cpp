// Ray marching through a cascaded occupancy grid: torch glue, argument checks and the CPU kernel. Two passes over the
// rays: count the kept samples of each ray, turn the counts into offsets (exclusive cumsum), then write the samples.
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <optional>
#include <tuple>
#include <vector>

#include "fields_core/ray_marching.h"
#include "fields_core/torch_checks.h"

namespace fields {
namespace {

constexpr const char* kOp = "ray_marching";
constexpr int64_t kMaxResolution = 1024;
constexpr int64_t kRaysPerBlock = 256;

using Samples = std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor>;

// Offsets of each ray's first sample, (first, count) pairs and the total from the per-ray counts.
struct Layout {
    at::Tensor first_sample;
    at::Tensor packed_info;
    int64_t total;
};

Layout layout_of(const at::Tensor& counts) {
    const int64_t n = counts.size(0);
    at::Tensor first_sample = at::cumsum(counts, 0) - counts;
    const int64_t total = n > 0 ? (first_sample[n - 1] + counts[n - 1]).item<int64_t>() : 0;
    return {first_sample, at::stack({first_sample, counts}, 1), total};
}

// The CPU marches each ray once: while counting, each block of kRaysPerBlock rays keeps its (t_start, t_end) pairs in
// a buffer of its own; once the offsets are known the buffers are copied into place (CUDA marches twice instead).
using BlockBuffers = std::vector<std::vector<float>>;

BlockBuffers march_blocks_cpu(const MarchInputs& in, const MarchParams& p, int64_t* counts) {
    const GridGeometry g = make_grid_geometry(in.aabb, in.levels, in.resolution);
    const int64_t blocks = div_round_up(in.n_rays, kRaysPerBlock);
    BlockBuffers found(blocks);
    // Rays differ widely in cost, and on a shared machine a thread may stall: threads claim blocks one at a time.
    std::atomic<int64_t> next_block{0};
    at::parallel_for(0, at::get_num_threads(), 1, [&](int64_t, int64_t) {
        for (int64_t b = next_block++; b < blocks; b = next_block++) {
            std::vector<float>& buffer = found[b];
            for (int64_t i = b * kRaysPerBlock; i < std::min(in.n_rays, (b + 1) * kRaysPerBlock); ++i) {
                counts[i] = march_ray(in, g, p, i, [&](int, float t_start, float t_end) {
                    buffer.push_back(t_start);
                    buffer.push_back(t_end);
                });
            }
        }
    });
    return found;
}

void copy_blocks_cpu(const BlockBuffers& found, int64_t n_rays, const int64_t* first_sample, const int64_t* counts,
                     int64_t* ray_indices, float* t_starts, float* t_ends) {
    at::parallel_for(0, static_cast<int64_t>(found.size()), 1, [&](int64_t begin, int64_t end) {
        for (int64_t b = begin; b < end; ++b) {
            const float* pair = found[b].data();
            for (int64_t i = b * kRaysPerBlock; i < std::min(n_rays, (b + 1) * kRaysPerBlock); ++i) {
                for (int64_t k = first_sample[i]; k < first_sample[i] + counts[i]; ++k, pair += 2) {
                    ray_indices[k] = i;
                    t_starts[k] = pair[0];
                    t_ends[k] = pair[1];
                }
            }
        }
    });
}

Samples ray_marching_cpu(const MarchInputs& in, const MarchParams& p, const at::TensorOptions& options) {
    at::Tensor counts = at::empty({in.n_rays}, options.dtype(at::kLong));
    const BlockBuffers found = march_blocks_cpu(in, p, counts.data_ptr<int64_t>());
    const Layout layout = layout_of(counts);
    at::Tensor ray_indices = at::empty({layout.total}, options.dtype(at::kLong));
    at::Tensor t_starts = at::empty({layout.total}, options);
    at::Tensor t_ends = at::empty({layout.total}, options);
    copy_blocks_cpu(found, in.n_rays, layout.first_sample.data_ptr<int64_t>(), counts.data_ptr<int64_t>(),
                    ray_indices.data_ptr<int64_t>(), t_starts.data_ptr<float>(), t_ends.data_ptr<float>());
    return {ray_indices, t_starts, t_ends, layout.packed_info};
}

#ifdef WITH_CUDA
// One thread per ray, twice: count the samples, then (offsets known) march again and write them.
Samples ray_marching_cuda(const MarchInputs& in, const MarchParams& p, const at::TensorOptions& options) {
    const auto stream = at::cuda::getCurrentCUDAStream().stream();
    at::Tensor counts = at::empty({in.n_rays}, options.dtype(at::kLong));
    if (in.n_rays > 0) ray_marching_count_cuda(in, p, counts.data_ptr<int64_t>(), stream);
    const Layout layout = layout_of(counts);
    at::Tensor ray_indices = at::empty({layout.total}, options.dtype(at::kLong));
    at::Tensor t_starts = at::empty({layout.total}, options);
    at::Tensor t_ends = at::empty({layout.total}, options);
    if (layout.total > 0) {
        ray_marching_fill_cuda(in, p, layout.first_sample.data_ptr<int64_t>(), ray_indices.data_ptr<int64_t>(),
                               t_starts.data_ptr<float>(), t_ends.data_ptr<float>(), stream);
    }
    return {ray_indices, t_starts, t_ends, layout.packed_info};
}
#endif

void check_grid(int64_t levels, int64_t resolution, const at::Tensor& bitfield, const at::Tensor& aabb) {
    FIELDS_CHECK_VALUE(levels >= 1 && levels <= kMaxGridLevels, kOp, ": argument 'levels' must be in [1, ",
                       kMaxGridLevels, "], got ", levels);
    FIELDS_CHECK_VALUE(resolution >= 1 && resolution <= kMaxResolution, kOp, ": argument 'resolution' must be in [1, ",
                       kMaxResolution, "], got ", resolution);
    const int64_t cells = levels * resolution * resolution * resolution;
    check_tensor(bitfield, kOp, "bitfield", at::kByte, {div_round_up(cells, 8)});
    check_tensor(aabb, kOp, "aabb", at::kFloat, {6});
}

// Per 8³ block of cells, nonzero where any of its cells is occupied (see march_ray); undefined when the resolution is
// not a multiple of 8. A byte of the bitfield holds 8 cells along z, so a block is 8 × 8 bytes: a max over them.
// Recomputed on every call (a 256 KB read at 128³): it can never disagree with the bitfield it is read with.
at::Tensor block_occupancy(const at::Tensor& bitfield, int64_t levels, int64_t resolution) {
    if (resolution % kBlockCells != 0) return at::Tensor();
    const int64_t blocks = resolution / kBlockCells;
    return bitfield.view({levels, blocks, kBlockCells, blocks, kBlockCells, blocks}).amax({2, 4}).contiguous();
}

MarchParams make_params(double step, double cone_angle, int64_t max_samples, double near_plane, double far_plane) {
    FIELDS_CHECK_VALUE(std::isfinite(step) && step > 0.0, kOp, ": argument 'render_step_size' must be positive, got ",
                       step);
    FIELDS_CHECK_VALUE(std::isfinite(cone_angle) && cone_angle >= 0.0, kOp,
                       ": argument 'cone_angle' must be >= 0, got ", cone_angle);
    FIELDS_CHECK_VALUE(max_samples >= 0 && max_samples <= std::numeric_limits<int>::max(), kOp,
                       ": argument 'max_samples_per_ray' must be a non-negative int32, got ", max_samples);
    return MarchParams{static_cast<float>(step), static_cast<float>(cone_angle), static_cast<float>(near_plane),
                       static_cast<float>(far_plane), static_cast<int>(max_samples)};
}

Samples ray_marching(
    const at::Tensor& rays_o, const at::Tensor& rays_d, const at::Tensor& t_min, const at::Tensor& t_max,
    const std::optional<at::Tensor>& jitter, const at::Tensor& bitfield, const at::Tensor& aabb, int64_t levels,
    int64_t resolution, double render_step_size, double cone_angle, int64_t max_samples_per_ray, double near_plane,
    double far_plane) {
    check_tensor(rays_o, kOp, "rays_o", at::kFloat, {-1, 3});
    const int64_t n = rays_o.size(0);
    check_tensor(rays_d, kOp, "rays_d", at::kFloat, {n, 3});
    check_tensor(t_min, kOp, "t_min", at::kFloat, {n});
    check_tensor(t_max, kOp, "t_max", at::kFloat, {n});
    if (jitter.has_value()) check_tensor(*jitter, kOp, "jitter", at::kFloat, {n});
    check_grid(levels, resolution, bitfield, aabb);
    check_same_device(rays_o, rays_d, kOp, "rays_o", "rays_d");
    check_same_device(rays_o, t_min, kOp, "rays_o", "t_min");
    check_same_device(rays_o, t_max, kOp, "rays_o", "t_max");
    check_same_device(rays_o, bitfield, kOp, "rays_o", "bitfield");
    check_same_device(rays_o, aabb, kOp, "rays_o", "aabb");
    if (jitter.has_value()) check_same_device(rays_o, *jitter, kOp, "rays_o", "jitter");
    const MarchParams params = make_params(render_step_size, cone_angle, max_samples_per_ray, near_plane, far_plane);
    const at::Tensor blocks = block_occupancy(bitfield, levels, resolution);
    const MarchInputs in{rays_o.data_ptr<float>(),
                         rays_d.data_ptr<float>(),
                         t_min.data_ptr<float>(),
                         t_max.data_ptr<float>(),
                         jitter.has_value() ? jitter->data_ptr<float>() : nullptr,
                         bitfield.data_ptr<uint8_t>(),
                         blocks.defined() ? blocks.data_ptr<uint8_t>() : nullptr,
                         aabb.data_ptr<float>(),
                         n,
                         static_cast<int>(levels),
                         static_cast<int>(resolution)};
#ifdef WITH_CUDA
    if (rays_o.is_cuda()) return ray_marching_cuda(in, params, rays_o.options());
#endif
    return ray_marching_cpu(in, params, rays_o.options());
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(fields, m) {
    m.def("ray_marching(Tensor rays_o, Tensor rays_d, Tensor t_min, Tensor t_max, Tensor? jitter, Tensor bitfield, "
          "Tensor aabb, int levels, int resolution, float render_step_size, float cone_angle, "
          "int max_samples_per_ray, float near_plane, float far_plane) -> (Tensor, Tensor, Tensor, Tensor)",
          &ray_marching);
}

}  // namespace fields
