// Ray–AABB intersection: torch glue, argument checks and the CPU kernel.
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <tuple>

#include "fields_core/ray_aabb.h"
#include "fields_core/torch_checks.h"

namespace fields {
namespace {

constexpr int64_t kGrain = 4096;

void ray_aabb_intersect_cpu(const float* rays_o, const float* rays_d, const float* aabb, int64_t n, float* t_near,
                            float* t_far, bool* hit) {
    at::parallel_for(0, n, kGrain, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
            hit[i] = ray_aabb_intersect_one(rays_o + 3 * i, rays_d + 3 * i, aabb, aabb + 3, t_near[i], t_far[i]);
        }
    });
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> ray_aabb_intersect(const at::Tensor& rays_o, const at::Tensor& rays_d,
                                                                  const at::Tensor& aabb) {
    constexpr const char* op = "ray_aabb_intersect";
    check_tensor(rays_o, op, "rays_o", at::kFloat, {-1, 3});
    check_tensor(rays_d, op, "rays_d", at::kFloat, {rays_o.size(0), 3});
    check_tensor(aabb, op, "aabb", at::kFloat, {6});
    check_same_device(rays_o, rays_d, op, "rays_o", "rays_d");
    check_same_device(rays_o, aabb, op, "rays_o", "aabb");
    const int64_t n = rays_o.size(0);
    at::Tensor t_near = at::empty({n}, rays_o.options());
    at::Tensor t_far = at::empty({n}, rays_o.options());
    at::Tensor hit = at::empty({n}, rays_o.options().dtype(at::kBool));
    if (n == 0) return {t_near, t_far, hit};
#ifdef WITH_CUDA
    if (rays_o.is_cuda()) {
        ray_aabb_intersect_cuda(rays_o.data_ptr<float>(), rays_d.data_ptr<float>(), aabb.data_ptr<float>(), n,
                                t_near.data_ptr<float>(), t_far.data_ptr<float>(), hit.data_ptr<bool>(),
                                at::cuda::getCurrentCUDAStream().stream());
        return {t_near, t_far, hit};
    }
#endif
    ray_aabb_intersect_cpu(rays_o.data_ptr<float>(), rays_d.data_ptr<float>(), aabb.data_ptr<float>(), n,
                           t_near.data_ptr<float>(), t_far.data_ptr<float>(), hit.data_ptr<bool>());
    return {t_near, t_far, hit};
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(fields, m) {
    m.def("ray_aabb_intersect(Tensor rays_o, Tensor rays_d, Tensor aabb) -> (Tensor, Tensor, Tensor)",
          &ray_aabb_intersect);
}

}  // namespace fields
