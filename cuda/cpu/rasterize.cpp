// Z-buffer triangle rasterizer: torch glue, argument checks and the CPU kernel.
//
// The CPU kernel bins triangles into bands of image rows by their bounding boxes, then renders the bands in
// parallel; each band owns its rows of the outputs, so no two threads ever write the same pixel.
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>
#include <vector>

#include "fields_core/rasterize.h"
#include "fields_core/torch_checks.h"

namespace fields {
namespace {

constexpr const char* kOp = "rasterize";
constexpr int64_t kBandRows = 8;
constexpr int64_t kGrain = 1024;

// Triangle ids per band of kBandRows image rows, in increasing id order (compressed-row layout).
struct Bins {
    std::vector<int64_t> start;  // [num_bands + 1]
    std::vector<int64_t> ids;
};

Bins bin_triangles(const int* boxes, int64_t num_faces, int64_t num_bands) {
    Bins bins;
    bins.start.assign(num_bands + 1, 0);
    auto visible = [&](int64_t f) { return boxes[4 * f] <= boxes[4 * f + 1]; };
    for (int64_t f = 0; f < num_faces; ++f) {
        if (!visible(f)) continue;
        for (int64_t b = boxes[4 * f + 2] / kBandRows; b <= boxes[4 * f + 3] / kBandRows; ++b) ++bins.start[b + 1];
    }
    for (int64_t b = 0; b < num_bands; ++b) bins.start[b + 1] += bins.start[b];
    bins.ids.resize(bins.start[num_bands]);
    std::vector<int64_t> fill(bins.start.begin(), bins.start.end() - 1);
    for (int64_t f = 0; f < num_faces; ++f) {
        if (!visible(f)) continue;
        for (int64_t b = boxes[4 * f + 2] / kBandRows; b <= boxes[4 * f + 3] / kBandRows; ++b) bins.ids[fill[b]++] = f;
    }
    return bins;
}

// Z-buffers the band's triangles into depth / triangle_id: the nearest hit wins, the lower id at equal depth.
void zbuffer_band(int64_t band, const Bins& bins, const float* setup, const int* boxes, const float* ray_x,
                  const float* ray_y, float near, int64_t width, int64_t height, float* depth, int64_t* triangle_id) {
    const int64_t row_begin = band * kBandRows;
    const int64_t row_end = std::min(row_begin + kBandRows, height);
    for (int64_t i = bins.start[band]; i < bins.start[band + 1]; ++i) {
        const int64_t f = bins.ids[i];
        const int* box = boxes + 4 * f;
        const float* tri = setup + kTriangleSetupSize * f;
        for (int64_t v = std::max<int64_t>(box[2], row_begin); v <= std::min<int64_t>(box[3], row_end - 1); ++v) {
            for (int64_t u = box[0]; u <= box[1]; ++u) {
                float d;
                if (!hit_triangle(tri, ray_x[u], ray_y[v], near, &d)) continue;
                const int64_t p = v * width + u;
                if (d < depth[p] || (d == depth[p] && f < triangle_id[p])) {
                    depth[p] = d;
                    triangle_id[p] = f;
                }
            }
        }
    }
}

// Blends the colours of each pixel's winning triangle (0 on the background).
void shade_band(int64_t band, const float* setup, const int64_t* faces, const float* colors, const float* ray_x,
                const float* ray_y, int64_t width, int64_t height, const int64_t* triangle_id, float* rgb) {
    const int64_t row_begin = band * kBandRows;
    const int64_t row_end = std::min(row_begin + kBandRows, height);
    for (int64_t v = row_begin; v < row_end; ++v) {
        for (int64_t u = 0; u < width; ++u) {
            const int64_t p = v * width + u;
            const int64_t f = triangle_id[p];
            float* out = rgb + 3 * p;
            if (f < 0) {
                out[0] = out[1] = out[2] = 0.f;
            } else {
                hit_color(setup + kTriangleSetupSize * f, colors, faces + 3 * f, ray_x[u], ray_y[v], out);
            }
        }
    }
}

void rasterize_cpu(const float* vertices, int64_t num_vertices, const int64_t* faces, int64_t num_faces,
                   const float* colors, const float* w2c, const Intrinsics& k, int64_t width, int64_t height,
                   float near, float* rgb, float* depth, int64_t* triangle_id) {
    std::vector<float> cam(3 * num_vertices);
    at::parallel_for(0, num_vertices, kGrain, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) to_camera(w2c, vertices + 3 * i, cam.data() + 3 * i);
    });
    std::vector<float> setup(kTriangleSetupSize * num_faces);
    std::vector<int> boxes(4 * num_faces);
    at::parallel_for(0, num_faces, kGrain, [&](int64_t begin, int64_t end) {
        for (int64_t f = begin; f < end; ++f) {
            setup_triangle(cam.data(), faces + 3 * f, k, near, width, height, setup.data() + kTriangleSetupSize * f,
                           boxes.data() + 4 * f);
        }
    });
    const int64_t num_bands = div_round_up(height, kBandRows);
    const Bins bins = bin_triangles(boxes.data(), num_faces, num_bands);
    std::vector<float> ray_x(width), ray_y(height);
    for (int64_t u = 0; u < width; ++u) ray_x[u] = pixel_ray_x(u, k);
    for (int64_t v = 0; v < height; ++v) ray_y[v] = pixel_ray_y(v, k);
    at::parallel_for(0, num_bands, 1, [&](int64_t begin, int64_t end) {
        for (int64_t band = begin; band < end; ++band) {
            zbuffer_band(band, bins, setup.data(), boxes.data(), ray_x.data(), ray_y.data(), near, width, height,
                         depth, triangle_id);
            shade_band(band, setup.data(), faces, colors, ray_x.data(), ray_y.data(), width, height, triangle_id, rgb);
        }
    });
}

