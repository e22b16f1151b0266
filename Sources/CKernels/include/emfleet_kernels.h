// Element-wise kernels for the EM hot loop, compiled by clang for several instruction sets.
// Implementation detail of the Numerics target, not public API.
#ifndef EMFLEET_KERNELS_H
#define EMFLEET_KERNELS_H

/// Replaces each of the n values by its exponential (about one ulp for inputs in (-700, 700]);
/// inputs at or below -700 give exactly 0.
void emfleet_exp_inplace(double *values, long n);

/// For each of `rows` rows of `x` (d values each), writes the quadratic features to `features`
/// (row stride `stride`): all products x_i*x_j for i <= j (when cross != 0) or the squares x_i^2,
/// followed by the d values themselves.
void emfleet_expand_quadratic(const double *x, long rows, long d, int cross, double *features, long stride);

/// One Adam step: g = gradient*scale; m = beta1*m + (1-beta1)*g; v = beta2*v + (1-beta2)*g*g;
/// w += -rate*m/(sqrt(v)+epsilon), element by element, in place.
void emfleet_adam_update(double *w, double *m, double *v, const double *gradient, long n, double scale,
                         double beta1, double beta2, double rate, double epsilon);

#endif
