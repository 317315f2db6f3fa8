// Fused Gaussian RBF layer (GNF): torch glue, argument checks and the CPU kernels. See fields_core/rbf_layer.h
// for the equations.
//
// Parallel layout on the CPU: each thread takes a range of points. Per point, the distances to all N kernels are
// accumulated feature by feature in a loop over kernels that reads the transposed tables contiguously (it
// vectorises). The backward pass gives each thread its own accumulators for the parameter gradients and sums
// them afterwards, so no two threads write the same memory.
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>

#include "fields_core/rbf_layer.h"
#include "fields_core/torch_checks.h"

#ifdef WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

namespace fields {
namespace {

constexpr int64_t kGrain = 1024;

struct Checked {
    int64_t batch, features, kernels, outputs;
};

Checked check_inputs(const at::Tensor& features, const at::Tensor& centres, const at::Tensor& log_precisions,
                     const at::Tensor& weight, const at::Tensor& bias, const char* op) {
    check_tensor(features, op, "features", at::kFloat, {-1, -1});
    check_tensor(centres, op, "centres", at::kFloat, {-1, features.size(1)});
    const int64_t f = features.size(1), n = centres.size(0);
    FIELDS_CHECK_VALUE(f >= 1 && f <= kRbfMaxFeatures, op, ": argument 'features' must have 1 to ", kRbfMaxFeatures,
                       " columns, got ", f);
    FIELDS_CHECK_VALUE(n >= 1 && n <= kRbfMaxKernels, op, ": argument 'centres' must hold 1 to ", kRbfMaxKernels,
                       " kernels (rows), got ", n);
    check_tensor(log_precisions, op, "log_precisions", at::kFloat, {n, f});
    check_tensor(weight, op, "weight", at::kFloat, {-1, n});
    const int64_t o = weight.size(0);
    FIELDS_CHECK_VALUE(o >= 1 && o <= kRbfMaxOutputs, op, ": argument 'weight' must have 1 to ", kRbfMaxOutputs,
                       " rows (outputs), got ", o);
    check_tensor(bias, op, "bias", at::kFloat, {o});
    check_same_device(features, centres, op, "features", "centres");
    check_same_device(features, log_precisions, op, "features", "log_precisions");
    check_same_device(features, weight, op, "features", "weight");
    check_same_device(features, bias, op, "features", "bias");
    return {features.size(0), f, n, o};
}

// The per-kernel tables the kernels read (see RbfLayerArgs); tiny [N, F] tensor ops on the inputs' device.
struct Tables {
    at::Tensor precision, quad_t, cross_t, offset;
};

Tables make_tables(const at::Tensor& centres, const at::Tensor& log_precisions) {
    at::Tensor precision = log_precisions.exp();
    at::Tensor quad = 0.5 * precision;
    return {precision, quad.t().contiguous(), (2.0 * quad * centres).t().contiguous(),
            (quad * centres * centres).sum(1).contiguous()};
}

RbfLayerArgs make_args(const at::Tensor& features, const Tables& tables, const at::Tensor& weight,
                       const at::Tensor& bias, const Checked& sizes) {
    return {features.data_ptr<float>(),        sizes.batch,
            static_cast<int>(sizes.features),  static_cast<int>(sizes.kernels),
            static_cast<int>(sizes.outputs),   tables.quad_t.data_ptr<float>(),
            tables.cross_t.data_ptr<float>(),  tables.offset.data_ptr<float>(),
            weight.data_ptr<float>(),          bias.data_ptr<float>()};
}

// Raw (unclamped) distances D_k of one point to every kernel.
void point_distances(const RbfLayerArgs& a, const float* f, float* distance) {
    const int n = a.kernels;
    std::copy(a.offset, a.offset + n, distance);
    for (int d = 0; d < a.features_dim; ++d) {
        const float fd = f[d];
        const float* quad = a.quad_t + static_cast<int64_t>(d) * n;
        const float* cross = a.cross_t + static_cast<int64_t>(d) * n;
        for (int k = 0; k < n; ++k) distance[k] += rbf_distance_term(fd, quad[k], cross[k]);
    }
}

void forward_cpu(const RbfLayerArgs& a, float* out) {
    at::parallel_for(0, a.batch, kGrain, [&](int64_t begin, int64_t end) {
        float phi[kRbfMaxKernels];
        for (int64_t i = begin; i < end; ++i) {
            const float* f = a.features + i * a.features_dim;
            point_distances(a, f, phi);
            for (int k = 0; k < a.kernels; ++k) phi[k] = rbf_activation(phi[k]);
            const float probe = rbf_nonfinite_probe(f, a.features_dim);
            for (int j = 0; j < a.outputs; ++j) {
                const float* w = a.weight + static_cast<int64_t>(j) * a.kernels;
                float acc = 0.f;
                for (int k = 0; k < a.kernels; ++k) acc += w[k] * phi[k];
                out[i * a.outputs + j] = acc + a.bias[j] + probe;
            }
        }
    });
}

// One point's backward step: adds its parameter-gradient terms to acc_* (this thread's) and writes its feature
// gradient when grad_features is set.
struct Accumulators {
    float* sum_t;   // [N, F]
    float* sum_tt;  // [N, F]
    float* weight;  // [O, N]
    float* bias;    // [O]
};

void backward_point(const RbfLayerArgs& a, const RbfLayerBackwardArgs& e, int64_t i, const Accumulators& acc,
                    float* grad_features) {
    const int n = a.kernels, nf = a.features_dim;
    const float* f = a.features + i * nf;
    const float* g = e.grad_out + i * a.outputs;
    float distance[kRbfMaxKernels], phi[kRbfMaxKernels], grad_d[kRbfMaxKernels];
    point_distances(a, f, distance);
    for (int k = 0; k < n; ++k) {
        phi[k] = rbf_activation(distance[k]);
        grad_d[k] = 0.f;
    }
    for (int j = 0; j < a.outputs; ++j) {
        const float gj = g[j];
        const float* w = a.weight + static_cast<int64_t>(j) * n;
        float* gw = acc.weight + static_cast<int64_t>(j) * n;
        acc.bias[j] += gj;
        for (int k = 0; k < n; ++k) {
            gw[k] += gj * phi[k];
            grad_d[k] += gj * w[k];  // dL/dφ for now
        }
    }
    for (int k = 0; k < n; ++k) grad_d[k] *= rbf_activation_grad(distance[k], phi[k]);  // dL/dD
    float gf[kRbfMaxFeatures] = {};
    for (int k = 0; k < n; ++k) {
        const float gk = grad_d[k];
        const float* c = e.centres + static_cast<int64_t>(k) * nf;
        const float* s = e.precision + static_cast<int64_t>(k) * nf;
        float* st = acc.sum_t + static_cast<int64_t>(k) * nf;
        float* stt = acc.sum_tt + static_cast<int64_t>(k) * nf;
        for (int d = 0; d < nf; ++d) {
            const float t = f[d] - c[d];
            const float u = gk * t;
            st[d] += u;
            stt[d] += u * t;
            gf[d] += u * s[d];
        }
    }
    if (grad_features) std::copy(gf, gf + nf, grad_features + i * nf);
}

// Returns the summed accumulators [2NF + ON + O]; writes grad_features when it is set.
at::Tensor backward_cpu(const RbfLayerArgs& a, const RbfLayerBackwardArgs& e, float* grad_features,
                        const at::TensorOptions& options) {
    const int64_t n = a.kernels, nf = a.features_dim, o = a.outputs;
    const int64_t width = 2 * n * nf + o * n + o;
    const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(),
                                                                  div_round_up(a.batch, kGrain)));
    at::Tensor partial = at::zeros({chunks, width}, options);
    float* base = partial.data_ptr<float>();
    at::parallel_for(0, chunks, 1, [&](int64_t chunk_begin, int64_t chunk_end) {
        for (int64_t chunk = chunk_begin; chunk < chunk_end; ++chunk) {
            float* mine = base + chunk * width;
            const Accumulators acc{mine, mine + n * nf, mine + 2 * n * nf, mine + 2 * n * nf + o * n};
            const int64_t begin = a.batch * chunk / chunks, end = a.batch * (chunk + 1) / chunks;
            for (int64_t i = begin; i < end; ++i) backward_point(a, e, i, acc, grad_features);
        }
    });
    return partial.sum(0);
}

