// Spherical-harmonics encoding of unit directions: torch glue, argument checks and the CPU kernels.
#include <ATen/Parallel.h>
#include <torch/library.h>

#include "fields_core/sh_encoding.h"
#include "fields_core/torch_checks.h"

namespace fields {
namespace {

constexpr int64_t kGrain = 2048;

void check_degree(int64_t degree) {
    FIELDS_CHECK_VALUE(degree >= 1 && degree <= kMaxShDegree, "sh_encode: degree must be in [1, ", kMaxShDegree,
                       "], got ", degree);
}

void sh_forward_cpu(const float* dirs, int64_t n, int degree, float* out) {
    const int width = degree * degree;
    at::parallel_for(0, n, kGrain, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
            const float* d = dirs + 3 * i;
            sh_basis<float>(d[0], d[1], d[2], degree, out + i * width);
        }
    });
}

void sh_backward_cpu(const float* dirs, const float* grad_out, int64_t n, int degree, float* grad_dirs) {
    const int width = degree * degree;
    at::parallel_for(0, n, kGrain, [&](int64_t begin, int64_t end) {
        Dual3 basis[kMaxShDegree * kMaxShDegree];
        for (int64_t i = begin; i < end; ++i) {
            const float* d = dirs + 3 * i;
            sh_basis<Dual3>(Dual3::variable(d[0], 0), Dual3::variable(d[1], 1), Dual3::variable(d[2], 2), degree,
                            basis);
            float g[3] = {0.f, 0.f, 0.f};
            for (int k = 0; k < width; ++k) {
                const float go = grad_out[i * width + k];
                for (int a = 0; a < 3; ++a) g[a] += go * basis[k].d[a];
            }
            for (int a = 0; a < 3; ++a) grad_dirs[3 * i + a] = g[a];
        }
    });
}

at::Tensor sh_encode_forward(const at::Tensor& dirs, int64_t degree) {
    check_tensor(dirs, "sh_encode", "dirs", at::kFloat, {-1, 3});
    check_degree(degree);
    const int64_t n = dirs.size(0);
    at::Tensor out = at::empty({n, degree * degree}, dirs.options());
    if (n == 0) return out;
#ifdef WITH_CUDA
    if (dirs.is_cuda()) {
        sh_encode_forward_cuda(dirs.data_ptr<float>(), n, static_cast<int>(degree), out.data_ptr<float>(),
                               at::cuda::getCurrentCUDAStream().stream());
        return out;
    }
#endif
    sh_forward_cpu(dirs.data_ptr<float>(), n, static_cast<int>(degree), out.data_ptr<float>());
    return out;
}

at::Tensor sh_encode_backward(const at::Tensor& dirs, const at::Tensor& grad_out, int64_t degree) {
    check_tensor(dirs, "sh_encode_backward", "dirs", at::kFloat, {-1, 3});
    check_degree(degree);
    check_tensor(grad_out, "sh_encode_backward", "grad_out", at::kFloat, {dirs.size(0), degree * degree});
    check_same_device(dirs, grad_out, "sh_encode_backward", "dirs", "grad_out");
    const int64_t n = dirs.size(0);
    at::Tensor grad_dirs = at::empty_like(dirs);
    if (n == 0) return grad_dirs;
#ifdef WITH_CUDA
    if (dirs.is_cuda()) {
        sh_encode_backward_cuda(dirs.data_ptr<float>(), grad_out.data_ptr<float>(), n, static_cast<int>(degree),
                                grad_dirs.data_ptr<float>(), at::cuda::getCurrentCUDAStream().stream());
        return grad_dirs;
    }
#endif
    sh_backward_cpu(dirs.data_ptr<float>(), grad_out.data_ptr<float>(), n, static_cast<int>(degree),
                    grad_dirs.data_ptr<float>());
    return grad_dirs;
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(fields, m) {
    m.def("sh_encode_forward(Tensor dirs, int degree) -> Tensor", &sh_encode_forward);
    m.def("sh_encode_backward(Tensor dirs, Tensor grad_out, int degree) -> Tensor", &sh_encode_backward);
}

}  // namespace fields
