// Real spherical harmonics of a unit direction, bands 0..degree-1 (degree² outputs, tiny-cuda-nn's convention:
// degree 4 gives the 16 coefficients of bands 0-3; degree 5 adds band 4). Shared by CPU and CUDA kernels.
#pragma once

#include "fields_core/common.h"
#include "fields_core/dual.h"

namespace fields {

constexpr int kMaxShDegree = 5;

// T is float (forward) or Dual3 (gradient with respect to x, y, z).
template <typename T>
FIELDS_HD void sh_basis(const T& x, const T& y, const T& z, int degree, T* out) {
    out[0] = T(0.28209479177387814f);
    if (degree <= 1) return;
    out[1] = -0.48860251190291987f * y;
    out[2] = 0.48860251190291987f * z;
    out[3] = -0.48860251190291987f * x;
    if (degree <= 2) return;
    const T xx = x * x, yy = y * y, zz = z * z, xy = x * y, yz = y * z, xz = x * z;
    out[4] = 1.0925484305920792f * xy;
    out[5] = -1.0925484305920792f * yz;
    out[6] = 0.31539156525252005f * (2.f * zz - xx - yy);
    out[7] = -1.0925484305920792f * xz;
    out[8] = 0.54627421529603959f * (xx - yy);
    if (degree <= 3) return;
    out[9] = -0.59004358992664352f * (y * (3.f * xx - yy));
    out[10] = 2.8906114426405538f * (xy * z);
    out[11] = -0.45704579946446572f * (y * (4.f * zz - xx - yy));
    out[12] = 0.3731763325901154f * (z * (2.f * zz - 3.f * xx - 3.f * yy));
    out[13] = -0.45704579946446572f * (x * (4.f * zz - xx - yy));
    out[14] = 1.4453057213202769f * (z * (xx - yy));
    out[15] = -0.59004358992664352f * (x * (xx - 3.f * yy));
    if (degree <= 4) return;
    out[16] = 2.5033429417967046f * (xy * (xx - yy));
    out[17] = -1.7701307697799304f * (yz * (3.f * xx - yy));
    out[18] = 0.94617469575756008f * (xy * (7.f * zz - T(1.f)));
    out[19] = -0.66904654355728921f * (yz * (7.f * zz - T(3.f)));
    out[20] = 0.10578554691520431f * (zz * (35.f * zz - T(30.f)) + T(3.f));
    out[21] = -0.66904654355728921f * (xz * (7.f * zz - T(3.f)));
    out[22] = 0.47308734787878004f * ((xx - yy) * (7.f * zz - T(1.f)));
    out[23] = -1.7701307697799304f * (xz * (xx - 3.f * yy));
    out[24] = 0.62583573544917614f * (xx * (xx - 3.f * yy) - yy * (3.f * xx - yy));
}

// CUDA launchers (cuda/cuda/sh_encoding.cu). `stream` is a cudaStream_t.
void sh_encode_forward_cuda(const float* dirs, int64_t n, int degree, float* out, void* stream);
void sh_encode_backward_cuda(const float* dirs, const float* grad_out, int64_t n, int degree, float* grad_dirs,
                             void* stream);

}  // namespace fields
