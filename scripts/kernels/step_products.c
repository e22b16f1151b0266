// The matrix products of one epoch of training at a given network and batch, alone, at
// OpenBLAS's sgemm rate: the floor the one-process step is measured against
// (scripts/bench-step-breakdown.sh). Each step's batch is cut into `shards` products, as
// emfleet's fixed shard tree cuts it; the backward pass skips the input gradient, as emfleet does.
// Usage: step_products ROWS_PER_EPOCH BATCH SHARDS THREADS LAYER_WIDTHS...  (e.g. 54000 256 4 2 784 256 128 10)
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

void openblas_set_num_threads(int);

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

static float *filled(long n) {
    float *p = malloc(sizeof(float) * n);
    for (long i = 0; i < n; i++) p[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    return p;
}

int main(int argc, char **argv) {
    if (argc < 7) { fprintf(stderr, "usage: %s ROWS BATCH SHARDS THREADS WIDTH WIDTH...\n", argv[0]); return 2; }
    long rows = atol(argv[1]); int batch = atoi(argv[2]), shards = atoi(argv[3]), threads = atoi(argv[4]);
    int layers = argc - 6; int width[64];
    for (int i = 0; i <= layers; i++) width[i] = atoi(argv[5 + i]);
    openblas_set_num_threads(threads);
    int m = (batch + shards - 1) / shards;
    float *a[64], *d[64], *w[64], *g[64];
    for (int i = 0; i <= layers; i++) { a[i] = filled((long)m * width[i]); d[i] = filled((long)m * width[i]); }
    for (int i = 0; i < layers; i++) { w[i] = filled((long)width[i] * width[i + 1]); g[i] = filled((long)width[i] * width[i + 1]); }
    long steps = rows / batch; double flops = 0, best = 1e9;
    for (int repeat = 0; repeat < 3; repeat++) {
        double start = now(); flops = 0;
        for (long step = 0; step < steps; step++)
            for (int s = 0; s < shards; s++) {
                int r = batch / shards + (s < batch % shards ? 1 : 0);
                for (int i = 0; i < layers; i++) {  // forward: a[i+1] = a[i] · w[i]
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, r, width[i + 1], width[i], 1, a[i], width[i], w[i], width[i + 1], 0, a[i + 1], width[i + 1]);
                    flops += 2.0 * r * width[i] * width[i + 1];
                }
                for (int i = layers - 1; i >= 0; i--) {  // backward: g[i] = a[i]ᵀ · d[i+1]; d[i] = d[i+1] · w[i]ᵀ (not for the input)
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, width[i], width[i + 1], r, 1, a[i], width[i], d[i + 1], width[i + 1], 0, g[i], width[i + 1]);
                    flops += 2.0 * r * width[i] * width[i + 1];
                    if (i > 0) {
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r, width[i], width[i + 1], 1, d[i + 1], width[i + 1], w[i], width[i + 1], 0, d[i], width[i]);
                        flops += 2.0 * r * width[i] * width[i + 1];
                    }
                }
            }
        double seconds = now() - start;
        if (seconds < best) best = seconds;
    }
    printf("products of one epoch (%ld steps of %d rows in %d shards, %d thread%s): %.3f s, %.1f GFLOP/s\n",
           steps, batch, shards, threads, threads == 1 ? "" : "s", best, flops / best / 1e9);
    return 0;
}
