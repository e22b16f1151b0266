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

// A square root that sets no errno: libm's sqrt must set errno for a negative argument, so a
// loop calling it stays scalar (vsqrtsd per value, with a branch to the library). The builtin is
// the same correctly rounded IEEE operation, so every lane gives the bits sqrt gives.
#if defined(__clang__) && __has_builtin(__builtin_elementwise_sqrt)
#define EMFLEET_SQRT(x) __builtin_elementwise_sqrt(x)
#else
#define EMFLEET_SQRT(x) sqrt(x)
#endif

#if defined(__x86_64__) && defined(__linux__) && !defined(EMFLEET_NO_CLONES)
#define EMFLEET_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
// For kernels whose products are written as explicit fused multiply-adds: a fused
// multiply-add is rounded once, exactly, wherever it runs, so the clones with FMA units and
// the baseline one (which calls libm's fma, much slower) give the same bits.
#define EMFLEET_CLONES_FMA __attribute__((target_clones("avx512f", "fma", "default")))
#else
#define EMFLEET_CLONES
#define EMFLEET_CLONES_FMA
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

// How many rows ahead a gather asks for: enough to keep several misses in flight.
#define EMFLEET_GATHER_AHEAD 8

#define EMFLEET_GATHER(T, SUFFIX)                                                                              \
    void emfleet_gather_rows_##SUFFIX(const T *restrict source, const long *restrict positions, long count,     \
                                      long columns, const double *restrict shift, double *restrict destination) { \
        long lines = (columns * (long)sizeof(T) + 63) / 64;                                                     \
        for (long r = 0; r < count; r++) {                                                                      \
            if (r + EMFLEET_GATHER_AHEAD < count) {                                                             \
                const char *ahead = (const char *)(source + positions[r + EMFLEET_GATHER_AHEAD] * columns);    \
                for (long line = 0; line < lines && line < 4; line++) __builtin_prefetch(ahead + 64 * line, 0, 0); \
            }                                                                                                   \
            const T *from = source + positions[r] * columns;                                                    \
            double *to = destination + r * columns;                                                             \
            for (long j = 0; j < columns; j++) to[j] = (double)from[j] - shift[j];                              \
        }                                                                                                       \
    }

EMFLEET_GATHER(double, f64)
EMFLEET_GATHER(float, f32)

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
        w[i] += -rate * mi / (EMFLEET_SQRT(vi) + epsilon);
    }
}

