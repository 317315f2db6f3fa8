// Packed volume rendering: front-to-back compositing of each ray's samples, written once per ray and shared by the
// CPU and CUDA kernels, so the forward and backward passes (on both backends) walk a ray by exactly the same rule.
//
// For sample j with optical depth tau_j = max(sigma_j, 0) * max(t_end_j - t_start_j, 0):
//   alpha_j = 1 - exp(-tau_j),  T_j = exp(-sum_{k<j} tau_k),  w_j = T_j * alpha_j.
// A sample with alpha_j < alpha_threshold is skipped: treated as alpha = 0 (no weight, no attenuation).
// Once T_j < early_stop_eps, sample j and the rest of the ray contribute nothing.
// Per ray: rgb = sum w_j c_j, opacity = sum w_j, depth = sum w_j (t_start_j + t_end_j) / 2 (not normalised).
#pragma once

#include "fields_core/common.h"

namespace fields {

// Read-only inputs. Ray i owns samples packed_info[2i] .. packed_info[2i] + packed_info[2i+1] - 1, in increasing t.
struct PackedRays {
    const float* sigmas;          // [n_samples]
    const float* rgbs;            // [n_samples, 3]
    const float* t_starts;        // [n_samples]
    const float* t_ends;          // [n_samples]
    const int64_t* packed_info;   // [n_rays, 2]: first sample, sample count
    int64_t n_rays;
    int64_t n_samples;
    float early_stop_eps;
    float alpha_threshold;
};

// Forward outputs. rgb/opacity/depth are written for every ray; weights only for contributing samples (the caller
// zero-fills it).
struct RenderedRays {
    float* rgb;      // [n_rays, 3]
    float* opacity;  // [n_rays]
    float* depth;    // [n_rays]
    float* weights;  // [n_samples]
};

// Backward inputs (the forward totals and the gradients of the loss with respect to them) and outputs. grad_sigmas
// and grad_rgbs are written only for contributing samples (the caller zero-fills them).
struct RenderGradients {
    const float* rgb;           // [n_rays, 3] forward outputs
    const float* opacity;       // [n_rays]
    const float* depth;         // [n_rays]
    const float* grad_rgb;      // [n_rays, 3]
    const float* grad_opacity;  // [n_rays]
    const float* grad_depth;    // [n_rays]
    float* grad_sigmas;         // [n_samples]
    float* grad_rgbs;           // [n_samples, 3]
};

// The ray's sample range, empty when it falls outside [0, n_samples). The CPU glue rejects such input before any
// kernel runs; this guard keeps the CUDA kernels memory-safe without a host sync to validate on the device.
FIELDS_HD void ray_range(const PackedRays& in, int64_t ray, int64_t& first, int64_t& count) {
    first = in.packed_info[2 * ray];
    count = in.packed_info[2 * ray + 1];
    if (first < 0 || count < 0 || count > in.n_samples - first) count = 0;
}

FIELDS_HD float sample_optical_depth(const PackedRays& in, int64_t j) {
    return fmaxf(in.sigmas[j], 0.f) * fmaxf(in.t_ends[j] - in.t_starts[j], 0.f);
}

// Calls visit(j, w_j, T_{j+1}) for every contributing sample j of the ray, front to back.
template <typename Visit>
FIELDS_HD void composite_ray(const PackedRays& in, int64_t first, int64_t count, Visit&& visit) {
    float optical_depth = 0.f;  // sum of tau over the contributing samples so far
    float transmittance = 1.f;  // exp(-optical_depth): from the sum, never a running product, so errors don't compound
    for (int64_t j = first; j < first + count; ++j) {
        if (transmittance < in.early_stop_eps) return;
        const float tau = sample_optical_depth(in, j);
        const float alpha = -expm1f(-tau);  // 1 - exp(-tau), accurate for tiny tau
        if (alpha < in.alpha_threshold) continue;
        optical_depth += tau;
        const float transmittance_after = expf(-optical_depth);
        visit(j, transmittance * alpha, transmittance_after);
        transmittance = transmittance_after;
    }
}

FIELDS_HD float sample_midpoint(const PackedRays& in, int64_t j) { return 0.5f * (in.t_starts[j] + in.t_ends[j]); }

FIELDS_HD void render_ray_forward(const PackedRays& in, int64_t ray, const RenderedRays& out) {
    int64_t first, count;
    ray_range(in, ray, first, count);
    float rgb[3] = {0.f, 0.f, 0.f};
    float opacity = 0.f, depth = 0.f;
    composite_ray(in, first, count, [&](int64_t j, float weight, float) {
        for (int k = 0; k < 3; ++k) rgb[k] += weight * in.rgbs[3 * j + k];
        opacity += weight;
        depth += weight * sample_midpoint(in, j);
        out.weights[j] = weight;
    });
    for (int k = 0; k < 3; ++k) out.rgb[3 * ray + k] = rgb[k];
    out.opacity[ray] = opacity;
    out.depth[ray] = depth;
}

// With v_j = g_rgb . c_j + g_opacity + g_depth * mid_j the loss is linear in the weights, L = sum_j w_j v_j, and
//   dw_j/dtau_k = T_{k+1} (j = k),  -w_j (j > k),  0 (j < k),
// so dL/dtau_k = T_{k+1} v_k - sum_{j>k} w_j v_j. The suffix sum is the ray total (from the forward outputs) minus
// the running prefix, so one front-to-back walk suffices. dL/dc_j = w_j g_rgb.
FIELDS_HD void render_ray_backward(const PackedRays& in, int64_t ray, const RenderGradients& g) {
    int64_t first, count;
    ray_range(in, ray, first, count);
    const float grad_rgb[3] = {g.grad_rgb[3 * ray], g.grad_rgb[3 * ray + 1], g.grad_rgb[3 * ray + 2]};
    const float grad_opacity = g.grad_opacity[ray], grad_depth = g.grad_depth[ray];
    float total = grad_opacity * g.opacity[ray] + grad_depth * g.depth[ray];
    for (int k = 0; k < 3; ++k) total += grad_rgb[k] * g.rgb[3 * ray + k];
    float prefix = 0.f;  // sum_{j<=k} w_j v_j
    composite_ray(in, first, count, [&](int64_t j, float weight, float transmittance_after) {
        float value = grad_opacity + grad_depth * sample_midpoint(in, j);
        for (int k = 0; k < 3; ++k) {
            value += grad_rgb[k] * in.rgbs[3 * j + k];
            g.grad_rgbs[3 * j + k] = weight * grad_rgb[k];
        }
        prefix += weight * value;
        const float grad_tau = transmittance_after * value - (total - prefix);
        // tau = max(sigma, 0) * max(dt, 0); like torch.clamp, the gradient passes at sigma == 0.
        const float dtau_dsigma = in.sigmas[j] >= 0.f ? fmaxf(in.t_ends[j] - in.t_starts[j], 0.f) : 0.f;
        g.grad_sigmas[j] = grad_tau * dtau_dsigma;
    });
}

// CUDA launchers (cuda/cuda/volume_rendering.cu), one thread per ray. `stream` is a cudaStream_t.
void volume_render_forward_cuda(const PackedRays& in, const RenderedRays& out, void* stream);
void volume_render_backward_cuda(const PackedRays& in, const RenderGradients& grads, void* stream);

}  // namespace fields
