// Packed volume rendering: front-to-back compositing of each ray's samples, written once per ray and shared by the
// CPU and CUDA kernels.
//
// For sample j with optical depth tau_j = max(sigma_j, 0) * max(t_end_j - t_start_j, 0):
//   alpha_j = 1 - exp(-tau_j),  T_j = exp(-sum_{k<j} tau_k),  w_j = T_j * alpha_j.
// A sample with alpha_j < alpha_threshold is skipped: treated as alpha = 0 (no weight, no attenuation).
// Once T_j < early_stop_eps, sample j and the rest of the ray contribute nothing.
// Per ray: rgb = sum w_j c_j, opacity = sum w_j, depth = sum w_j (t_start_j + t_end_j) / 2 (not normalised).
//
// Only the forward applies these rules: it stores w_j and T_{j+1} of every contributing sample, and the backward
// reads them, so the two passes cannot disagree about which samples count (and the backward needs no exp).
#pragma once

#include "fields_core/common.h"
#include "fields_core/fast_exp.h"

namespace fields {

// Read-only inputs. Ray i owns samples packed_info[2i] .. packed_info[2i] + packed_info[2i+1] - 1, in increasing t.
struct PackedRays {
    const float* sigmas;         // [n_samples]
    const float* rgbs;           // [n_samples, 3]
    const float* t_starts;       // [n_samples]
    const float* t_ends;         // [n_samples]
    const int64_t* packed_info;  // [n_rays, 2]: first sample, sample count
    int64_t n_rays;
    int64_t n_samples;
};

struct DropRules {
    float early_stop_eps;
    float alpha_threshold;
};

// Marks a sample that does not contribute in `transmittance` (a real transmittance is never negative).
constexpr float kDroppedSample = -1.f;

// Forward outputs, written for every ray and every sample a ray owns (dropped samples: weight 0, transmittance
// kDroppedSample). Samples that no ray owns are left to the caller to fill likewise.
struct RenderedRays {
    float* rgb;           // [n_rays, 3]
    float* opacity;       // [n_rays]
    float* depth;         // [n_rays]
    float* weights;       // [n_samples], w_j
    float* transmittance;  // [n_samples], T_{j+1} (the transmittance behind sample j), kept for the backward
};

// Backward inputs (what the forward stored and the gradients of the loss with respect to its outputs) and outputs.
// grad_sigmas and grad_rgbs are written for every sample a ray owns; the caller zero-fills samples no ray owns.
struct RenderGradients {
    const float* weights;        // [n_samples] forward outputs
    const float* transmittance;  // [n_samples]
    const float* rgb;            // [n_rays, 3]
    const float* opacity;        // [n_rays]
    const float* depth;          // [n_rays]
    const float* grad_rgb;       // [n_rays, 3]
    const float* grad_opacity;   // [n_rays]
    const float* grad_depth;     // [n_rays]
    float* grad_sigmas;          // [n_samples]
    float* grad_rgbs;            // [n_samples, 3]
};

// The ray's sample range, empty when it falls outside [0, n_samples). The CPU glue rejects such input before any
// kernel runs; this guard keeps the CUDA kernels memory-safe without a host sync to validate on the device.
FIELDS_HD void ray_range(const PackedRays& in, int64_t ray, int64_t& first, int64_t& count) {
    first = in.packed_info[2 * ray];
    count = in.packed_info[2 * ray + 1];
    if (first < 0 || count < 0 || count > in.n_samples - first) count = 0;
}

FIELDS_HD float sample_optical_depth(const PackedRays& in, int64_t j) {
    return positive_part(in.sigmas[j]) * positive_part(in.t_ends[j] - in.t_starts[j]);
}

FIELDS_HD float sample_midpoint(const PackedRays& in, int64_t j) { return 0.5f * (in.t_starts[j] + in.t_ends[j]); }

FIELDS_HD void mark_dropped(const RenderedRays& out, int64_t j) {
    out.weights[j] = 0.f;
    out.transmittance[j] = kDroppedSample;
}

// The ray is walked in chunks of kChunk samples. Within a chunk, optical depth, alpha and transmittance are
// computed in loops free of loop-carried state, which the CPU compiler vectorises; only the prefix sum of the optical
// depth and the accumulation are sequential. The rules see every sample in order, as in a sample-by-sample walk
// (values computed past the termination point are never used). CUDA uses kChunk = 1.
template <int kChunk>
FIELDS_HD void render_ray_forward(const PackedRays& in, const DropRules& rules, int64_t ray, const RenderedRays& out) {
    int64_t first, count;
    ray_range(in, ray, first, count);
    float rgb[3] = {0.f, 0.f, 0.f};
    float opacity = 0.f, depth = 0.f;
    float optical_depth = 0.f;  // sum of tau over the contributing samples so far
    float transmittance = 1.f;  // exp(-optical_depth): from the sum, never a running product, so errors don't compound
    const int64_t end = first + count;
    int64_t j = first;  // the next sample to decide on
    for (int64_t chunk = first; chunk < end && transmittance >= rules.early_stop_eps; chunk += kChunk) {
        const int n = end - chunk < kChunk ? static_cast<int>(end - chunk) : kChunk;
        float tau[kChunk], alpha[kChunk], transmittance_after[kChunk];
        for (int k = 0; k < n; ++k) {
            tau[k] = sample_optical_depth(in, chunk + k);
            alpha[k] = one_minus_exp_neg(tau[k]);
        }
        for (int k = 0; k < n; ++k) {
            if (alpha[k] >= rules.alpha_threshold) optical_depth += tau[k];
            transmittance_after[k] = optical_depth;
        }
        for (int k = 0; k < n; ++k) transmittance_after[k] = exp_neg(transmittance_after[k]);
        for (int k = 0; k < n && transmittance >= rules.early_stop_eps; ++k, ++j) {
            if (alpha[k] < rules.alpha_threshold) {
                mark_dropped(out, j);
                continue;
            }
            const float weight = transmittance * alpha[k];
            for (int c = 0; c < 3; ++c) rgb[c] += weight * in.rgbs[3 * j + c];
            opacity += weight;
            depth += weight * sample_midpoint(in, j);
            transmittance = transmittance_after[k];
            out.weights[j] = weight;
            out.transmittance[j] = transmittance;
        }
    }
    for (; j < end; ++j) mark_dropped(out, j);  // behind the termination point
    for (int c = 0; c < 3; ++c) out.rgb[3 * ray + c] = rgb[c];
    out.opacity[ray] = opacity;
    out.depth[ray] = depth;
}

// With v_j = g_rgb . c_j + g_opacity + g_depth * mid_j the loss is linear in the weights, L = sum_j w_j v_j, and
//   dw_j/dtau_k = T_{k+1} (j = k),  -w_j (j > k),  0 (j < k),
// so dL/dtau_k = T_{k+1} v_k - sum_{j>k} w_j v_j. The suffix sum is the ray total (from the forward outputs) minus
// the running prefix, so one front-to-back walk suffices. dL/dc_j = w_j g_rgb. Dropped samples get no gradient.
FIELDS_HD void render_ray_backward(const PackedRays& in, int64_t ray, const RenderGradients& g) {
    int64_t first, count;
    ray_range(in, ray, first, count);
    const float grad_rgb[3] = {g.grad_rgb[3 * ray], g.grad_rgb[3 * ray + 1], g.grad_rgb[3 * ray + 2]};
    const float grad_opacity = g.grad_opacity[ray], grad_depth = g.grad_depth[ray];
    float total = grad_opacity * g.opacity[ray] + grad_depth * g.depth[ray];
    for (int k = 0; k < 3; ++k) total += grad_rgb[k] * g.rgb[3 * ray + k];
    float prefix = 0.f;  // sum_{j<=k} w_j v_j
    for (int64_t j = first; j < first + count; ++j) {
        const float transmittance_after = g.transmittance[j];
        if (transmittance_after == kDroppedSample) {
            g.grad_sigmas[j] = 0.f;
            for (int k = 0; k < 3; ++k) g.grad_rgbs[3 * j + k] = 0.f;
            continue;
        }
        const float weight = g.weights[j];
        float value = grad_opacity + grad_depth * sample_midpoint(in, j);
        for (int k = 0; k < 3; ++k) {
            value += grad_rgb[k] * in.rgbs[3 * j + k];
            g.grad_rgbs[3 * j + k] = weight * grad_rgb[k];
        }
        prefix += weight * value;
        const float grad_tau = transmittance_after * value - (total - prefix);
        // tau = max(sigma, 0) * max(dt, 0); like torch.clamp, the gradient passes at sigma == 0.
        const float dtau_dsigma = in.sigmas[j] >= 0.f ? positive_part(in.t_ends[j] - in.t_starts[j]) : 0.f;
        g.grad_sigmas[j] = grad_tau * dtau_dsigma;
    }
}

// CUDA launchers (cuda/cuda/volume_rendering.cu), one thread per ray. `stream` is a cudaStream_t.
void volume_render_forward_cuda(const PackedRays& in, const DropRules& rules, const RenderedRays& out, void* stream);
void volume_render_backward_cuda(const PackedRays& in, const RenderGradients& grads, void* stream);

}  // namespace fields
