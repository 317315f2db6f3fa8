// A forward-mode dual number with three partials. Kernels write a formula once as a template and evaluate it with
// float for the forward pass and with Dual3 for the gradient, so the backward can never drift from the forward.
#pragma once

#include "fields_core/common.h"

namespace fields {

struct Dual3 {
    float v;
    float d[3];
    FIELDS_HD Dual3() : v(0.f), d{0.f, 0.f, 0.f} {}
    FIELDS_HD Dual3(float value) : v(value), d{0.f, 0.f, 0.f} {}
    FIELDS_HD static Dual3 variable(float value, int axis) {
        Dual3 r(value);
        r.d[axis] = 1.f;
        return r;
    }
};

FIELDS_HD Dual3 operator+(const Dual3& a, const Dual3& b) {
    Dual3 r(a.v + b.v);
    for (int i = 0; i < 3; ++i) r.d[i] = a.d[i] + b.d[i];
    return r;
}
FIELDS_HD Dual3 operator-(const Dual3& a, const Dual3& b) {
    Dual3 r(a.v - b.v);
    for (int i = 0; i < 3; ++i) r.d[i] = a.d[i] - b.d[i];
    return r;
}
FIELDS_HD Dual3 operator*(const Dual3& a, const Dual3& b) {
    Dual3 r(a.v * b.v);
    for (int i = 0; i < 3; ++i) r.d[i] = a.d[i] * b.v + a.v * b.d[i];
    return r;
}
FIELDS_HD Dual3 operator*(float s, const Dual3& a) {
    Dual3 r(s * a.v);
    for (int i = 0; i < 3; ++i) r.d[i] = s * a.d[i];
    return r;
}

FIELDS_HD float value_of(float x) { return x; }
FIELDS_HD float value_of(const Dual3& x) { return x.v; }

}  // namespace fields
