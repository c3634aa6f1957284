#!/usr/bin/env bash
# Plain mpirun launch over the nodes of a hostfile: one rank per socket, each rank bound to
# the 32 cores of its socket and running 32 BLAS threads. Adjust PE= and the thread count
# to your cores per socket.
set -euo pipefail
cd "$(dirname "$0")/.."
ranks=${RANKS:-8}
threads=${THREADS:-32}
mpirun -np "$ranks" --hostfile cluster/hostfile.example \
  --map-by "ppr:1:socket:PE=${threads}" --bind-to core --report-bindings \
  -x OPENBLAS_NUM_THREADS="${threads}" -x OMP_NUM_THREADS="${threads}" \
  .build/release/wisp top --width 16384 --samples 16384 --matrix ntk --k 5 --output results/top.json
