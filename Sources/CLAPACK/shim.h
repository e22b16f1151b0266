// OpenBLAS's CBLAS interface and LAPACKE, the C interface to LAPACK.
// This module is an implementation detail of Numerics, not public API.
#include <cblas.h>
#include <lapacke.h>
