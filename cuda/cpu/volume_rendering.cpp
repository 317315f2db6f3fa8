// Packed volume rendering: torch glue, argument checks and the CPU kernels (parallel over rays; each ray owns its
// samples, so no two threads write the same element).
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <cmath>
#include <tuple>

#include "fields_core/torch_checks.h"
#include "fields_core/volume_rendering.h"

namespace fields {
namespace {

constexpr int64_t kRayGrain = 64;
constexpr int kSampleChunk = 16;  // samples per vectorised step of render_ray_forward

DropRules drop_rules(double early_stop_eps, double alpha_threshold) {
    const std::pair<double, const char*> fractions[] = {{early_stop_eps, "early_stop_eps"},
                                                        {alpha_threshold, "alpha_threshold"}};
    for (const auto& [value, name] : fractions) {
        FIELDS_CHECK_VALUE(std::isfinite(value) && value >= 0.0 && value <= 1.0, "volume_render: argument '", name,
                           "' must be in [0, 1], got ", value);
    }
    return DropRules{static_cast<float>(early_stop_eps), static_cast<float>(alpha_threshold)};
}

// Every ray's range must lie inside [0, n_samples). Checked on the CPU only: on CUDA it would cost a device sync, so
// there the kernels skip out-of-range rays instead. Returns whether the rays own every sample (their counts add up to
// n_samples, as rays never share samples), in which case the kernels write all of each per-sample output; false
// when unknown (CUDA).
bool check_packed_info_bounds(const at::Tensor& packed_info, int64_t n_samples, const char* op) {
    if (!packed_info.is_cpu()) return false;
    const int64_t* info = packed_info.data_ptr<int64_t>();
    int64_t owned = 0;
    for (int64_t ray = 0; ray < packed_info.size(0); ++ray) {
        const int64_t first = info[2 * ray], count = info[2 * ray + 1];
        FIELDS_CHECK_VALUE(first >= 0 && count >= 0 && count <= n_samples - first, op,
                           ": argument 'packed_info' row ", ray, " = (", first, ", ", count,
                           ") points outside the ", n_samples, " samples");
        owned += count;
    }
    return owned == n_samples;
}

// Checks the per-sample inputs and packed_info; returns them as raw pointers for the kernels.
PackedRays packed_rays(const at::Tensor& sigmas, const at::Tensor& rgbs, const at::Tensor& t_starts,
                       const at::Tensor& t_ends, const at::Tensor& packed_info, const char* op,
                       bool& every_sample_owned) {
    check_tensor(sigmas, op, "sigmas", at::kFloat, {-1});
    const int64_t n_samples = sigmas.size(0);
    check_tensor(rgbs, op, "rgbs", at::kFloat, {n_samples, 3});
    check_tensor(t_starts, op, "t_starts", at::kFloat, {n_samples});
    check_tensor(t_ends, op, "t_ends", at::kFloat, {n_samples});
    check_tensor(packed_info, op, "packed_info", at::kLong, {-1, 2});
    check_same_device(sigmas, rgbs, op, "sigmas", "rgbs");
    check_same_device(sigmas, t_starts, op, "sigmas", "t_starts");
    check_same_device(sigmas, t_ends, op, "sigmas", "t_ends");
    check_same_device(sigmas, packed_info, op, "sigmas", "packed_info");
    every_sample_owned = check_packed_info_bounds(packed_info, n_samples, op);
    return PackedRays{sigmas.data_ptr<float>(), rgbs.data_ptr<float>(), t_starts.data_ptr<float>(),
                      t_ends.data_ptr<float>(), packed_info.data_ptr<int64_t>(), packed_info.size(0), n_samples};
}

// A per-sample output: filled with `fill` (the value of samples no ray owns) unless the kernels will write all of it.
at::Tensor per_sample_output(const at::Tensor& like, float fill, bool every_sample_owned) {
    return every_sample_owned ? at::empty_like(like) : at::full_like(like, fill);
}

// Returns rgb, opacity, depth, weights and the per-sample transmittance the backward needs.
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> volume_render_forward(
    const at::Tensor& sigmas, const at::Tensor& rgbs, const at::Tensor& t_starts, const at::Tensor& t_ends,
    const at::Tensor& packed_info, double early_stop_eps, double alpha_threshold) {
    bool every_sample_owned;
    const PackedRays in = packed_rays(sigmas, rgbs, t_starts, t_ends, packed_info, "volume_render", every_sample_owned);
    const DropRules rules = drop_rules(early_stop_eps, alpha_threshold);
    at::Tensor rgb = at::empty({in.n_rays, 3}, sigmas.options());
    at::Tensor opacity = at::empty({in.n_rays}, sigmas.options());
    at::Tensor depth = at::empty({in.n_rays}, sigmas.options());
    at::Tensor weights = per_sample_output(sigmas, 0.f, every_sample_owned);
    at::Tensor transmittance = per_sample_output(sigmas, kDroppedSample, every_sample_owned);
    if (in.n_rays == 0) return {rgb, opacity, depth, weights, transmittance};
    const RenderedRays out{rgb.data_ptr<float>(), opacity.data_ptr<float>(), depth.data_ptr<float>(),
                           weights.data_ptr<float>(), transmittance.data_ptr<float>()};
#ifdef WITH_CUDA
    if (sigmas.is_cuda()) {
        volume_render_forward_cuda(in, rules, out, at::cuda::getCurrentCUDAStream().stream());
        return {rgb, opacity, depth, weights, transmittance};
    }
#endif
    at::parallel_for(0, in.n_rays, kRayGrain, [&](int64_t begin, int64_t end) {
        for (int64_t ray = begin; ray < end; ++ray) render_ray_forward<kSampleChunk>(in, rules, ray, out);
    });
    return {rgb, opacity, depth, weights, transmittance};
}

std::tuple<at::Tensor, at::Tensor> volume_render_backward(
    const at::Tensor& sigmas, const at::Tensor& rgbs, const at::Tensor& t_starts, const at::Tensor& t_ends,
    const at::Tensor& packed_info, const at::Tensor& weights, const at::Tensor& transmittance, const at::Tensor& rgb,
    const at::Tensor& opacity, const at::Tensor& depth, const at::Tensor& grad_rgb, const at::Tensor& grad_opacity,
    const at::Tensor& grad_depth) {
    const char* op = "volume_render_backward";
    bool every_sample_owned;
    const PackedRays in = packed_rays(sigmas, rgbs, t_starts, t_ends, packed_info, op, every_sample_owned);
    const auto check_float = [&](const at::Tensor& t, const char* name, std::initializer_list<int64_t> shape) {
        check_tensor(t, op, name, at::kFloat, shape);
        check_same_device(sigmas, t, op, "sigmas", name);
    };
    check_float(weights, "weights", {in.n_samples});
    check_float(transmittance, "transmittance", {in.n_samples});
    check_float(rgb, "rgb", {in.n_rays, 3});
    check_float(opacity, "opacity", {in.n_rays});
    check_float(depth, "depth", {in.n_rays});
    check_float(grad_rgb, "grad_rgb", {in.n_rays, 3});
    check_float(grad_opacity, "grad_opacity", {in.n_rays});
    check_float(grad_depth, "grad_depth", {in.n_rays});
    at::Tensor grad_sigmas = per_sample_output(sigmas, 0.f, every_sample_owned);
    at::Tensor grad_rgbs = per_sample_output(rgbs, 0.f, every_sample_owned);
    if (in.n_rays == 0) return {grad_sigmas, grad_rgbs};
    const RenderGradients grads{weights.data_ptr<float>(),      transmittance.data_ptr<float>(),
                                rgb.data_ptr<float>(),          opacity.data_ptr<float>(),
                                depth.data_ptr<float>(),        grad_rgb.data_ptr<float>(),
                                grad_opacity.data_ptr<float>(), grad_depth.data_ptr<float>(),
                                grad_sigmas.data_ptr<float>(),  grad_rgbs.data_ptr<float>()};
#ifdef WITH_CUDA
    if (sigmas.is_cuda()) {
        volume_render_backward_cuda(in, grads, at::cuda::getCurrentCUDAStream().stream());
        return {grad_sigmas, grad_rgbs};
    }
#endif
    at::parallel_for(0, in.n_rays, kRayGrain, [&](int64_t begin, int64_t end) {
        for (int64_t ray = begin; ray < end; ++ray) render_ray_backward(in, ray, grads);
    });
    return {grad_sigmas, grad_rgbs};
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(fields, m) {
    m.def("volume_render_forward(Tensor sigmas, Tensor rgbs, Tensor t_starts, Tensor t_ends, Tensor packed_info, "
          "float early_stop_eps, float alpha_threshold) -> (Tensor, Tensor, Tensor, Tensor, Tensor)",
          &volume_render_forward);
    m.def("volume_render_backward(Tensor sigmas, Tensor rgbs, Tensor t_starts, Tensor t_ends, Tensor packed_info, "
          "Tensor weights, Tensor transmittance, Tensor rgb, Tensor opacity, Tensor depth, Tensor grad_rgb, "
          "Tensor grad_opacity, Tensor grad_depth) -> (Tensor, Tensor)",
          &volume_render_backward);
}

}  // namespace fields
