#!/usr/bin/env bash
# The distributed dense eigensolver against one-process LAPACK, on this machine:
# for each n, a seeded random symmetric n × n matrix (numpy), solved by
#   LAPACK dsyevd, 1 process × 2 BLAS threads   (wisp dense-eigen --solver lapack)
#   ScaLAPACK, 1 rank × 2 BLAS threads           (mpirun -np 1 … --solver scalapack)
#   ScaLAPACK, 2 ranks × 1 BLAS thread           (mpirun -np 2 --bind-to core …)
# all pairs with vectors (dsyevd / pdsyevd) and eigenvalues only (dsyevd 'N' / pdsyevr 'N').
# Reports solve time, the solve's peak memory per rank (VmHWM reset before the solve; the
# input row block included), the model's bytes per process, and the accuracy against the
# LAPACK run (max |Δλ| / ‖A‖₂, worst residual / ‖A‖_F).
#
#   bench/dense-eigen.sh [n …]        (default: 4000 8000; needs python3 with numpy, mpirun)
#   MODES=values bench/dense-eigen.sh 8000      (only the eigenvalues-only runs)
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@"); [ ${#sizes[@]} -gt 0 ] || sizes=(4000 8000)
wisp=${WISP:-.build/release/wisp}
[ -x "$wisp" ] || swift build -c release --product wisp >&2
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out=bench/results/dense-eigen
mkdir -p "$out"
for n in "${sizes[@]}"; do
  python3 - "$n" "$work/a$n.npy" <<'PY'
import sys, numpy as np
n = int(sys.argv[1]); a = np.random.default_rng(n).standard_normal((n, n))
np.save(sys.argv[2], (a + a.T) / 2)
PY
  for mode in ${MODES:-vectors values}; do
    flag=""; [ $mode = vectors ] && flag="--vectors"
    echo "n = $n, $mode: LAPACK" >&2
    OPENBLAS_NUM_THREADS=2 "$wisp" dense-eigen --quiet --matrix "$work/a$n.npy" --solver lapack $flag --output "$out/lapack-$n-$mode.json" >/dev/null
    echo "n = $n, $mode: ScaLAPACK 1 rank" >&2
    OPENBLAS_NUM_THREADS=2 mpirun -np 1 --bind-to none "$wisp" dense-eigen --quiet --matrix "$work/a$n.npy" $flag --output "$out/scalapack1-$n-$mode.json" >/dev/null
    echo "n = $n, $mode: ScaLAPACK 2 ranks" >&2
    OPENBLAS_NUM_THREADS=1 mpirun -np 2 --bind-to core "$wisp" dense-eigen --quiet --matrix "$work/a$n.npy" $flag --output "$out/scalapack2-$n-$mode.json" >/dev/null
  done
done
python3 - "$out" "${sizes[@]}" <<'PY'
import json, sys
out, sizes = sys.argv[1], sys.argv[2:]
print("| n | pairs | solver | ranks × threads | solve s | solve peak MB / rank | model MB + rows MB | max |Δλ| / ‖A‖₂ | worst residual / ‖A‖_F |")
print("|---|---|---|---|---|---|---|---|---|")
for n in sizes:
    for mode in ("vectors", "values"):
        try:
            ref = json.load(open(f"{out}/lapack-{n}-{mode}.json"))
        except FileNotFoundError:
            continue
        scale = max(abs(x) for x in ref["eigenvalues"])
        for name, layout in (("lapack", "1 × 2"), ("scalapack1", "1 × 2"), ("scalapack2", "2 × 1")):
            r = json.load(open(f"{out}/{name}-{n}-{mode}.json"))
            dl = max(abs(x - y) for x, y in zip(r["eigenvalues"], ref["eigenvalues"])) / scale
            peaks = r.get("solve_peak_memory_bytes_per_rank") or r["peak_memory_bytes_per_rank"]
            res = "—" if r.get("residuals") is None else "%.1e" % (max(r["residuals"]) / r["frobenius_norm"])
            print(f"| {n} | {'all + vectors' if mode == 'vectors' else 'all values'} | {r['method']} | {layout} | {r['solve_seconds']:.2f} | "
                  f"{', '.join('%.0f' % (p / 1e6) for p in peaks)} | {r['model_bytes_per_process'] / 1e6:.0f} + {r['row_block_bytes'] / 1e6:.0f} | {dl:.1e} | {res} |")
PY
