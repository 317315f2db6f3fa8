// Fully fused MLP: L linear layers with biases, ReLU after every layer but the last, and an output activation
// (none or sigmoid) after the last,
//
//     a_0 = x,   a_l = relu(W_l a_{l-1} + b_l)  (l < L),   y = act(W_L a_{L-1} + b_L)
//
// with W_l [n_l, n_{l-1}] as in nn.Linear. All hidden layers share one width. The forward pass can keep the hidden
// activations a_1 .. a_{L-1} ([L-1, B, H], after ReLU) for the backward pass, which then needs no recomputation:
//
//     g_L = dL/dy * act'(y),   dL/dW_l = g_l^T a_{l-1},   dL/db_l = sum_b g_l,
//     g_{l-1} = (g_l W_l) * [a_{l-1} > 0],   dL/dx = g_1 W_1
//
// ReLU and its derivative follow torch: relu(NaN) = NaN, and the gradient passes where the output is > 0. Sums run
// over the input index in ascending order starting from the bias, on both devices. No torch headers.
#pragma once

#include "fields_core/common.h"

namespace fields {

constexpr int kMlpMaxLayers = 9;   // linear layers: up to 8 hidden layers and the output layer
constexpr int kMlpMaxWidth = 64;   // input, hidden and output widths; one layer's weights fit shared memory

enum class MlpActivation : int { kNone = 0, kSigmoid = 1 };

// One MLP as the kernels see it. widths[0] is the input width, widths[layers] the output width.
struct FusedMlpArgs {
    int64_t batch;
    int layers;
    int widths[kMlpMaxLayers + 1];
    const float* weight[kMlpMaxLayers];  // [widths[l + 1], widths[l]], row-major
    const float* bias[kMlpMaxLayers];    // [widths[l + 1]]
    MlpActivation output_activation;
};

FIELDS_HD float relu_value(float v) { return v < 0.f ? 0.f : v; }  // NaN stays NaN, as torch.relu

// dL/dz of a ReLU from its output a: passes where a > 0 (torch's threshold_backward).
FIELDS_HD float relu_grad(float a, float grad) { return a > 0.f ? grad : 0.f; }

FIELDS_HD float output_value(MlpActivation activation, float v) {
    return activation == MlpActivation::kSigmoid ? 1.f / (1.f + expf(-v)) : v;
}

// dL/dz of the output activation from its output y.
FIELDS_HD float output_grad(MlpActivation activation, float y, float grad) {
    return activation == MlpActivation::kSigmoid ? grad * y * (1.f - y) : grad;
}

// Where the backward pass writes: dL/dx [B, I] (nullptr: not wanted) and each layer's weight and bias gradients.
struct FusedMlpGrads {
    float* x;
    float* weight[kMlpMaxLayers];
    float* bias[kMlpMaxLayers];
};

// Number of weights and biases, counted in this order: W_0, b_0, W_1, b_1, ... (the layout of the per-block sums
// of the CUDA backward pass).
inline int64_t mlp_parameter_count(const FusedMlpArgs& a) {
    int64_t count = 0;
    for (int l = 0; l < a.layers; ++l) count += static_cast<int64_t>(a.widths[l + 1]) * (a.widths[l] + 1);
    return count;
}

// CUDA launchers (cuda/cuda/fused_mlp.cu); `stream` is a cudaStream_t. hidden: [L-1, B, H] or nullptr (not kept).
// scratch: mlp_backward_scratch_floats(args) floats.
void fused_mlp_forward_cuda(const FusedMlpArgs& args, const float* x, float* out, float* hidden, void* stream);
int64_t mlp_backward_scratch_floats(const FusedMlpArgs& args);
void fused_mlp_backward_cuda(const FusedMlpArgs& args, const float* x, const float* hidden, const float* out,
                             const float* grad_out, const FusedMlpGrads& grads, float* scratch, void* stream);

}  // namespace fields
