// Z-buffer triangle rasterizer, CUDA kernels. No torch headers: compiles with plain nvcc.
//
// Passes: vertices to camera space; per-triangle setup and bounding box; z-buffering, where every covered pixel
// takes the atomicMin of a 64-bit key (depth bits high, triangle id low: the nearest hit wins, the lower id at
// equal depth, whatever the thread order); a per-pixel resolve that blends the winner's colours. Small triangles
// get one thread each; triangles with large boxes get a whole block each, so one big triangle never serialises
// its pixels on a single thread.
#include <cuda_runtime.h>

#include "fields_core/rasterize.h"

namespace fields {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kLargeBoxPixels = 256;  // above this many box pixels, a triangle is drawn by a whole block
constexpr int kLargeTriangleBlocks = 1024;
constexpr unsigned long long kEmptyKey = ~0ull;

__device__ int64_t box_pixels(const int* box) {
    if (box[0] > box[1]) return 0;
    return static_cast<int64_t>(box[1] - box[0] + 1) * (box[3] - box[2] + 1);
}

// Depth is >= near > 0, so its IEEE bits order like the floats and the key orders by (depth, triangle id).
__device__ unsigned long long depth_key(float depth, int64_t triangle) {
    return (static_cast<unsigned long long>(__float_as_uint(depth)) << 32) | static_cast<unsigned int>(triangle);
}

// Box pixel `i` (row-major inside the box) of triangle f: z-tests it and keeps the smaller key.
__device__ void draw_box_pixel(int64_t f, const float* tri, const int* box, int64_t i, Intrinsics k, float near,
                               int64_t width, unsigned long long* keys) {
    const int64_t box_width = box[1] - box[0] + 1;
    const int64_t u = box[0] + i % box_width;
    const int64_t v = box[2] + i / box_width;
    float depth;
    if (!hit_triangle(tri, pixel_ray_x(u, k), pixel_ray_y(v, k), near, &depth)) return;
    const unsigned long long key = depth_key(depth, f);
    unsigned long long* slot = keys + v * width + u;
    if (key < *slot) atomicMin(slot, key);  // keys only decrease: a stale read never skips a needed update
}

__global__ void to_camera_kernel(const float* __restrict__ vertices, int64_t n, const float* __restrict__ w2c,
                                 float* __restrict__ cam) {
    const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (i >= n) return;
    to_camera(w2c, vertices + 3 * i, cam + 3 * i);
}

__global__ void setup_kernel(const float* __restrict__ cam, const int64_t* __restrict__ faces, int64_t num_faces,
                             Intrinsics k, float near, int64_t width, int64_t height, float* __restrict__ setup,
                             int* __restrict__ boxes) {
    const int64_t f = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (f >= num_faces) return;
    setup_triangle(cam, faces + 3 * f, k, near, width, height, setup + kTriangleSetupSize * f, boxes + 4 * f);
}

__global__ void draw_small_kernel(const float* __restrict__ setup, const int* __restrict__ boxes, int64_t num_faces,
                                  Intrinsics k, float near, int64_t width, unsigned long long* keys) {
    const int64_t f = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (f >= num_faces) return;
    const int* box = boxes + 4 * f;
    const int64_t pixels = box_pixels(box);
    if (pixels > kLargeBoxPixels) return;
    for (int64_t i = 0; i < pixels; ++i) draw_box_pixel(f, setup + kTriangleSetupSize * f, box, i, k, near, width, keys);
}

// Each block walks the triangles f = blockIdx.x, blockIdx.x + gridDim.x, ... and draws the large ones with all
// its threads.
__global__ void draw_large_kernel(const float* __restrict__ setup, const int* __restrict__ boxes, int64_t num_faces,
                                  Intrinsics k, float near, int64_t width, unsigned long long* keys) {
    for (int64_t f = blockIdx.x; f < num_faces; f += gridDim.x) {
        const int* box = boxes + 4 * f;
        const int64_t pixels = box_pixels(box);
        if (pixels <= kLargeBoxPixels) continue;
        for (int64_t i = threadIdx.x; i < pixels; i += blockDim.x) {
            draw_box_pixel(f, setup + kTriangleSetupSize * f, box, i, k, near, width, keys);
        }
    }
}

__global__ void resolve_kernel(const unsigned long long* __restrict__ keys, const float* __restrict__ setup,
                               const int64_t* __restrict__ faces, const float* __restrict__ colors, Intrinsics k,
                               int64_t width, int64_t num_pixels, float* __restrict__ rgb,
                               float* __restrict__ depth, int64_t* __restrict__ triangle_id) {
    const int64_t p = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (p >= num_pixels) return;
    const unsigned long long key = keys[p];
    float* out = rgb + 3 * p;
    if (key == kEmptyKey) {
        out[0] = out[1] = out[2] = 0.f;
        depth[p] = INFINITY;
        triangle_id[p] = -1;
        return;
    }
    const int64_t f = static_cast<int64_t>(key & 0xffffffffull);
    hit_color(setup + kTriangleSetupSize * f, colors, faces + 3 * f, pixel_ray_x(p % width, k),
              pixel_ray_y(p / width, k), out);
    depth[p] = __uint_as_float(static_cast<unsigned int>(key >> 32));  // exactly the z-tested depth
    triangle_id[p] = f;
}

unsigned int blocks_for(int64_t n) { return static_cast<unsigned int>(div_round_up(n, kThreads)); }

}  // namespace

void rasterize_forward_cuda(const float* vertices, int64_t num_vertices, const int64_t* faces, int64_t num_faces,
                            const float* colors, const float* w2c, Intrinsics intrinsics, int64_t width,
                            int64_t height, float near, float* cam_vertices, float* setup, int* boxes,
                            unsigned long long* keys, float* rgb, float* depth, int64_t* triangle_id, void* stream) {
    const cudaStream_t s = static_cast<cudaStream_t>(stream);
    const int64_t num_pixels = width * height;
    cudaMemsetAsync(keys, 0xff, sizeof(unsigned long long) * num_pixels, s);  // every key = kEmptyKey
    if (num_vertices > 0) {
        to_camera_kernel<<<blocks_for(num_vertices), kThreads, 0, s>>>(vertices, num_vertices, w2c, cam_vertices);
    }
    if (num_faces > 0) {
        setup_kernel<<<blocks_for(num_faces), kThreads, 0, s>>>(cam_vertices, faces, num_faces, intrinsics, near,
                                                                width, height, setup, boxes);
        draw_small_kernel<<<blocks_for(num_faces), kThreads, 0, s>>>(setup, boxes, num_faces, intrinsics, near, width,
                                                                     keys);
        const unsigned int large_blocks =
            static_cast<unsigned int>(num_faces < kLargeTriangleBlocks ? num_faces : kLargeTriangleBlocks);
        draw_large_kernel<<<large_blocks, kThreads, 0, s>>>(setup, boxes, num_faces, intrinsics, near, width, keys);
    }
    resolve_kernel<<<blocks_for(num_pixels), kThreads, 0, s>>>(keys, setup, faces, colors, intrinsics, width,
                                                               num_pixels, rgb, depth, triangle_id);
}

}  // namespace fields
