// No floating-point contraction in this file: a multiply and an add are never fused into one
// FMA (clang's default contraction fuses them in the avx512f clones of the exponential and the
// Adam step, and cannot in the default clone), so every instruction-set clone computes the same
// operations in the same order and results do not depend on which clone runs. The pragma does
// what the build flag -ffp-contract=off did (clang gives the same object code), and unlike a
// flag in Package.swift it still holds when another package builds this one as a dependency.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off") // GCC ignores the standard pragma below.
#else
#pragma STDC FP_CONTRACT OFF
#endif
#include "emfleet_kernels.h"
#include <stdint.h>
#include <string.h>
#include <math.h>

#if defined(__x86_64__) && defined(__linux__)
#define EMFLEET_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define EMFLEET_CLONES
#endif

EMFLEET_CLONES
void emfleet_exp_inplace(double *restrict values, long n) {
    const double shifter = 0x1.8p52;
    for (long i = 0; i < n; i++) {
        double input = values[i];
        double x = input < -701.0 ? -701.0 : (input > 700.0 ? 700.0 : input);
        // Adding 1.5*2^52 rounds x*log2(e) to an integer held in the low mantissa bits.
        double shifted = x * 1.4426950408889634 + shifter;
        double k = shifted - shifter;
        double r = (x - k * 0.693147180369123816490) - k * 1.90821492927058770002e-10;
        double p = 1.0 / 6227020800.0;
        p = p * r + 1.0 / 479001600.0;
        p = p * r + 1.0 / 39916800.0;
        p = p * r + 1.0 / 3628800.0;
        p = p * r + 1.0 / 362880.0;
        p = p * r + 1.0 / 40320.0;
        p = p * r + 1.0 / 5040.0;
        p = p * r + 1.0 / 720.0;
        p = p * r + 1.0 / 120.0;
        p = p * r + 1.0 / 24.0;
        p = p * r + 1.0 / 6.0;
        p = p * r + 0.5;
        p = p * r + 1.0;
        p = p * r + 1.0;
        uint64_t bits, shifterBits;
        memcpy(&bits, &shifted, sizeof bits);
        memcpy(&shifterBits, &shifter, sizeof shifterBits);
        uint64_t scaleBits = (bits - shifterBits + 1023u) << 52;
        double scale;
        memcpy(&scale, &scaleBits, sizeof scale);
        values[i] = input <= -700.0 ? 0.0 : p * scale;
    }
}

EMFLEET_CLONES
void emfleet_expand_quadratic(const double *restrict x, long rows, long d, int cross, double *restrict features, long stride) {
    for (long row = 0; row < rows; row++) {
        const double *restrict xr = x + row * d;
        double *restrict f = features + row * stride;
        long q = 0;
        if (cross) {
            for (long i = 0; i < d; i++) {
                double xi = xr[i];
                for (long j = i; j < d; j++) f[q + j - i] = xi * xr[j];
                q += d - i;
            }
        } else {
            for (long i = 0; i < d; i++) f[i] = xr[i] * xr[i];
            q = d;
        }
        for (long i = 0; i < d; i++) f[q + i] = xr[i];
    }
}

// One Adam step over n parameters with the gradient scaled by `scale` first. The operations and
// their order are those of the scalar definition (no contraction: FP_CONTRACT OFF above), and IEEE
// division and square root are correctly rounded in every width, so the bits do not depend on
// the instruction set.
EMFLEET_CLONES
void emfleet_adam_update(double *restrict w, double *restrict m, double *restrict v, const double *restrict gradient,
                         long n, double scale, double beta1, double beta2, double rate, double epsilon) {
    const double keep1 = 1 - beta1, keep2 = 1 - beta2;
    for (long i = 0; i < n; i++) {
        const double g = gradient[i] * scale;
        const double mi = beta1 * m[i] + keep1 * g;
        const double vi = beta2 * v[i] + keep2 * (g * g);
        m[i] = mi;
        v[i] = vi;
        w[i] += -rate * mi / (sqrt(vi) + epsilon);
    }
}

// Network element-wise kernels. Each value's result depends on that value alone, or (column
// sums) on a fixed row order, so every clone gives the same bits.
#define EMFLEET_NETWORK_KERNELS(T, SUFFIX)                                                         \
    EMFLEET_CLONES void emfleet_relu_##SUFFIX(T *restrict z, long n) {                             \
        for (long i = 0; i < n; i++) z[i] = z[i] > 0 ? z[i] : 0;                                   \
    }                                                                                              \
    EMFLEET_CLONES void emfleet_relu_mask_##SUFFIX(T *restrict delta, const T *restrict a, long n) { \
        for (long i = 0; i < n; i++) delta[i] = a[i] > 0 ? delta[i] : 0;                           \
    }                                                                                              \
    EMFLEET_CLONES void emfleet_column_sums_##SUFFIX(const T *restrict m, long rows, long columns, \
                                                      T *restrict out) {                           \
        for (long j = 0; j < columns; j++) out[j] = m[j];                                          \
        for (long r = 1; r < rows; r++) {                                                          \
            const T *restrict row = m + r * columns;                                               \
            for (long j = 0; j < columns; j++) out[j] += row[j];                                   \
        }                                                                                          \
    }

EMFLEET_NETWORK_KERNELS(double, f64)
EMFLEET_NETWORK_KERNELS(float, f32)

// A value is NaN or infinite exactly when all its exponent bits are set; testing the bits
// (not comparisons) keeps the loop branch-free and vectorised.
#define EMFLEET_ALL_FINITE(T, BITS, EXPONENT, SUFFIX)                                      \
    EMFLEET_CLONES int emfleet_all_finite_##SUFFIX(const T *restrict values, long n) {     \
        BITS bad = 0;                                                                      \
        for (long i = 0; i < n; i++) {                                                     \
            BITS bits;                                                                     \
            memcpy(&bits, values + i, sizeof bits);                                        \
            bad |= (bits & (EXPONENT)) == (EXPONENT);                                      \
        }                                                                                  \
        return bad == 0;                                                                   \
    }

EMFLEET_ALL_FINITE(double, uint64_t, 0x7ff0000000000000ull, f64)
EMFLEET_ALL_FINITE(float, uint32_t, 0x7f800000u, f32)
