#!/usr/bin/env bash
# Strong scaling on this machine, in one run: the same `wisp top --k 1` (parameter space,
# Float64) on 1 rank × 1 BLAS thread, 2 ranks × 1 BLAS thread each, and 1 rank × 2 BLAS
# threads. Reports per-product time, achieved GFLOP/s, communication share and parallel
# efficiency, then checks the cost model of bench/README.md against the 2-rank measurement.
#
#   bench/strong-scaling.sh            (M=2048, T=1024)
#   M=4096 T=512 bench/strong-scaling.sh
set -euo pipefail
cd "$(dirname "$0")/.."
M=${M:-2048}
T=${T:-1024}
swift build -c release --product wisp >&2
wisp=.build/release/wisp
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
out=${OUT:-bench/results/strong-scaling-M$M-T$T}
mkdir -p "$out"
args=(top --k 1 --matrix fisher --width "$M" --samples "$T" --tol 1e-10 --quiet)
echo "running 1 rank x 1 thread, 2 ranks x 1 thread, 1 rank x 2 threads at M=$M, T=$T" >&2
OPENBLAS_NUM_THREADS=1 "$wisp" "${args[@]}" --output "$out/r1t1.json" >/dev/null
OPENBLAS_NUM_THREADS=1 mpirun -np 2 --bind-to core -x OPENBLAS_NUM_THREADS=1 "$wisp" "${args[@]}" --output "$out/r2t1.json" >/dev/null
OPENBLAS_NUM_THREADS=2 "$wisp" "${args[@]}" --output "$out/r1t2.json" >/dev/null

python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
runs = {name: json.load(open(f"{out}/{name}.json")) for name in ("r1t1", "r2t1", "r1t2")}
flops = runs["r1t1"]["parallel"]["flops_per_product"]
P = runs["r1t1"]["parameters"]
def per_product(r):
    t = r["timings"]
    n = t["operator_applications"]
    return t["operator_seconds"] / n, t["communication_seconds"] / n, t["total_seconds"]
base, _, base_total = per_product(runs["r1t1"])
print(f"M={runs['r1t1']['configuration']['width']} T={runs['r1t1']['samples']} P={P} "
      f"flops/product={flops:.3e} (4T(2 sum M_l M_l-1 - d M_1)); allreduce payload {8 * P / 1e6:.1f} MB")
print(f"{'configuration':26s} {'s/product':>10s} {'comm s':>8s} {'GFLOP/s':>8s} {'speed-up':>9s} {'efficiency':>10s} {'top total s':>11s} {'peak MB':>8s}")
for name, label, cores in (("r1t1", "1 rank x 1 thread", 1), ("r2t1", "2 ranks x 1 thread", 2), ("r1t2", "1 rank x 2 threads", 2)):
    t, c, total = per_product(runs[name])
    print(f"{label:26s} {t:10.4f} {c:8.4f} {flops / t / 1e9:8.2f} {base / t:9.2f} {base / t / cores:10.0%} {total:11.2f} "
          f"{runs[name]['peak_memory_bytes'] / 1e6:8.0f}")
# Cost model: t_R = flops / (R * G) + t_allreduce(8P bytes), G = one core's rate from r1t1.
G = flops / base
t2, c2, _ = per_product(runs["r2t1"])
bandwidth = 8 * P / c2 if c2 > 0 else float("inf")
predicted = flops / (2 * G) + c2
print(f"model: G = {G / 1e9:.2f} GFLOP/s per core (from 1x1); measured allreduce of {8 * P / 1e6:.1f} MB: "
      f"{c2 * 1e3:.1f} ms ({bandwidth / 1e9:.2f} GB/s effective)")
print(f"model 2 ranks: compute {flops / (2 * G):.4f} s + allreduce {c2:.4f} s = {predicted:.4f} s/product; "
      f"measured {t2:.4f} s ({(t2 - predicted) / predicted:+.1%})")
PY
