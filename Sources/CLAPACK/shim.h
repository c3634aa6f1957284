#ifndef WISP_CLAPACK_SHIM_H
#define WISP_CLAPACK_SHIM_H
// OpenBLAS's CBLAS and the reference LAPACKE interface; include paths come from pkg-config.
#include <cblas.h>
#include <lapacke.h>
#endif