void check_scalars(const Intrinsics& k, int64_t width, int64_t height, double near) {
    FIELDS_CHECK_VALUE(std::isfinite(k.fx) && std::isfinite(k.fy) && k.fx > 0.f && k.fy > 0.f, kOp,
                       ": argument 'intrinsics' needs finite fx > 0 and fy > 0, got fx=", k.fx, ", fy=", k.fy);
    FIELDS_CHECK_VALUE(std::isfinite(k.cx) && std::isfinite(k.cy), kOp,
                       ": argument 'intrinsics' needs finite cx and cy, got cx=", k.cx, ", cy=", k.cy);
    FIELDS_CHECK_VALUE(width >= 0 && width < (1 << 24), kOp, ": argument 'width' must be in [0, 2^24), got ", width);
    FIELDS_CHECK_VALUE(height >= 0 && height < (1 << 24), kOp, ": argument 'height' must be in [0, 2^24), got ",
                       height);
    FIELDS_CHECK_VALUE(std::isfinite(near) && near > 0.0, kOp, ": argument 'near' must be finite and > 0, got ", near);
}

// Faces may be int32 or int64; the kernels read int64. Indices must address existing vertices.
at::Tensor checked_faces(const at::Tensor& faces, int64_t num_vertices) {
    FIELDS_CHECK_TYPE(faces.defined() && (faces.scalar_type() == at::kInt || faces.scalar_type() == at::kLong), kOp,
                      ": argument 'faces' must have dtype int32 or int64, got ",
                      faces.defined() ? c10::toString(faces.scalar_type()) : "an undefined tensor");
    check_tensor(faces, kOp, "faces", faces.scalar_type(), {-1, 3});
    FIELDS_CHECK_VALUE(faces.size(0) < std::numeric_limits<int32_t>::max(), kOp,
                       ": argument 'faces' has too many triangles (", faces.size(0), ")");
    if (faces.numel() > 0) {
        auto [lowest, highest] = at::aminmax(faces);
        const int64_t lo = lowest.item<int64_t>(), hi = highest.item<int64_t>();
        FIELDS_CHECK_VALUE(lo >= 0 && hi < num_vertices, kOp, ": argument 'faces' holds vertex indices in [", lo,
                           ", ", hi, "] but there are ", num_vertices, " vertices");
    }
    return faces.to(at::kLong);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> rasterize_forward(const at::Tensor& vertices, const at::Tensor& faces,
                                                                 const at::Tensor& colors,
                                                                 const at::Tensor& world_to_camera, double fx,
                                                                 double fy, double cx, double cy, int64_t width,
                                                                 int64_t height, double near) {
    check_tensor(vertices, kOp, "vertices", at::kFloat, {-1, 3});
    const int64_t num_vertices = vertices.size(0);
    check_tensor(colors, kOp, "colors", at::kFloat, {num_vertices, 3});
    check_tensor(world_to_camera, kOp, "world_to_camera", at::kFloat, {3, 4});
    check_same_device(vertices, faces, kOp, "vertices", "faces");
    check_same_device(vertices, colors, kOp, "vertices", "colors");
    check_same_device(vertices, world_to_camera, kOp, "vertices", "world_to_camera");
    const Intrinsics k{static_cast<float>(fx), static_cast<float>(fy), static_cast<float>(cx), static_cast<float>(cy)};
    check_scalars(k, width, height, near);
    const at::Tensor faces64 = checked_faces(faces, num_vertices);
    const int64_t num_faces = faces64.size(0);
    const float near_f = static_cast<float>(near);

    at::Tensor rgb = at::empty({height, width, 3}, vertices.options());
    at::Tensor depth = at::full({height, width}, std::numeric_limits<float>::infinity(), vertices.options());
    at::Tensor triangle_id = at::full({height, width}, -1, vertices.options().dtype(at::kLong));
    if (width == 0 || height == 0) return {rgb, depth, triangle_id};
#ifdef WITH_CUDA
    if (vertices.is_cuda()) {
        at::Tensor cam_vertices = at::empty({num_vertices, 3}, vertices.options());
        at::Tensor setup = at::empty({num_faces, kTriangleSetupSize}, vertices.options());
        at::Tensor boxes = at::empty({num_faces, 4}, vertices.options().dtype(at::kInt));
        at::Tensor keys = at::empty({height * width}, vertices.options().dtype(at::kLong));
        rasterize_forward_cuda(vertices.data_ptr<float>(), num_vertices, faces64.data_ptr<int64_t>(), num_faces,
                               colors.data_ptr<float>(), world_to_camera.data_ptr<float>(), k, width, height, near_f,
                               cam_vertices.data_ptr<float>(), setup.data_ptr<float>(), boxes.data_ptr<int>(),
                               reinterpret_cast<unsigned long long*>(keys.data_ptr<int64_t>()), rgb.data_ptr<float>(),
                               depth.data_ptr<float>(), triangle_id.data_ptr<int64_t>(),
                               at::cuda::getCurrentCUDAStream().stream());
        return {rgb, depth, triangle_id};
    }
#endif
    rasterize_cpu(vertices.data_ptr<float>(), num_vertices, faces64.data_ptr<int64_t>(), num_faces,
                  colors.data_ptr<float>(), world_to_camera.data_ptr<float>(), k, width, height, near_f,
                  rgb.data_ptr<float>(), depth.data_ptr<float>(), triangle_id.data_ptr<int64_t>());
    return {rgb, depth, triangle_id};
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(fields, m) {
    m.def(
        "rasterize_forward(Tensor vertices, Tensor faces, Tensor colors, Tensor world_to_camera, float fx, float fy, "
        "float cx, float cy, int width, int height, float near) -> (Tensor rgb, Tensor depth, Tensor triangle_id)",
        &rasterize_forward);
}

}  // namespace fields