// The same Adam step from a single-precision gradient (each value widened exactly, so the bits
// are those of emfleet_adam_update on the widened gradient), also writing each new weight
// rounded to single precision for the next step's passes.
EMFLEET_CLONES
void emfleet_adam_update_narrow(double *restrict w, double *restrict m, double *restrict v, const float *restrict gradient,
                                long n, double scale, double beta1, double beta2, double rate, double epsilon,
                                float *restrict narrow) {
    const double keep1 = 1 - beta1, keep2 = 1 - beta2;
    for (long i = 0; i < n; i++) {
        const double g = (double)gradient[i] * scale;
        const double mi = beta1 * m[i] + keep1 * g;
        const double vi = beta2 * v[i] + keep2 * (g * g);
        m[i] = mi;
        v[i] = vi;
        const double wi = w[i] + -rate * mi / (EMFLEET_SQRT(vi) + epsilon);
        w[i] = wi;
        narrow[i] = (float)wi;
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

// Each output value depends on its own input alone (a subtraction and a product in double, then
// one rounding), so every clone and every lane gives the same bits.
#define EMFLEET_STANDARDISE_ROWS(S, SS, T, TS)                                                      \
    EMFLEET_CLONES void emfleet_standardise_rows_##SS##_##TS(const S *restrict source, const long *restrict rows, \
                                                               long count, long d, const double *restrict mean, \
                                                               const double *restrict scale, T *restrict out, long width) { \
        for (long i = 0; i < count; i++) {                                                          \
            const S *restrict row = source + rows[i] * d;                                           \
            T *restrict target = out + i * width;                                                   \
            for (long j = 0; j < d; j++) target[j] = (T)(((double)row[j] - mean[j]) * scale[j]);    \
        }                                                                                           \
    }

EMFLEET_STANDARDISE_ROWS(double, f64, double, f64)
EMFLEET_STANDARDISE_ROWS(double, f64, float, f32)
EMFLEET_STANDARDISE_ROWS(float, f32, double, f64)
EMFLEET_STANDARDISE_ROWS(float, f32, float, f32)

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

// Eight rows as the lanes of one vector (GCC/Clang vector extensions: element-wise operations,
// lowered to one AVX-512 register, two AVX2 ones or four SSE2 ones, with the same results).
typedef double emfleet_rows8 __attribute__((vector_size(64), aligned(8)));  // the scratch is only 8-byte aligned
typedef long long emfleet_mask8 __attribute__((vector_size(64)));
typedef int32_t emfleet_labels8 __attribute__((vector_size(32), aligned(4)));
enum { KMEANS_BLOCK = 8 };

// w·x + y for a scalar w, rounded once (see EMFLEET_CLONES_FMA).
#define EMFLEET_FMA8(w, x, y) __builtin_elementwise_fma((emfleet_rows8){(w), (w), (w), (w), (w), (w), (w), (w)}, (x), (y))
// A macro, not a function: a vector argument's ABI would differ between the clones.
#define EMFLEET_SELECT8(mask, yes, no) ((emfleet_rows8)(((emfleet_mask8)(yes) & (mask)) | ((emfleet_mask8)(no) & ~(mask))))

EMFLEET_CLONES_FMA
double emfleet_kmeans_nearest(const double *restrict x, long n, long d, const double *restrict anchor,
                              const double *restrict centers, const double *restrict norms, long k,
                              double *restrict transposed, const double *restrict row_weights, double *restrict best,
                              int32_t *restrict labels, double *restrict sums, double *restrict weights) {
    emfleet_rows8 *restrict lanes = (emfleet_rows8 *)transposed;
    emfleet_rows8 totals = {0};
    double tail = 0.0;
    for (long start = 0; start < n; start += KMEANS_BLOCK) {
        const long m = n - start < KMEANS_BLOCK ? n - start : KMEANS_BLOCK;
        // The rows a few blocks ahead are fetched now: the block's loads then hit the cache.
        if (start + 5 * KMEANS_BLOCK <= n) {
            const char *ahead = (const char *)(x + (start + 4 * KMEANS_BLOCK) * d);
            for (long byte = 0; byte < KMEANS_BLOCK * d * (long)sizeof(double); byte += 64) __builtin_prefetch(ahead + byte);
        }
        // The block's rows about the anchor, one feature per vector of eight rows: each lane
        // then computes exactly the sequence a one-row loop would.
        if (m == KMEANS_BLOCK) {
            const double *restrict first = x + start * d;
            long j = 0;
#if defined(__clang__)
            // Eight features at a time: an 8×8 transposition by three rounds of shuffles.
            for (; j + 8 <= d; j += 8) {
                const emfleet_rows8 r0 = *(const emfleet_rows8 *)(first + j), r1 = *(const emfleet_rows8 *)(first + d + j);
                const emfleet_rows8 r2 = *(const emfleet_rows8 *)(first + 2 * d + j), r3 = *(const emfleet_rows8 *)(first + 3 * d + j);
                const emfleet_rows8 r4 = *(const emfleet_rows8 *)(first + 4 * d + j), r5 = *(const emfleet_rows8 *)(first + 5 * d + j);
                const emfleet_rows8 r6 = *(const emfleet_rows8 *)(first + 6 * d + j), r7 = *(const emfleet_rows8 *)(first + 7 * d + j);
                const emfleet_rows8 t0 = __builtin_shufflevector(r0, r1, 0, 8, 2, 10, 4, 12, 6, 14);
                const emfleet_rows8 t1 = __builtin_shufflevector(r0, r1, 1, 9, 3, 11, 5, 13, 7, 15);
                const emfleet_rows8 t2 = __builtin_shufflevector(r2, r3, 0, 8, 2, 10, 4, 12, 6, 14);
                const emfleet_rows8 t3 = __builtin_shufflevector(r2, r3, 1, 9, 3, 11, 5, 13, 7, 15);
                const emfleet_rows8 t4 = __builtin_shufflevector(r4, r5, 0, 8, 2, 10, 4, 12, 6, 14);
                const emfleet_rows8 t5 = __builtin_shufflevector(r4, r5, 1, 9, 3, 11, 5, 13, 7, 15);
                const emfleet_rows8 t6 = __builtin_shufflevector(r6, r7, 0, 8, 2, 10, 4, 12, 6, 14);
                const emfleet_rows8 t7 = __builtin_shufflevector(r6, r7, 1, 9, 3, 11, 5, 13, 7, 15);
                const emfleet_rows8 u0 = __builtin_shufflevector(t0, t2, 0, 1, 8, 9, 4, 5, 12, 13);
                const emfleet_rows8 u1 = __builtin_shufflevector(t1, t3, 0, 1, 8, 9, 4, 5, 12, 13);
                const emfleet_rows8 u2 = __builtin_shufflevector(t0, t2, 2, 3, 10, 11, 6, 7, 14, 15);
                const emfleet_rows8 u3 = __builtin_shufflevector(t1, t3, 2, 3, 10, 11, 6, 7, 14, 15);
                const emfleet_rows8 u4 = __builtin_shufflevector(t4, t6, 0, 1, 8, 9, 4, 5, 12, 13);
                const emfleet_rows8 u5 = __builtin_shufflevector(t5, t7, 0, 1, 8, 9, 4, 5, 12, 13);
                const emfleet_rows8 u6 = __builtin_shufflevector(t4, t6, 2, 3, 10, 11, 6, 7, 14, 15);
                const emfleet_rows8 u7 = __builtin_shufflevector(t5, t7, 2, 3, 10, 11, 6, 7, 14, 15);
                lanes[j + 0] = __builtin_shufflevector(u0, u4, 0, 1, 2, 3, 8, 9, 10, 11) - anchor[j + 0];
                lanes[j + 1] = __builtin_shufflevector(u1, u5, 0, 1, 2, 3, 8, 9, 10, 11) - anchor[j + 1];
                lanes[j + 2] = __builtin_shufflevector(u2, u6, 0, 1, 2, 3, 8, 9, 10, 11) - anchor[j + 2];
                lanes[j + 3] = __builtin_shufflevector(u3, u7, 0, 1, 2, 3, 8, 9, 10, 11) - anchor[j + 3];
                lanes[j + 4] = __builtin_shufflevector(u0, u4, 4, 5, 6, 7, 12, 13, 14, 15) - anchor[j + 4];
                lanes[j + 5] = __builtin_shufflevector(u1, u5, 4, 5, 6, 7, 12, 13, 14, 15) - anchor[j + 5];
                lanes[j + 6] = __builtin_shufflevector(u2, u6, 4, 5, 6, 7, 12, 13, 14, 15) - anchor[j + 6];
                lanes[j + 7] = __builtin_shufflevector(u3, u7, 4, 5, 6, 7, 12, 13, 14, 15) - anchor[j + 7];
            }
#endif
            for (; j < d; j++) {
                emfleet_rows8 column;
                for (int r = 0; r < KMEANS_BLOCK; r++) column[r] = first[r * d + j];
                lanes[j] = column - anchor[j];
            }
        } else {
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
        }
        emfleet_rows8 least;
        emfleet_mask8 label;
        for (int r = 0; r < KMEANS_BLOCK; r++) { least[r] = INFINITY; label[r] = 0; }
        long c = 0;
        // Sixteen centres at a time (then eight, then four): independent chains of fused
        // multiply-adds keep both units busy. The centres are stored times -2 (exact, a power of
        // two), so a product is -2(x - a)·c with the bits of -2 times the product of c.
        for (; c + 16 <= k; c += 16) {
            // These sixteen centres are stored feature by feature (see the header).
            emfleet_rows8 dot[16];
            for (int q = 0; q < 16; q++) dot[q] = (emfleet_rows8){0};
            const double *restrict c0 = centers + c * d;
            for (long j = 0; j < d; j++) {
                const emfleet_rows8 xj = lanes[j];
                const double *restrict wj = c0 + j * 16;
                for (int q = 0; q < 16; q++) dot[q] = EMFLEET_FMA8(wj[q], xj, dot[q]);
            }
            // Two chains of comparisons, the second over the group's last eight centres, whose
            // indices exceed every index in the first: it wins only when strictly less.
            emfleet_rows8 upperLeast = (emfleet_rows8){INFINITY, INFINITY, INFINITY, INFINITY, INFINITY, INFINITY, INFINITY, INFINITY};
            emfleet_mask8 upperLabel = {0};
            for (int q = 0; q < 8; q++) {
                emfleet_rows8 score = norms[c + q] + dot[q];
                emfleet_mask8 better = score < least;
                least = EMFLEET_SELECT8(better, score, least);
                label = (better & (long long)(c + q)) | (label & ~better);
                emfleet_rows8 upper = norms[c + 8 + q] + dot[8 + q];
                emfleet_mask8 upperBetter = upper < upperLeast;
                upperLeast = EMFLEET_SELECT8(upperBetter, upper, upperLeast);
                upperLabel = (upperBetter & (long long)(c + 8 + q)) | (upperLabel & ~upperBetter);
            }
            emfleet_mask8 better = upperLeast < least;
            least = EMFLEET_SELECT8(better, upperLeast, least);
            label = (better & upperLabel) | (label & ~better);
        }
        for (; c + 8 <= k; c += 8) {
            emfleet_rows8 dot[8];
            for (int q = 0; q < 8; q++) dot[q] = (emfleet_rows8){0};
            const double *restrict c0 = centers + c * d;
            for (long j = 0; j < d; j++) {
                const emfleet_rows8 xj = lanes[j];
                const double *restrict wj = c0 + j * 8;
                for (int q = 0; q < 8; q++) dot[q] = EMFLEET_FMA8(wj[q], xj, dot[q]);
            }
            for (int q = 0; q < 8; q++) {
                emfleet_rows8 score = norms[c + q] + dot[q];
                emfleet_mask8 better = score < least;
                least = EMFLEET_SELECT8(better, score, least);
                label = (better & (long long)(c + q)) | (label & ~better);
            }
        }
        for (; c + 4 <= k; c += 4) {
            emfleet_rows8 dot0 = {0}, dot1 = {0}, dot2 = {0}, dot3 = {0};
            const double *restrict c0 = centers + c * d;
            for (long j = 0; j < d; j++) {
                const emfleet_rows8 xj = lanes[j];
                dot0 = EMFLEET_FMA8(c0[j], xj, dot0);
                dot1 = EMFLEET_FMA8(c0[d + j], xj, dot1);
                dot2 = EMFLEET_FMA8(c0[2 * d + j], xj, dot2);
                dot3 = EMFLEET_FMA8(c0[3 * d + j], xj, dot3);
            }
            const emfleet_rows8 dots[4] = {dot0, dot1, dot2, dot3};
            for (int q = 0; q < 4; q++) {
                emfleet_rows8 score = norms[c + q] + dots[q];
                emfleet_mask8 better = score < least;
                least = EMFLEET_SELECT8(better, score, least);
                label = (better & (long long)(c + q)) | (label & ~better);
            }
        }
        for (; c < k; c++) {
            emfleet_rows8 dot = {0};
            const double *restrict cc = centers + c * d;
            for (long j = 0; j < d; j++) dot = EMFLEET_FMA8(cc[j], lanes[j], dot);
            emfleet_rows8 score = norms[c] + dot;
            emfleet_mask8 better = score < least;
            least = EMFLEET_SELECT8(better, score, least);
            label = (better & (long long)c) | (label & ~better);
        }
        if (m == KMEANS_BLOCK) {
            *(emfleet_rows8 *)(best + start) = least;
            *(emfleet_labels8 *)(labels + start) = __builtin_convertvector(label, emfleet_labels8);
            if (row_weights) totals += *(const emfleet_rows8 *)(row_weights + start) * least;
            else totals += least;
        } else {
            for (long r = 0; r < m; r++) {
                best[start + r] = least[r];
                labels[start + r] = (int32_t)label[r];
                tail += (row_weights ? row_weights[start + r] : 1.0) * least[r];
            }
        }
        if (sums) {
            for (long r = 0; r < m; r++) {
                const long centre = labels[start + r];
                // The row itself (contiguous, so this vectorises), less the anchor: the same
                // values as its lane above.
                const double *restrict row = x + (start + r) * d;
                double *restrict sum = sums + centre * d;
                // Eight features per vector (the compiler's own choice, four, runs twice as long at D = 16).
                long j = 0;
                if (row_weights) {
                    const double w = row_weights[start + r];
                    for (; j + 8 <= d; j += 8)
                        *(emfleet_rows8 *)(sum + j) += w * (*(const emfleet_rows8 *)(row + j) - *(const emfleet_rows8 *)(anchor + j));
                    EMFLEET_NO_VECTORIZE
                    for (; j < d; j++) sum[j] += w * (row[j] - anchor[j]);
                    weights[centre] += w;
                } else {
                    for (; j + 8 <= d; j += 8)
                        *(emfleet_rows8 *)(sum + j) += *(const emfleet_rows8 *)(row + j) - *(const emfleet_rows8 *)(anchor + j);
                    EMFLEET_NO_VECTORIZE
                    for (; j < d; j++) sum[j] += row[j] - anchor[j];
                    weights[centre] += 1.0;
                }
            }
        }
    }
    double total = 0.0;
    for (int r = 0; r < KMEANS_BLOCK; r++) total += totals[r];
    total += tail;
    return total;
}

void emfleet_kmeans_group_centers(const double *restrict centers, long k, long d, double *restrict grouped) {
    long c = 0;
    for (; c + 16 <= k; c += 16)
        for (long j = 0; j < d; j++)
            for (long q = 0; q < 16; q++) grouped[c * d + j * 16 + q] = -2.0 * centers[(c + q) * d + j];
    for (; c + 8 <= k; c += 8)
        for (long j = 0; j < d; j++)
            for (long q = 0; q < 8; q++) grouped[c * d + j * 8 + q] = -2.0 * centers[(c + q) * d + j];
    for (long i = c * d; i < k * d; i++) grouped[i] = -2.0 * centers[i];
}

double emfleet_squared_distance_sum(const double *restrict x, long n, long d, const double *restrict anchor,
                                    const double *restrict row_weights) {
    double total = 0.0;
    for (long r = 0; r < n; r++) {
        double norm = 0.0;
        for (long j = 0; j < d; j++) {
            double value = x[r * d + j] - anchor[j];
            norm += value * value;
        }
        total += (row_weights ? row_weights[r] : 1.0) * norm;
    }
    return total;
}

#if defined(__GLIBC__)
#include <malloc.h>
#endif

int emfleet_configure_allocator(long map_from_bytes, long keep_freed_bytes) {
#if defined(__GLIBC__)
    return mallopt(M_MMAP_THRESHOLD, (int)map_from_bytes) && mallopt(M_TRIM_THRESHOLD, (int)keep_freed_bytes);
#else
    (void)map_from_bytes;
    (void)keep_freed_bytes;
    return 0;
#endif
}
