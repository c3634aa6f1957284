#ifndef WISP_CFFTW_SHIM_H
#define WISP_CFFTW_SHIM_H
// FFTW 3 (double precision); the include path comes from pkg-config "fftw3".
#include <fftw3.h>

// The type-III DCT plan (FFTW_REDFT01) of length n with FFTW_ESTIMATE: the plan is chosen by
// heuristics, not by timing, so the same n always gives the same algorithm and bit-identical
// results. The flag macros are shifts Swift does not import; this wrapper keeps them in C.
static inline fftw_plan wisp_fftw_plan_redft01(int n, double *in, double *out) {
    return fftw_plan_r2r_1d(n, in, out, FFTW_REDFT01, FFTW_ESTIMATE);
}
#endif
