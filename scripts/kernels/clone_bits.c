// Prints a hash of the output bits of every kernel in Sources/CKernels on fixed inputs.
// scripts/check-kernel-bits.sh compiles it with kernels.c for several instruction sets (without
// the run-time clones) and checks that every build prints the same hash: the kernels give the
// same bits whichever clone a CPU runs.
// The inputs must not depend on the instruction set either: no contraction here.
#pragma STDC FP_CONTRACT OFF
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "emfleet_kernels.h"

static uint64_t state = 0x9E3779B97F4A7C15ull;
static double next(void) {  // xorshift64*, in [-4, 4)
    state ^= state >> 12; state ^= state << 25; state ^= state >> 27;
    return (double)((state * 2685821657736338717ull) >> 11) / 9007199254740992.0 * 8.0 - 4.0;
}
static uint64_t hash = 1469598103934665603ull;
static void mix(const void *bytes, size_t count) {
    const unsigned char *p = bytes;
    for (size_t i = 0; i < count; i++) { hash ^= p[i]; hash *= 1099511628211ull; }
}
// With EMFLEET_VERBOSE, the running hash after each kernel (to find the one that differs).
static void step(const char *name) {
#ifdef EMFLEET_VERBOSE
    printf("%s %016llx\n", name, (unsigned long long)hash);
#else
    (void)name;
#endif
}

int main(void) {
    enum { n = 1003, d = 13, k = 11 };  // one group of eight centres, then three
    static double x[n * d], anchor[d], centers[k * d], norms[k], weights[n], best[n], sums[k * d], clusterWeights[k];
    static double transposed[8 * d], values[4 * n], features[n * (d * (d + 1) / 2 + d)];
    static double w[n], m[n], v[n], g[n];
    static float gf[n], wf[n];
    static float zf[n], af[n], colf[d];
    static double zd[n], ad[n], cold[d];
    static int32_t labels[n];
    for (int i = 0; i < n * d; i++) x[i] = next() * 10.0 + 3.0;
    for (int j = 0; j < d; j++) anchor[j] = next();
    for (int i = 0; i < k * d; i++) centers[i] = next() * 5.0;
    for (int c = 0; c < k; c++) { norms[c] = 0; for (int j = 0; j < d; j++) norms[c] += centers[c * d + j] * centers[c * d + j]; }
    for (int i = 0; i < n; i++) weights[i] = (next() + 4.0) / 2.0;
    static double grouped[k * d];
    emfleet_kmeans_group_centers(centers, k, d, grouped);
    double total = emfleet_kmeans_nearest(x, n, d, anchor, grouped, norms, k, transposed, weights, best, labels, sums, clusterWeights);
    mix(&total, sizeof total); mix(best, sizeof best); mix(labels, sizeof labels); mix(sums, sizeof sums); mix(clusterWeights, sizeof clusterWeights); step("kmeans_nearest weighted");
    total = emfleet_kmeans_nearest(x, n, d, anchor, grouped, norms, k, transposed, NULL, best, labels, NULL, NULL);
    mix(&total, sizeof total); mix(best, sizeof best); mix(labels, sizeof labels); step("kmeans_nearest");
    {
        // Sixteen centres, then eight, then five; features in whole vectors of eight.
        enum { d2 = 16, k2 = 29 };
        static double anchor2[d2], centers2[k2 * d2], norms2[k2], grouped2[k2 * d2], sums2[k2 * d2], clusterWeights2[k2], transposed2[8 * d2];
        for (int j = 0; j < d2; j++) anchor2[j] = next();
        for (int i = 0; i < k2 * d2; i++) centers2[i] = next() * 5.0;
        for (int c = 0; c < k2; c++) { norms2[c] = 0; for (int j = 0; j < d2; j++) norms2[c] += centers2[c * d2 + j] * centers2[c * d2 + j]; }
        emfleet_kmeans_group_centers(centers2, k2, d2, grouped2);
        const long rows2 = n * d / d2;  // the same values as rows of sixteen
        double total2 = emfleet_kmeans_nearest(x, rows2, d2, anchor2, grouped2, norms2, k2, transposed2, weights, best, labels, sums2, clusterWeights2);
        mix(&total2, sizeof total2); mix(best, rows2 * sizeof best[0]); mix(labels, rows2 * sizeof labels[0]);
        mix(sums2, sizeof sums2); mix(clusterWeights2, sizeof clusterWeights2); step("kmeans_nearest k=29 d=16");
    }
    total = emfleet_squared_distance_sum(x, n, d, anchor, weights);
    mix(&total, sizeof total); step("squared_distance_sum");
    for (int i = 0; i < 4 * n; i++) values[i] = next() * 200.0;
    emfleet_exp_inplace(values, 4 * n);
    mix(values, sizeof values); step("exp_inplace");
    emfleet_expand_quadratic(x, n, d, 1, features, d * (d + 1) / 2 + d);
    mix(features, sizeof features); step("expand_quadratic");
    for (int i = 0; i < n; i++) { w[i] = next(); m[i] = next() * 0.1; v[i] = (next() + 4.0) * 0.01; g[i] = next(); }
    emfleet_adam_update(w, m, v, g, n, 0.5, 0.9, 0.999, 0.001, 1e-8);
    mix(w, sizeof w); mix(m, sizeof m); mix(v, sizeof v); step("adam_update");
    for (int i = 0; i < n; i++) gf[i] = (float)next();
    emfleet_adam_update_narrow(w, m, v, gf, n, 0.5, 0.9, 0.999, 0.001, 1e-8, wf);
    mix(w, sizeof w); mix(m, sizeof m); mix(v, sizeof v); mix(wf, sizeof wf); step("adam_update_narrow");
    for (int i = 0; i < n; i++) { zd[i] = next(); ad[i] = next(); zf[i] = (float)next(); af[i] = (float)next(); }
    emfleet_relu_f64(zd, n); emfleet_relu_mask_f64(zd, ad, n); emfleet_relu_f32(zf, n); emfleet_relu_mask_f32(zf, af, n);
    emfleet_column_sums_f64(x, n / d, d, cold); emfleet_column_sums_f32(af, n / d, d, colf);
    mix(zd, sizeof zd); mix(zf, sizeof zf); mix(cold, sizeof cold); mix(colf, sizeof colf); step("network kernels");
    {
        static long picked[n / d];
        static double outd[n];
        static float outf[n], xf[n];
        for (int i = 0; i < n / d; i++) picked[i] = (long)((next() + 4.0) / 8.0 * (n / d)) % (n / d);
        for (int i = 0; i < n; i++) xf[i] = (float)x[i];
        emfleet_standardise_rows_f64_f64(x, picked, n / d, d, anchor, weights, outd, d);
        emfleet_standardise_rows_f64_f32(x, picked, n / d, d, anchor, weights, outf, d);
        mix(outd, sizeof outd); mix(outf, sizeof outf);
        emfleet_standardise_rows_f32_f64(xf, picked, n / d, d, anchor, weights, outd, d);
        emfleet_standardise_rows_f32_f32(xf, picked, n / d, d, anchor, weights, outf, d);
        mix(outd, sizeof outd); mix(outf, sizeof outf); step("standardise_rows");
    }
    printf("%016llx\n", (unsigned long long)hash);
    return 0;
}
