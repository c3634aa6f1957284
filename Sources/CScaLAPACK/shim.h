#ifndef WISP_CSCALAPACK_SHIM_H
#define WISP_CSCALAPACK_SHIM_H
// ScaLAPACK (Debian's libscalapack-openmpi-dev) ships no C header for its drivers, so the
// prototypes Wisp calls are declared here. The p?/descinit_/numroc_ routines are Fortran 77:
// every argument by reference, INTEGER is a 32-bit int (the LP64 build), and each CHARACTER
// argument adds a hidden length (size_t, gfortran ≥ 8) after the declared arguments — passed
// explicitly, because a call without them breaks when gfortran turns the callee's own calls into
// tail calls. The Cblacs_* functions are BLACS's C interface (arguments by value).
#include <stddef.h>

// BLACS process grids. Cblacs_get(0, 0, &ctxt) returns the system context (MPI_COMM_WORLD).
void Cblacs_get(int context, int what, int *value);
void Cblacs_gridinit(int *context, const char *order, int rows, int columns);
void Cblacs_gridinfo(int context, int *rows, int *columns, int *row, int *column);
void Cblacs_gridexit(int context);

// Array descriptors and local sizes of the 2-D block-cyclic layout.
void descinit_(int *descriptor, const int *m, const int *n, const int *mb, const int *nb,
               const int *rowSource, const int *columnSource, const int *context,
               const int *leadingDimension, int *info);
int numroc_(const int *n, const int *nb, const int *process, const int *sourceProcess,
            const int *processes);

// Symmetric eigensolvers: divide and conquer (all pairs) and MRRR (a range of pairs).
void pdsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *ia,
              const int *ja, const int *desca, double *w, double *z, const int *iz,
              const int *jz, const int *descz, double *work, const int *lwork, int *iwork,
              const int *liwork, int *info, size_t jobzLength, size_t uploLength);
void pdsyevr_(const char *jobz, const char *range, const char *uplo, const int *n, double *a,
              const int *ia, const int *ja, const int *desca, const double *vl,
              const double *vu, const int *il, const int *iu, int *m, int *nz, double *w,
              double *z, const int *iz, const int *jz, const int *descz, double *work,
              const int *lwork, int *iwork, const int *liwork, int *info, size_t jobzLength,
              size_t rangeLength, size_t uploLength);

#endif
