// exp(-x) and 1 - exp(-x) for x >= 0 as inline polynomials, for host and device code. Unlike libm's expf/expm1f
// (out-of-line calls on the CPU) they let the compiler vectorise a loop over samples. Both stay within a few float
// ulp of the exact values.
//
// They contain no floating-point branch or select: GCC's default -ftrapping-math forbids if-converting those, which
// blocks vectorisation. Clamps and selects work on the bit patterns instead (for non-negative floats these order
// like the values) and the one blend is arithmetic.
#pragma once

#include <cstdint>
#include <cstring>

#include "fields_core/common.h"

namespace fields {

FIELDS_HD int32_t float_bits(float x) {
    int32_t bits;
    memcpy(&bits, &x, sizeof(bits));
    return bits;
}

FIELDS_HD float bits_float(int32_t bits) {
    float x;
    memcpy(&x, &bits, sizeof(x));
    return x;
}

// max(x, 0) (negative floats have negative bit patterns).
FIELDS_HD float positive_part(float x) {
    const int32_t bits = float_bits(x);
    return bits_float(bits > 0 ? bits : 0);
}

// min(x, limit) for x, limit >= 0.
FIELDS_HD float min_nonnegative(float x, float limit) {
    return bits_float(float_bits(x) < float_bits(limit) ? float_bits(x) : float_bits(limit));
}

// exp(-x) for x >= 0 (and +inf). x is clamped to 87, so the result never drops below exp(-87) ~ 1.6e-38 (the
// smallest normal float): an absolute error below 2e-38, and no subnormal arithmetic.
FIELDS_HD float exp_neg(float x) {
    const float y = -min_nonnegative(x, 87.f);
    // y = n ln2 + r with |r| <= ln2 / 2; adding and subtracting 1.5 * 2^23 rounds to the nearest integer.
    constexpr float kRound = 12582912.f;
    const float n = (y * 1.44269504088896341f + kRound) - kRound;
    const float r = (y - n * 0.693145751953125f) - n * 1.42860682030941723e-6f;  // ln2 split in two (Cody-Waite)
    // Taylor polynomial of exp(r) to r^7: truncation error below 3e-9 relative for |r| <= ln2 / 2.
    float p = 1.f / 5040.f;
    p = p * r + 1.f / 720.f;
    p = p * r + 1.f / 120.f;
    p = p * r + 1.f / 24.f;
    p = p * r + 1.f / 6.f;
    p = p * r + 0.5f;
    p = p * r + 1.f;
    p = p * r + 1.f;
    return p * bits_float((static_cast<int32_t>(n) + 127) << 23);  // times 2^n, n in [-126, 0]
}

// 1 - exp(-x) for x >= 0 (and +inf), accurate for tiny x too, where the subtraction would cancel.
FIELDS_HD float one_minus_exp_neg(float x) {
    constexpr float kSmall = 0.25f;
    // Below kSmall: x - x^2/2 + x^3/6 - ... to x^7, error below 2e-9 relative. Evaluated at min(x, kSmall) so that
    // it stays finite when unused.
    const float xs = min_nonnegative(x, kSmall);
    float p = -1.f / 5040.f;
    p = p * xs + 1.f / 720.f;
    p = p * xs - 1.f / 120.f;
    p = p * xs + 1.f / 24.f;
    p = p * xs - 1.f / 6.f;
    p = p * xs + 0.5f;
    p = p * xs - 1.f;
    const float small = -(p * xs);
    const float large = 1.f - exp_neg(x);
    // An arithmetic select: use_small is exactly 0 or 1, and with 1, large + (small - large) rounds back to small
    // (exactly, when the two agree to a factor of 2; otherwise within an ulp of small).
    const float use_small = float_bits(x) < float_bits(kSmall) ? 1.f : 0.f;
    return large + use_small * (small - large);
}

}  // namespace fields
