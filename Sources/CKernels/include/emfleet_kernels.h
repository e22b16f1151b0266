// Element-wise kernels for the EM hot loop, compiled by clang for several instruction sets.
// Implementation detail of the Numerics target, not public API.
#ifndef EMFLEET_KERNELS_H
#define EMFLEET_KERNELS_H

#include <stdint.h>

/// Replaces each of the n values by its exponential (about one ulp for inputs in (-700, 700]);
/// inputs at or below -700 give exactly 0.
void emfleet_exp_inplace(double *values, long n);

/// For each of `rows` rows of `x` (d values each), writes the quadratic features to `features`
/// (row stride `stride`): all products x_i*x_j for i <= j (when cross != 0) or the squares x_i^2,
/// followed by the d values themselves.
void emfleet_expand_quadratic(const double *x, long rows, long d, int cross, double *features, long stride);

/// Gathers `count` rows of `columns` values: `destination[r·columns + j] = source[positions[r]·columns + j] − shift[j]`,
/// prefetching the rows a few positions ahead (scattered rows are a cache and TLB miss each).
void emfleet_gather_rows_f64(const double *source, const long *positions, long count, long columns, const double *shift, double *destination);
/// As `emfleet_gather_rows_f64`, from single-precision rows (each value widened exactly before the subtraction).
void emfleet_gather_rows_f32(const float *source, const long *positions, long count, long columns, const double *shift, double *destination);

/// One Adam step: g = gradient*scale; m = beta1*m + (1-beta1)*g; v = beta2*v + (1-beta2)*g*g;
/// w += -rate*m/(sqrt(v)+epsilon), element by element, in place.
void emfleet_adam_update(double *w, double *m, double *v, const double *gradient, long n, double scale,
                         double beta1, double beta2, double rate, double epsilon);

/// `emfleet_adam_update` from a single-precision gradient (widened exactly), also writing each new
/// weight rounded to single precision to `narrow`.
void emfleet_adam_update_narrow(double *w, double *m, double *v, const float *gradient, long n, double scale,
                                double beta1, double beta2, double rate, double epsilon, float *narrow);

/// Network kernels, one per precision. `relu`: z = max(z, 0) in place. `relu_mask`: delta = 0
/// wherever the activation a is not positive. `column_sums`: out[j] = sum over rows r, in row
/// order, of m[r*columns + j] (rows >= 1).
void emfleet_relu_f64(double *z, long n);
void emfleet_relu_f32(float *z, long n);
void emfleet_relu_mask_f64(double *delta, const double *a, long n);
void emfleet_relu_mask_f32(float *delta, const float *a, long n);
void emfleet_column_sums_f64(const double *m, long rows, long columns, double *out);
void emfleet_column_sums_f32(const float *m, long rows, long columns, float *out);

/// A network's standardised inputs: for each of `count` rows `rows[i]` of `source` (d values per
/// row), out[i*width + j] = (source[rows[i]*d + j] - mean[j]) * scale[j], computed in double and
/// rounded to the output type; columns d..<width of each output row are left alone. Suffixes:
/// source type, then output type.
void emfleet_standardise_rows_f64_f64(const double *source, const long *rows, long count, long d, const double *mean,
                                      const double *scale, double *out, long width);
void emfleet_standardise_rows_f64_f32(const double *source, const long *rows, long count, long d, const double *mean,
                                      const double *scale, float *out, long width);
void emfleet_standardise_rows_f32_f64(const float *source, const long *rows, long count, long d, const double *mean,
                                      const double *scale, double *out, long width);
void emfleet_standardise_rows_f32_f32(const float *source, const long *rows, long count, long d, const double *mean,
                                      const double *scale, float *out, long width);

/// 1 when none of the n values is NaN or infinite, else 0.
int emfleet_all_finite_f64(const double *values, long n);
int emfleet_all_finite_f32(const float *values, long n);

/// k-means (its products are fused multiply-adds, rounded once, the same on every clone; the
/// baseline clone computes them in software): for n rows of x (d values each), about `anchor`, the
/// nearest of k centres (d values each, about the anchor, with squared norms `norms`, laid out by
/// ``emfleet_kmeans_group_centers``) by the least score norms[c] - 2 (x - anchor)·centers[c], the
/// first centre on ties. Writes each row's score to best and its centre to labels; when `sums` is
/// not NULL, adds w·(x - anchor) to its centre's row of sums and w to weights[label], w being
/// row_weights[r] (1 when row_weights is NULL). Returns the sum of w times the scores (in a fixed
/// order: eight partial sums by row mod 8, then the last rows). `transposed` is scratch space of
/// 8 * d values. `sums` runs fastest when 64-byte aligned.
double emfleet_kmeans_nearest(const double *x, long n, long d, const double *anchor, const double *centers, const double *norms,
                              long k, double *transposed, const double *row_weights, double *best, int32_t *labels,
                              double *sums, double *weights);

/// Lays out k centres (row-major, d values each) for ``emfleet_kmeans_nearest`` in `grouped` (k*d
/// values), each times -2: each whole group of sixteen centres stored feature by feature
/// (grouped[g*16*d + j*16 + q] for centre 16g+q), then at most one group of eight the same way,
/// then the last k mod 8 centres row by row.
void emfleet_kmeans_group_centers(const double *centers, long k, long d, double *grouped);

/// The sum over n rows of x (d values each), in row order, of w·|x - anchor|^2 (w = row_weights[r],
/// or 1 when row_weights is NULL).
double emfleet_squared_distance_sum(const double *x, long n, long d, const double *anchor, const double *row_weights);

/// Has the C library map allocations of at least `map_from_bytes` on their own and unmap them when
/// freed (glibc's M_MMAP_THRESHOLD, fixed), and keep up to `keep_freed_bytes` of freed memory at
/// the top of a heap instead of returning it (M_TRIM_THRESHOLD); returns 0 where that is not available.
int emfleet_configure_allocator(long map_from_bytes, long keep_freed_bytes);

/// Writes up to `capacity` of the CPUs this process may run on into `cpus`, in increasing order,
/// and returns how many there are (-1 when the affinity cannot be read).
long emfleet_allowed_cpus(int *cpus, long capacity);

/// Pins every thread of this process, and those it starts later, to `cpus`; returns 0, or -1
/// with errno set.
int emfleet_pin_process(const int *cpus, long count);

/// An anonymous shared-memory file of `bytes` bytes (memfd_create, close-on-exec), for big frames
/// between processes on one host, sealed so that its size cannot change: returns its descriptor,
/// or -1 with errno set.
int emfleet_shared_memory_file(const char *name, long bytes);

/// Whether the file behind `descriptor` is sealed against shrinking (so that a mapping of it
/// cannot lose its pages to another process): 1, 0, or -1 with errno set.
int emfleet_shared_memory_sealed(int descriptor);

#endif
