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

#if defined(__clang__)
#define EMFLEET_NO_VECTORIZE _Pragma("clang loop vectorize(disable)")
#else
#define EMFLEET_NO_VECTORIZE
#endif

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

enum { KMEANS_BLOCK = 8 };

EMFLEET_CLONES
double emfleet_kmeans_nearest(const double *restrict x, long n, long d, const double *restrict anchor,
                              const double *restrict centers, const double *restrict norms, long k,
                              double *restrict transposed, double *restrict best, int32_t *restrict labels,
                              double *restrict sums, double *restrict weights) {
    double total = 0.0;
    for (long start = 0; start < n; start += KMEANS_BLOCK) {
        const long m = n - start < KMEANS_BLOCK ? n - start : KMEANS_BLOCK;
        // The block's rows about the anchor, one feature per line of KMEANS_BLOCK lanes, so that
        // every product below runs across rows: each lane computes exactly the sequence a
        // one-row loop would, whatever the vector width of the clone.
        // The rows a few blocks ahead are fetched now: the block's loads then hit the cache.
        if (start + 5 * KMEANS_BLOCK <= n) {
            const char *ahead = (const char *)(x + (start + 4 * KMEANS_BLOCK) * d);
            for (long byte = 0; byte < KMEANS_BLOCK * d * (long)sizeof(double); byte += 64) __builtin_prefetch(ahead + byte);
        }
        // Plain loads and stores: vectorised, this transposition becomes scatters, which cost more.
        for (long r = 0; r < KMEANS_BLOCK; r++) {
            const double *restrict row = x + (start + r) * d;
            if (r < m) {
                EMFLEET_NO_VECTORIZE
                for (long j = 0; j < d; j++) transposed[j * KMEANS_BLOCK + r] = row[j] - anchor[j];
            } else {
                EMFLEET_NO_VECTORIZE
                for (long j = 0; j < d; j++) transposed[j * KMEANS_BLOCK + r] = 0.0;
            }
        }
        double least[KMEANS_BLOCK];
        int32_t label[KMEANS_BLOCK];
        for (long r = 0; r < KMEANS_BLOCK; r++) { least[r] = INFINITY; label[r] = 0; }
        long c = 0;
        // Four centres at a time: four independent chains of additions keep the units busy.
        for (; c + 4 <= k; c += 4) {
            double dot[4][KMEANS_BLOCK];
            for (int q = 0; q < 4; q++)
                for (long r = 0; r < KMEANS_BLOCK; r++) dot[q][r] = 0.0;
            const double *restrict c0 = centers + c * d;
            for (long j = 0; j < d; j++) {
                const double *restrict xj = transposed + j * KMEANS_BLOCK;
                const double w0 = c0[j], w1 = c0[d + j], w2 = c0[2 * d + j], w3 = c0[3 * d + j];
                for (long r = 0; r < KMEANS_BLOCK; r++) {
                    dot[0][r] += w0 * xj[r];
                    dot[1][r] += w1 * xj[r];
                    dot[2][r] += w2 * xj[r];
                    dot[3][r] += w3 * xj[r];
                }
            }
            for (int q = 0; q < 4; q++) {
                const double norm = norms[c + q];
                const int32_t centre = (int32_t)(c + q);
                for (long r = 0; r < KMEANS_BLOCK; r++) {
                    double score = norm + -2.0 * dot[q][r];
                    int better = score < least[r];
                    least[r] = better ? score : least[r];
                    label[r] = better ? centre : label[r];
                }
            }
        }
        for (; c < k; c++) {
            double dot[KMEANS_BLOCK];
            for (long r = 0; r < KMEANS_BLOCK; r++) dot[r] = 0.0;
            const double *restrict cc = centers + c * d;
            for (long j = 0; j < d; j++) {
                const double w = cc[j];
                for (long r = 0; r < KMEANS_BLOCK; r++) dot[r] += w * transposed[j * KMEANS_BLOCK + r];
            }
            for (long r = 0; r < KMEANS_BLOCK; r++) {
                double score = norms[c] + -2.0 * dot[r];
                int better = score < least[r];
                least[r] = better ? score : least[r];
                label[r] = better ? (int32_t)c : label[r];
            }
        }
        for (long r = 0; r < m; r++) {
            best[start + r] = least[r];
            labels[start + r] = label[r];
            total += least[r];
            if (sums) {
                double *restrict sum = sums + (long)label[r] * d;
                for (long j = 0; j < d; j++) sum[j] += transposed[j * KMEANS_BLOCK + r];
                weights[label[r]] += 1.0;
            }
        }
    }
    return total;
}

double emfleet_squared_distance_sum(const double *restrict x, long n, long d, const double *restrict anchor) {
    double total = 0.0;
    for (long r = 0; r < n; r++) {
        double norm = 0.0;
        for (long j = 0; j < d; j++) {
            double value = x[r * d + j] - anchor[j];
            norm += value * value;
        }
        total += norm;
    }
    return total;
}
