// Fused Gaussian RBF layer (GNF): torch glue, argument checks and the CPU kernels. See fields_core/rbf_layer.h
// for the equations.
//
// The CPU path takes the points in blocks and evaluates each block's expanded distances as one matrix product,
// D = [f², f] · [q, −2qc]ᵀ + offset, followed by the read-out φ Wᵀ; the backward pass gets dL/df from gD · [q, −2qc]
// and the kernel sums from gDᵀ · [f², f]. The products run in ATen's BLAS (3.6x the per-point loops they
// replaced), and a block's [rows, N] intermediates stay in cache. Each thread takes a range of blocks with its own
// gradient sums, added up afterwards, so no two threads write the same memory.
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>

#include "fields_core/rbf_layer.h"
#include "fields_core/torch_checks.h"

namespace fields {
namespace {

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

#ifdef WITH_CUDA
RbfLayerArgs make_args(const at::Tensor& features, const Tables& tables, const at::Tensor& weight,
                       const at::Tensor& bias, const Checked& sizes) {
    return {features.data_ptr<float>(),        sizes.batch,
            static_cast<int>(sizes.features),  static_cast<int>(sizes.kernels),
            static_cast<int>(sizes.outputs),   tables.quad_t.data_ptr<float>(),
            tables.cross_t.data_ptr<float>(),  tables.offset.data_ptr<float>(),
            weight.data_ptr<float>(),          bias.data_ptr<float>()};
}
#endif

constexpr int64_t kBlockRows = 2048;

// The CPU path's view of the layer: [q, −2qc] as one [N, 2F] matrix, so that a block's distances are one product.
struct CpuLayer {
    at::Tensor expanded;  // [N, 2F]
    at::Tensor offset;    // [N]
    at::Tensor weight;    // [O, N]
    at::Tensor bias;      // [O]
};

CpuLayer make_cpu_layer(const Tables& tables, const at::Tensor& weight, const at::Tensor& bias) {
    return {at::cat({tables.quad_t.t(), -tables.cross_t.t()}, 1).contiguous(), tables.offset, weight, bias};
}

// A block of points: [f², f] and its raw (unclamped) distances D [rows, N].
struct Block {
    at::Tensor squares_and_features;
    at::Tensor distance;
};

Block block_distances(const CpuLayer& layer, const at::Tensor& f) {
    at::Tensor a = at::cat({f * f, f}, 1);
    at::Tensor d = at::addmm(layer.offset, a, layer.expanded.t());
    return {a, d};
}

// φ = exp(−max(0, D)) with the kernels' own exp, so that the CPU and CUDA paths round alike.
at::Tensor activation(const at::Tensor& distance) {
    at::Tensor phi = at::empty_like(distance);
    const float* d = distance.data_ptr<float>();
    float* out = phi.data_ptr<float>();
    for (int64_t i = 0, n = distance.numel(); i < n; ++i) out[i] = rbf_activation(d[i]);
    return phi;
}

// The block loops split their blocks into one range per thread, at most one per block.
int64_t range_count(int64_t blocks) { return std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), blocks)); }

// Calls body(range, first_block, end_block) for each of the range_count(blocks) ranges, in parallel.
template <typename Body>
void for_each_block_range(int64_t blocks, Body&& body) {
    const int64_t ranges = range_count(blocks);
    at::parallel_for(0, ranges, 1, [&](int64_t first, int64_t last) {
        for (int64_t r = first; r < last; ++r) body(r, blocks * r / ranges, blocks * (r + 1) / ranges);
    });
}

void forward_cpu(const CpuLayer& layer, const at::Tensor& features, at::Tensor& out) {
    const int64_t batch = features.size(0), blocks = div_round_up(batch, kBlockRows);
    for_each_block_range(blocks, [&](int64_t, int64_t first, int64_t last) {
        for (int64_t block = first; block < last; ++block) {
            const int64_t begin = block * kBlockRows, rows = std::min(kBlockRows, batch - begin);
            const at::Tensor f = features.narrow(0, begin, rows);
            at::Tensor out_rows = out.narrow(0, begin, rows);
            at::addmm_out(out_rows, layer.bias, activation(block_distances(layer, f).distance), layer.weight.t());
            const float* fp = f.data_ptr<float>();
            float* op = out_rows.data_ptr<float>();
            const int64_t nf = f.size(1), o = out.size(1);
            for (int64_t i = 0; i < rows; ++i) {
                const float probe = rbf_nonfinite_probe(fp + i * nf, static_cast<int>(nf));
                for (int64_t j = 0; j < o; ++j) op[i * o + j] += probe;
            }
        }
    });
}