at::Tensor rbf_layer_forward(const at::Tensor& features, const at::Tensor& centres, const at::Tensor& log_precisions,
                             const at::Tensor& weight, const at::Tensor& bias) {
    const Checked sizes = check_inputs(features, centres, log_precisions, weight, bias, "rbf_layer");
    at::Tensor out = at::empty({sizes.batch, sizes.outputs}, features.options());
    if (sizes.batch == 0) return out;
    const Tables tables = make_tables(centres, log_precisions);
    const RbfLayerArgs args = make_args(features, tables, weight, bias, sizes);
#ifdef WITH_CUDA
    if (features.is_cuda()) {
        rbf_layer_forward_cuda(args, out.data_ptr<float>(), at::cuda::getCurrentCUDAStream().stream());
        return out;
    }
#endif
    forward_cpu(args, out.data_ptr<float>());
    return out;
}

// Returns (grad_features, grad_centres, grad_log_precisions, grad_weight, grad_bias); grad_features is empty
// ([0, F]) unless features_grad is true.
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> rbf_layer_backward(
    const at::Tensor& features, const at::Tensor& centres, const at::Tensor& log_precisions, const at::Tensor& weight,
    const at::Tensor& bias, const at::Tensor& grad_out, bool features_grad) {
    const char* op = "rbf_layer_backward";
    const Checked sizes = check_inputs(features, centres, log_precisions, weight, bias, op);
    check_tensor(grad_out, op, "grad_out", at::kFloat, {sizes.batch, sizes.outputs});
    check_same_device(features, grad_out, op, "features", "grad_out");
    const int64_t n = sizes.kernels, nf = sizes.features, o = sizes.outputs;
    at::Tensor grad_features = features_grad ? at::empty_like(features) : at::empty({0, nf}, features.options());
    const Tables tables = make_tables(centres, log_precisions);
    if (sizes.batch == 0) {
        return {grad_features, at::zeros_like(centres), at::zeros_like(log_precisions), at::zeros_like(weight),
                at::zeros_like(bias)};
    }
    const RbfLayerArgs args = make_args(features, tables, weight, bias, sizes);
    const RbfLayerBackwardArgs extra{centres.data_ptr<float>(), tables.precision.data_ptr<float>(),
                                     grad_out.data_ptr<float>()};
    float* grad_features_ptr = features_grad ? grad_features.data_ptr<float>() : nullptr;
    at::Tensor sums;
#ifdef WITH_CUDA
    if (features.is_cuda()) {
        sums = at::zeros({2 * n * nf + o * n + o}, features.options());
        float* s = sums.data_ptr<float>();
        const RbfLayerGrads grads{grad_features_ptr, s, s + n * nf, s + 2 * n * nf, s + 2 * n * nf + o * n};
        rbf_layer_backward_cuda(args, extra, grads, at::cuda::getCurrentCUDAStream().stream());
    }
#endif
    if (!sums.defined()) sums = backward_cpu(args, extra, grad_features_ptr, features.options());
    const at::Tensor sum_t = sums.slice(0, 0, n * nf).view({n, nf});
    const at::Tensor sum_tt = sums.slice(0, n * nf, 2 * n * nf).view({n, nf});
    at::Tensor grad_weight = sums.slice(0, 2 * n * nf, 2 * n * nf + o * n).view({o, n}).clone();
    at::Tensor grad_bias = sums.slice(0, 2 * n * nf + o * n).clone();
    return {grad_features, -tables.precision * sum_t, 0.5 * tables.precision * sum_tt, grad_weight, grad_bias};
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(fields, m) {
    m.def("rbf_layer_forward(Tensor features, Tensor centres, Tensor log_precisions, Tensor weight, Tensor bias) "
          "-> Tensor",
          &rbf_layer_forward);
    m.def("rbf_layer_backward(Tensor features, Tensor centres, Tensor log_precisions, Tensor weight, Tensor bias, "
          "Tensor grad_out, bool features_grad) -> (Tensor, Tensor, Tensor, Tensor, Tensor)",
          &rbf_layer_backward);
}

}  // namespace fields
