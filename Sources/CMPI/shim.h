#ifndef WISP_CMPI_SHIM_H
#define WISP_CMPI_SHIM_H
// MPI's handles (MPI_COMM_WORLD, MPI_DOUBLE, MPI_SUM, MPI_IN_PLACE, ...) are macros: in OpenMPI
// casts of global symbols, which Swift cannot import; in MPICH integer constants (MPI_Comm is an
// int there). These functions return them, so the Swift code is the same for both (CMPICH's
// module map includes this header).
#include <mpi.h>
#include <stdint.h>

static inline MPI_Comm wisp_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype wisp_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype wisp_mpi_int64(void) { return MPI_INT64_T; }
static inline MPI_Op wisp_mpi_sum(void) { return MPI_SUM; }
static inline MPI_Op wisp_mpi_min(void) { return MPI_MIN; }
static inline MPI_Op wisp_mpi_max(void) { return MPI_MAX; }
static inline void *wisp_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline int wisp_mpi_success(void) { return MPI_SUCCESS; }
static inline int wisp_mpi_thread_funneled(void) { return MPI_THREAD_FUNNELED; }

// The number of processes of MPI_COMM_WORLD that share this process's memory (its node), by
// MPI_Comm_split_type(MPI_COMM_TYPE_SHARED); a collective over MPI_COMM_WORLD. 0 on failure.
static inline int wisp_mpi_ranks_sharing_memory(int rank) {
    MPI_Comm node;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node) != MPI_SUCCESS) return 0;
    int size = 0;
    MPI_Comm_size(node, &size);
    MPI_Comm_free(&node);
    return size;
}

#endif