// Returns the summed gradient terms [sum_t (N*F), sum_tt (N*F), weight (O*N), bias (O)] of rbf_layer.h;
// writes dL/df into grad_features when it is defined.
at::Tensor backward_cpu(const CpuLayer& layer, const at::Tensor& features, const at::Tensor& centres,
                        const at::Tensor& grad_out, at::Tensor grad_features) {
    const int64_t batch = features.size(0), nf = features.size(1);
    const int64_t n = layer.weight.size(1), o = layer.weight.size(0);
    const int64_t blocks = div_round_up(batch, kBlockRows);
    const int64_t threads = range_count(blocks);
    // Per range: gDᵀ·[f², f] [N, 2F], Σ gD [N] and gᵀ·φ [O, N].
    at::Tensor moments = at::zeros({threads, n, 2 * nf}, features.options());
    at::Tensor grad_offset = at::zeros({threads, n}, features.options());
    at::Tensor grad_weight = at::zeros({threads, o, n}, features.options());
    for_each_block_range(blocks, [&](int64_t thread, int64_t first, int64_t last) {
        at::Tensor my_moments = moments[thread], my_offset = grad_offset[thread], my_weight = grad_weight[thread];
        for (int64_t block = first; block < last; ++block) {
            const int64_t begin = block * kBlockRows, rows = std::min(kBlockRows, batch - begin);
            const at::Tensor g = grad_out.narrow(0, begin, rows);
            const Block b = block_distances(layer, features.narrow(0, begin, rows));
            const at::Tensor phi = activation(b.distance);
            my_weight.addmm_(g.t(), phi);
            at::Tensor grad_d = at::mm(g, layer.weight);  // dL/dφ, turned into dL/dD in place
            float* gd = grad_d.data_ptr<float>();
            const float* d = b.distance.data_ptr<float>();
            const float* p = phi.data_ptr<float>();
            for (int64_t i = 0, count = grad_d.numel(); i < count; ++i) gd[i] *= rbf_activation_grad(d[i], p[i]);
            my_moments.addmm_(grad_d.t(), b.squares_and_features);
            my_offset.add_(grad_d.sum(0));
            if (grad_features.defined()) {
                const at::Tensor ga = at::mm(grad_d, layer.expanded);  // [Σ gD q, −Σ gD 2qc]
                const at::Tensor f = features.narrow(0, begin, rows);
                grad_features.narrow(0, begin, rows).copy_(2.0 * f * ga.narrow(1, 0, nf) + ga.narrow(1, nf, nf));
            }
        }
    });
    // Σ gD (f − c) = Σ gD f − c Σ gD and Σ gD (f − c)² = Σ gD f² − 2c Σ gD f + c² Σ gD.
    const at::Tensor m = moments.sum(0), sum_d = grad_offset.sum(0).unsqueeze(1);
    const at::Tensor sum_f2 = m.narrow(1, 0, nf), sum_f = m.narrow(1, nf, nf);
    const at::Tensor sum_t = sum_f - centres * sum_d;
    const at::Tensor sum_tt = sum_f2 - 2.0 * centres * sum_f + centres * centres * sum_d;
    return at::cat({sum_t.reshape(-1), sum_tt.reshape(-1), grad_weight.sum(0).reshape(-1), grad_out.sum(0)});
}

at::Tensor rbf_layer_forward(const at::Tensor& features, const at::Tensor& centres, const at::Tensor& log_precisions,
                             const at::Tensor& weight, const at::Tensor& bias) {
    const Checked sizes = check_inputs(features, centres, log_precisions, weight, bias, "rbf_layer");
    at::Tensor out = at::empty({sizes.batch, sizes.outputs}, features.options());
    if (sizes.batch == 0) return out;
    const Tables tables = make_tables(centres, log_precisions);
#ifdef WITH_CUDA
    if (features.is_cuda()) {
        rbf_layer_forward_cuda(make_args(features, tables, weight, bias, sizes), out.data_ptr<float>(),
                               at::cuda::getCurrentCUDAStream().stream());
        return out;
    }
#endif
    forward_cpu(make_cpu_layer(tables, weight, bias), features, out);
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
    at::Tensor sums;
#ifdef WITH_CUDA
    if (features.is_cuda()) {
        sums = at::zeros({2 * n * nf + o * n + o}, features.options());
        float* s = sums.data_ptr<float>();
        const RbfLayerBackwardArgs extra{centres.data_ptr<float>(), tables.precision.data_ptr<float>(),
                                         grad_out.data_ptr<float>()};
        const RbfLayerGrads grads{features_grad ? grad_features.data_ptr<float>() : nullptr, s, s + n * nf,
                                  s + 2 * n * nf, s + 2 * n * nf + o * n};
        rbf_layer_backward_cuda(make_args(features, tables, weight, bias, sizes), extra, grads,
                                at::cuda::getCurrentCUDAStream().stream());
    }
#endif
    if (!sums.defined()) {
        sums = backward_cpu(make_cpu_layer(tables, weight, bias), features, centres, grad_out,
                            features_grad ? grad_features : at::Tensor());
    }
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
