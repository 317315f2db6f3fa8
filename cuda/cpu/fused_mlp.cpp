// Fully fused MLP: torch glue, argument checks and the CPU kernels. See fields_core/fused_mlp.h for the equations.
//
// The CPU path carries a block of samples through every layer while its activations stay in cache, instead of
// writing each layer's [B, H] output to memory and reading it back as the layer-by-layer torch path does. All
// products go through one micro-kernel that keeps an 8 x 16 tile of accumulators in registers and walks the shared
// dimension in ascending order; widths are zero-padded to multiples of 16 so the tile never needs a remainder
// loop over columns. The block functions are compiled for AVX-512, AVX2+FMA and baseline x86-64 and the best one
// for the machine is picked at load time (GCC target_clones), since the extension is not built with -march.
//
// Backward: the samples are split into a fixed number of slices (not one per thread), each with its own gradient
// sums, added up in slice order afterwards: the weight gradients do not depend on the thread count.
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <string>
#include <vector>

#include "fields_core/fused_mlp.h"
#include "fields_core/torch_checks.h"

#if defined(__GNUC__)
#define FIELDS_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define FIELDS_ALWAYS_INLINE inline
#endif
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define FIELDS_CPU_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define FIELDS_CPU_CLONES
#endif

namespace fields {
namespace {

constexpr int kLanes = 16;           // columns per micro-tile: one AVX-512 register or two AVX2 ones
constexpr int kTileRows = 8;         // rows per micro-tile
constexpr int64_t kBlockRows = 128;  // samples carried through all layers together
constexpr int64_t kMaxSlices = 64;   // backward: sample ranges with their own gradient sums

int64_t padded(int64_t n) { return div_round_up(n, kLanes) * kLanes; }

// 16 floats in GCC's vector extension: one AVX-512 register, two AVX ones or four SSE ones, whichever the clone
// targets. The unaligned variant lets the kernels load and store at any float boundary.
typedef float Lanes __attribute__((vector_size(kLanes * sizeof(float))));
typedef float UnalignedLanes __attribute__((vector_size(kLanes * sizeof(float)), aligned(sizeof(float))));

FIELDS_ALWAYS_INLINE Lanes load_lanes(const float* p) { return *reinterpret_cast<const UnalignedLanes*>(p); }
FIELDS_ALWAYS_INLINE void store_lanes(float* p, Lanes v) { *reinterpret_cast<UnalignedLanes*>(p) = v; }

// c[m][0:16] += sum_p a[m * a_row + p * a_col] * b[p * ldb + 0:16] for m < M, p in ascending order; the M rows of
// accumulators stay in registers.
template <int M>
FIELDS_ALWAYS_INLINE void tile_product(float* c, int64_t ldc, const float* a, int64_t a_row, int64_t a_col,
                                       const float* b, int64_t ldb, int64_t depth) {
    Lanes acc[M];
    for (int m = 0; m < M; ++m) acc[m] = load_lanes(c + m * ldc);
    for (int64_t p = 0; p < depth; ++p) {
        const Lanes bp = load_lanes(b + p * ldb);
        for (int m = 0; m < M; ++m) acc[m] += a[m * a_row + p * a_col] * bp;
    }
    for (int m = 0; m < M; ++m) store_lanes(c + m * ldc, acc[m]);
}

// C[rows, cols] += A[rows, depth] B[depth, cols] with A(m, p) = a[m * a_row + p * a_col]; cols is a multiple of 16.
FIELDS_ALWAYS_INLINE void accumulate_product(float* c, int64_t ldc, int64_t rows, int64_t cols, const float* a,
                                             int64_t a_row, int64_t a_col, const float* b, int64_t ldb,
                                             int64_t depth) {
    for (int64_t col = 0; col < cols; col += kLanes) {
        int64_t m = 0;
        for (; m + kTileRows <= rows; m += kTileRows)
            tile_product<kTileRows>(c + m * ldc + col, ldc, a + m * a_row, a_row, a_col, b + col, ldb, depth);
        for (; m < rows; ++m) tile_product<1>(c + m * ldc + col, ldc, a + m * a_row, a_row, a_col, b + col, ldb, depth);
    }
}

// The weights in the layouts the products read, zero-padded to multiples of 16 columns.
struct CpuMlp {
    FusedMlpArgs args;
    std::vector<std::vector<float>> weight_t;  // [K, pad(N)]: W transposed, for the forward pass
    std::vector<std::vector<float>> weight;    // [N, pad(K)]: for dL/da = g W
    std::vector<std::vector<float>> bias;      // [pad(N)]
    std::vector<int64_t> sum_offsets;          // per layer: where its [N, pad(K)] weight and pad(N) bias sums start
    int64_t sum_floats = 0;                    // per slice
};

CpuMlp make_cpu_mlp(const FusedMlpArgs& args) {
    CpuMlp mlp{args, {}, {}, {}, {}, 0};
    for (int l = 0; l < args.layers; ++l) {
        const int64_t k = args.widths[l], n = args.widths[l + 1], kp = padded(k), np = padded(n);
        std::vector<float> wt(k * np, 0.f), w(n * kp, 0.f), b(np, 0.f);
        for (int64_t j = 0; j < n; ++j) {
            for (int64_t i = 0; i < k; ++i) {
                wt[i * np + j] = args.weight[l][j * k + i];
                w[j * kp + i] = args.weight[l][j * k + i];
            }
            b[j] = args.bias[l][j];
        }
        mlp.weight_t.push_back(std::move(wt));
        mlp.weight.push_back(std::move(w));
        mlp.bias.push_back(std::move(b));
        mlp.sum_offsets.push_back(mlp.sum_floats);
        mlp.sum_floats += n * kp + np;
    }
    return mlp;
}

int64_t widest_padded(const FusedMlpArgs& args) {
    int64_t widest = 0;
    for (int l = 0; l <= args.layers; ++l) widest = std::max(widest, padded(args.widths[l]));
    return widest;
}

// Rows [begin, begin + rows) through every layer. buffer: 2 * kBlockRows * widest_padded floats.
FIELDS_CPU_CLONES
void forward_block(const CpuMlp& mlp, const float* x, int64_t begin, int64_t rows, float* out, float* hidden,
                   float* buffer) {
    const FusedMlpArgs& args = mlp.args;
    const int64_t widest = widest_padded(args);
    const float* a = x + begin * args.widths[0];
    int64_t a_row = args.widths[0];
    for (int l = 0; l < args.layers; ++l) {
        const int64_t k = args.widths[l], n = args.widths[l + 1], np = padded(n);
        float* c = buffer + (l % 2) * kBlockRows * widest;
        for (int64_t r = 0; r < rows; ++r) std::copy_n(mlp.bias[l].data(), np, c + r * np);
        accumulate_product(c, np, rows, np, a, a_row, 1, mlp.weight_t[l].data(), np, k);
        if (l + 1 < args.layers) {
            for (int64_t i = 0; i < rows * np; ++i) c[i] = relu_value(c[i]);
            if (hidden) {
                float* h = hidden + (l * args.batch + begin) * n;
                for (int64_t r = 0; r < rows; ++r) std::copy_n(c + r * np, n, h + r * n);
            }
        } else {
            float* y = out + begin * n;
            for (int64_t r = 0; r < rows; ++r)
                for (int64_t j = 0; j < n; ++j) y[r * n + j] = output_value(args.output_activation, c[r * np + j]);
        }
        a = c;
        a_row = np;
    }
}

struct BackwardInputs {
    const float* x;
    const float* hidden;
    const float* out;
    const float* grad_out;
    float* grad_x;  // nullptr: not wanted
};

// Rows [begin, begin + rows): adds their parameter gradients to sums (layout of CpuMlp::sum_offsets) and writes
// their dL/dx. buffer: 3 * kBlockRows * widest_padded floats.
FIELDS_CPU_CLONES
void backward_block(const CpuMlp& mlp, const BackwardInputs& in, int64_t begin, int64_t rows, float* sums,
                    float* buffer) {
    const FusedMlpArgs& args = mlp.args;
    const int64_t widest = widest_padded(args);
    float* g = buffer;                                 // dL/dz of the current layer, [rows, pad(N)]
    float* g_next = buffer + kBlockRows * widest;      // dL/dz of the layer below
    float* layer_in = buffer + 2 * kBlockRows * widest;  // the current layer's input, [rows, pad(K)]
    const int64_t n_out = args.widths[args.layers], np_out = padded(n_out);
    for (int64_t r = 0; r < rows; ++r) {
        const float* y = in.out + (begin + r) * n_out;
        const float* gy = in.grad_out + (begin + r) * n_out;
        for (int64_t j = 0; j < np_out; ++j)
            g[r * np_out + j] = j < n_out ? output_grad(args.output_activation, y[j], gy[j]) : 0.f;
    }
    for (int l = args.layers - 1; l >= 0; --l) {
        const int64_t k = args.widths[l], n = args.widths[l + 1], kp = padded(k), np = padded(n);
        const float* src = l == 0 ? in.x + begin * k : in.hidden + ((l - 1) * args.batch + begin) * k;
        for (int64_t r = 0; r < rows; ++r) {
            std::copy_n(src + r * k, k, layer_in + r * kp);
            std::fill(layer_in + r * kp + k, layer_in + (r + 1) * kp, 0.f);
        }
        float* grad_weight = sums + mlp.sum_offsets[l];
        float* grad_bias = grad_weight + n * kp;
        // dL/dW += g^T a: rows j of g^T are the columns of g.
        accumulate_product(grad_weight, kp, n, kp, g, 1, np, layer_in, kp, rows);
        for (int64_t r = 0; r < rows; ++r)
            for (int64_t j = 0; j < np; ++j) grad_bias[j] += g[r * np + j];
        if (l == 0 && !in.grad_x) break;
        std::fill(g_next, g_next + rows * kp, 0.f);
        accumulate_product(g_next, kp, rows, kp, g, np, 1, mlp.weight[l].data(), kp, n);
        if (l > 0) {
            for (int64_t i = 0; i < rows * kp; ++i) g_next[i] = relu_grad(layer_in[i], g_next[i]);
        } else {
            for (int64_t r = 0; r < rows; ++r) std::copy_n(g_next + r * kp, k, in.grad_x + (begin + r) * k);
        }
        std::swap(g, g_next);
    }
}

void forward_cpu(const FusedMlpArgs& args, const float* x, float* out, float* hidden) {
    const CpuMlp mlp = make_cpu_mlp(args);
    const int64_t blocks = div_round_up(args.batch, kBlockRows);
    at::parallel_for(0, blocks, 1, [&](int64_t first, int64_t last) {
        std::vector<float> buffer(2 * kBlockRows * widest_padded(args));
        for (int64_t block = first; block < last; ++block) {
            const int64_t begin = block * kBlockRows;
            forward_block(mlp, x, begin, std::min(kBlockRows, args.batch - begin), out, hidden, buffer.data());
        }
    });
}

// Writes the parameter gradients into grads (and dL/dx, which in.grad_x points to).
void backward_cpu(const FusedMlpArgs& args, const BackwardInputs& in, const FusedMlpGrads& grads) {
    const CpuMlp mlp = make_cpu_mlp(args);
    const int64_t blocks = div_round_up(args.batch, kBlockRows);
    const int64_t slices = std::max<int64_t>(1, std::min(kMaxSlices, blocks));
    std::vector<float> sums(slices * mlp.sum_floats, 0.f);
    at::parallel_for(0, slices, 1, [&](int64_t first, int64_t last) {
        std::vector<float> buffer(3 * kBlockRows * widest_padded(args));
        for (int64_t slice = first; slice < last; ++slice) {
            for (int64_t block = blocks * slice / slices; block < blocks * (slice + 1) / slices; ++block) {
                const int64_t begin = block * kBlockRows;
                backward_block(mlp, in, begin, std::min(kBlockRows, args.batch - begin),
                               sums.data() + slice * mlp.sum_floats, buffer.data());
            }
        }
    });
    // Slice totals in slice order; a slice's sums are [N, pad(K)] weights then pad(N) biases per layer.
    const auto total = [&](int64_t at) {
        float sum = 0.f;
        for (int64_t s = 0; s < slices; ++s) sum += sums[s * mlp.sum_floats + at];
        return sum;
    };
    for (int l = 0; l < args.layers; ++l) {
        const int64_t k = args.widths[l], n = args.widths[l + 1], kp = padded(k), start = mlp.sum_offsets[l];
        for (int64_t j = 0; j < n; ++j) {
            for (int64_t i = 0; i < k; ++i) grads.weight[l][j * k + i] = total(start + j * kp + i);
            grads.bias[l][j] = total(start + n * kp + j);
        }
    }
}

MlpActivation parse_activation(const std::string& name, const char* op) {
    if (name == "none") return MlpActivation::kNone;
    if (name == "sigmoid") return MlpActivation::kSigmoid;
    FIELDS_CHECK_VALUE(false, op, ": output_activation must be 'none' or 'sigmoid', got '", name, "'");
    return MlpActivation::kNone;
}

FusedMlpArgs check_mlp(const at::Tensor& x, const std::vector<at::Tensor>& weights,
                       const std::vector<at::Tensor>& biases, const std::string& activation, const char* op) {
    check_tensor(x, op, "x", at::kFloat, {-1, -1});
    const int64_t layers = static_cast<int64_t>(weights.size());
    FIELDS_CHECK_VALUE(layers >= 1 && layers <= kMlpMaxLayers, op, ": needs 1 to ", kMlpMaxLayers,
                       " weight matrices, got ", layers);
    FIELDS_CHECK_VALUE(static_cast<int64_t>(biases.size()) == layers, op, ": needs one bias per weight matrix, got ",
                       biases.size(), " biases for ", layers, " weights");
    FusedMlpArgs args{};
    args.batch = x.size(0);
    args.layers = static_cast<int>(layers);
    args.output_activation = parse_activation(activation, op);
    args.widths[0] = static_cast<int>(x.size(1));
    FIELDS_CHECK_VALUE(x.size(1) >= 1 && x.size(1) <= kMlpMaxWidth, op, ": argument 'x' must have 1 to ",
                       kMlpMaxWidth, " columns, got ", x.size(1));
    for (int64_t l = 0; l < layers; ++l) {
        const std::string weight_name = "weights[" + std::to_string(l) + "]";
        const std::string bias_name = "biases[" + std::to_string(l) + "]";
        check_tensor(weights[l], op, weight_name.c_str(), at::kFloat, {-1, args.widths[l]});
        const int64_t n = weights[l].size(0);
        FIELDS_CHECK_VALUE(n >= 1 && n <= kMlpMaxWidth, op, ": argument '", weight_name, "' must have 1 to ",
                           kMlpMaxWidth, " rows, got ", n);
        FIELDS_CHECK_VALUE(l == 0 || l == layers - 1 || n == args.widths[1], op, ": argument '", weight_name,
                           "' has ", n, " rows but the hidden layers are ", args.widths[1],
                           " wide (all hidden layers must have one width)");
        check_tensor(biases[l], op, bias_name.c_str(), at::kFloat, {n});
        check_same_device(x, weights[l], op, "x", weight_name.c_str());
        check_same_device(x, biases[l], op, "x", bias_name.c_str());
        args.widths[l + 1] = static_cast<int>(n);
        args.weight[l] = weights[l].data_ptr<float>();
        args.bias[l] = biases[l].data_ptr<float>();
    }
    return args;
}

std::vector<int64_t> hidden_shape(const FusedMlpArgs& args, bool keep) {
    const int64_t width = args.layers > 1 ? args.widths[1] : 0;
    return {keep ? args.layers - 1 : 0, args.batch, width};
}

// Returns y [B, O] and, when keep_hidden, the hidden activations [L-1, B, H] the backward pass reads (else [0, B, H]).
std::tuple<at::Tensor, at::Tensor> fused_mlp_forward(const at::Tensor& x, const std::vector<at::Tensor>& weights,
                                                     const std::vector<at::Tensor>& biases,
                                                     const std::string& output_activation, bool keep_hidden) {
    const FusedMlpArgs args = check_mlp(x, weights, biases, output_activation, "fused_mlp");
    at::Tensor out = at::empty({args.batch, args.widths[args.layers]}, x.options());
    at::Tensor hidden = at::empty(hidden_shape(args, keep_hidden), x.options());
    if (args.batch == 0) return {out, hidden};
    float* hidden_ptr = keep_hidden && args.layers > 1 ? hidden.data_ptr<float>() : nullptr;
#ifdef WITH_CUDA
    if (x.is_cuda()) {
        fused_mlp_forward_cuda(args, x.data_ptr<float>(), out.data_ptr<float>(), hidden_ptr,
                               at::cuda::getCurrentCUDAStream().stream());
        return {out, hidden};
    }
#endif
    forward_cpu(args, x.data_ptr<float>(), out.data_ptr<float>(), hidden_ptr);
    return {out, hidden};
}

// Returns dL/dx (empty [0, I] unless x_grad), the weight gradients and the bias gradients.
std::tuple<at::Tensor, std::vector<at::Tensor>, std::vector<at::Tensor>> fused_mlp_backward(
    const at::Tensor& x, const std::vector<at::Tensor>& weights, const std::vector<at::Tensor>& biases,
    const std::string& output_activation, const at::Tensor& hidden, const at::Tensor& out,
    const at::Tensor& grad_out, bool x_grad) {
    const char* op = "fused_mlp_backward";
    const FusedMlpArgs args = check_mlp(x, weights, biases, output_activation, op);
    const std::vector<int64_t> hidden_sizes = hidden_shape(args, true);
    check_tensor(hidden, op, "hidden", at::kFloat, {hidden_sizes[0], hidden_sizes[1], hidden_sizes[2]});
    check_tensor(out, op, "out", at::kFloat, {args.batch, args.widths[args.layers]});
    check_tensor(grad_out, op, "grad_out", at::kFloat, {args.batch, args.widths[args.layers]});
    check_same_device(x, hidden, op, "x", "hidden");
    check_same_device(x, out, op, "x", "out");
    check_same_device(x, grad_out, op, "x", "grad_out");
    at::Tensor grad_x = x_grad ? at::empty_like(x) : at::empty({0, args.widths[0]}, x.options());
    std::vector<at::Tensor> grad_weights, grad_biases;
    FusedMlpGrads grads{x_grad ? grad_x.data_ptr<float>() : nullptr, {}, {}};
    for (int l = 0; l < args.layers; ++l) {
        // Zeros: an empty batch's gradients; otherwise every entry is written.
        grad_weights.push_back(args.batch == 0 ? at::zeros_like(weights[l]) : at::empty_like(weights[l]));
        grad_biases.push_back(args.batch == 0 ? at::zeros_like(biases[l]) : at::empty_like(biases[l]));
        grads.weight[l] = grad_weights.back().data_ptr<float>();
        grads.bias[l] = grad_biases.back().data_ptr<float>();
    }
    if (args.batch == 0) return {grad_x, grad_weights, grad_biases};
    const BackwardInputs in{x.data_ptr<float>(), hidden.data_ptr<float>(), out.data_ptr<float>(),
                            grad_out.data_ptr<float>(), grads.x};
#ifdef WITH_CUDA
    if (x.is_cuda()) {
        at::Tensor scratch = at::empty({mlp_backward_scratch_floats(args)}, x.options());
        fused_mlp_backward_cuda(args, in.x, in.hidden, in.out, in.grad_out, grads, scratch.data_ptr<float>(),
                                at::cuda::getCurrentCUDAStream().stream());
        return {grad_x, grad_weights, grad_biases};
    }
#endif
    backward_cpu(args, in, grads);
    return {grad_x, grad_weights, grad_biases};
}

}  // namespace

// Registered per backend rather than as one composite kernel, so that dispatch-level tools (a TorchDispatchMode,
// the profiler) see one fused_mlp op per pass, as a GPU sees one kernel launch (two for the CUDA backward), and not
// the allocations inside it.
TORCH_LIBRARY_FRAGMENT(fields, m) {
    m.def("fused_mlp_forward(Tensor x, Tensor[] weights, Tensor[] biases, str output_activation, bool keep_hidden) "
          "-> (Tensor, Tensor)");
    m.def("fused_mlp_backward(Tensor x, Tensor[] weights, Tensor[] biases, str output_activation, Tensor hidden, "
          "Tensor out, Tensor grad_out, bool x_grad) -> (Tensor, Tensor[], Tensor[])");
}

TORCH_LIBRARY_IMPL(fields, CPU, m) {
    m.impl("fused_mlp_forward", &fused_mlp_forward);
    m.impl("fused_mlp_backward", &fused_mlp_backward);
}

#ifdef WITH_CUDA
TORCH_LIBRARY_IMPL(fields, CUDA, m) {
    m.impl("fused_mlp_forward", &fused_mlp_forward);
    m.impl("fused_mlp_backward", &fused_mlp_backward);
}
#endif

}  // namespace fields
