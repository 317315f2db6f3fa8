// The fused Gaussian RBF layer of GNF / Gaussian RBFNet (docs/methods.md): N axis-aligned Gaussian kernels in
// feature space followed by a linear read-out,
//
//     D_bk   = ½ Σ_d exp(β_kd) (f_bd − c_kd)²
//            = Σ_d f_bd² q_kd − Σ_d f_bd (2 q_kd c_kd) + Σ_d q_kd c_kd²      with q = ½ exp(β)
//     φ_bk   = exp(−max(0, D_bk))
//     out_bj = b_j + Σ_k W_jk φ_bk
//
// The forward pass evaluates D through the expansion (two multiply-adds per feature and kernel, no [B, N, F]
// intermediate) and clamps the cancellation's small negative values at 0. The backward pass recomputes φ. The CUDA
// kernels accumulate the parameter gradients from (f − c) directly; the CPU path (cuda/cpu/rbf_layer.cpp) forms the
// same sums from matrix products of the expansion. The activation helpers are shared by both; no torch headers.
#pragma once

#include "fields_core/common.h"
#include "fields_core/fast_exp.h"

namespace fields {

constexpr int kRbfMaxFeatures = 128;
constexpr int kRbfMaxKernels = 256;
constexpr int kRbfMaxOutputs = 64;

// Kernel-side view of the layer. The per-kernel tables are prepared by the torch glue from centres c and
// log-precisions β, transposed so that a loop over kernels reads contiguous memory.
struct RbfLayerArgs {
    const float* features;  // [B, F]
    int64_t batch;          // B
    int features_dim;       // F
    int kernels;            // N
    int outputs;            // O
    const float* quad_t;    // [F, N]: q = ½ exp(β), transposed
    const float* cross_t;   // [F, N]: 2 q c, transposed
    const float* offset;    // [N]: Σ_d q c²
    const float* weight;    // [O, N]
    const float* bias;      // [O]
};

// Extra inputs of the backward pass (row-major [N, F], as given by the user).
struct RbfLayerBackwardArgs {
    const float* centres;    // c
    const float* precision;  // exp(β)
    const float* grad_out;   // [B, O]
};

// Outputs of the backward pass. The glue turns the sums into gradients: dL/dc = −exp(β) ⊙ sum_t and
// dL/dβ = ½ exp(β) ⊙ sum_tt.
struct RbfLayerGrads {
    float* features;  // [B, F] or nullptr when not wanted
    float* sum_t;     // [N, F]: Σ_b g_bk (f_bd − c_kd)
    float* sum_tt;    // [N, F]: Σ_b g_bk (f_bd − c_kd)²
    float* weight;    // [O, N]
    float* bias;      // [O]
};
// where g_bk = dL/dD_bk.

// One feature's term of the expanded distance: f² q − f (2 q c).
FIELDS_HD float rbf_distance_term(float f, float quad, float cross) { return f * (f * quad - cross); }

// φ = exp(−max(0, D)).
FIELDS_HD float rbf_activation(float distance) { return exp_neg(positive_part(distance)); }

// dφ/dD: −φ where D >= 0 (the clamp passes the gradient there, as torch's clamp does), 0 where it clamped.
FIELDS_HD float rbf_activation_grad(float distance, float activation) {
    return distance >= 0.f ? -activation : 0.f;
}

// 0 when every feature of the row is finite, NaN otherwise. Added to the outputs so that a row with NaN or inf
// features gives NaN outputs instead of a plausible value (the clamp and exp_neg would otherwise hide it).
FIELDS_HD float rbf_nonfinite_probe(const float* features, int features_dim) {
    float probe = 0.f;
    for (int d = 0; d < features_dim; ++d) probe += features[d] * 0.f;
    return probe;
}

// CUDA launchers (cuda/cuda/rbf_layer.cu). `stream` is a cudaStream_t. The backward launcher expects zeroed
// sum_t, sum_tt, weight and bias gradients (it adds to them).
void rbf_layer_forward_cuda(const RbfLayerArgs& args, float* out, void* stream);
void rbf_layer_backward_cuda(const RbfLayerArgs& args, const RbfLayerBackwardArgs& extra, const RbfLayerGrads& grads,
                             void* stream);

}  // namespace fields
