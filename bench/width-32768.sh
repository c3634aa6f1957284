#!/usr/bin/env bash
# Width 32768 on one machine (issue 11, item 4): L = 3, d = M = 32768, C = 1, ReLU, float32
# (P = 2.15e9, the Float32 weights 8.6 GB), T = 1024 Gaussian inputs (seed 1). Runs, in order:
#   top1     wisp top --k 5 on 1 rank (method auto: the exact sample-space path)
#   top2     the same on 2 ranks (mpirun -np 2; each rank holds the weights: 17.2 GB together)
#   density  wisp density --method exact on 1 rank (all 1024 nonzero eigenvalues, written in full)
# and prints wall time, peak RSS (from /usr/bin/time -v) against the weights, λ_1..λ_5 and their
# residuals, and the largest relative difference between the 1- and 2-rank eigenvalues.
#   bench/width-32768.sh                        # all three (≈ 25 min on 2 quiet cores)
#   bench/width-32768.sh --wisp BIN --runs top1,density --width 16384 --samples 512 --output DIR
set -euo pipefail
caller_dir="$PWD"
wisp="" runs="top1,top2,density" width=32768 samples=1024 out=""
while (($#)); do
    case "$1" in
        --wisp) wisp="$2"; [[ "$wisp" == /* ]] || wisp="$caller_dir/$wisp"; shift 2 ;;
        --runs) runs="$2"; shift 2 ;;
        --width) width="$2"; shift 2 ;;
        --samples) samples="$2"; shift 2 ;;
        --output) out="$2"; [[ "$out" == /* ]] || out="$caller_dir/$out"; shift 2 ;;
        -h|--help) sed -n '2,11p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "width-32768.sh: error: unknown argument '$1' (see --help)" >&2; exit 64 ;;
    esac
done
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"
# shellcheck source=bench/lib/timed.sh
source "$root/bench/lib/timed.sh"
bench_wisp
out="${out:-$root/bench/results/width-$width}"
mkdir -p "$out"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
flags=(--width "$width" --samples "$samples" --precision float32 --seed 1)
want() { [[ ",$runs," == *",$1,"* ]]; }
git -C "$root" log -1 --format='%h %s' > "$out/commit.txt" 2>/dev/null || true
want top1 && bench_timed top1 "$wisp" top --k 5 "${flags[@]}" --output "$out/top1.json"
want top2 && bench_timed top2 mpirun --oversubscribe -np 2 "$wisp" top --k 5 "${flags[@]}" --output "$out/top2.json"
want density && bench_timed density "$wisp" density --method exact "${flags[@]}" --output "$out/density.json"
python3 - "$out" "$root/bench/lib" <<'PY'
import json, os, sys
out = sys.argv[1]
sys.path.insert(0, sys.argv[2])
from timereport import time_report
recs = {}
for name in ("top1", "top2", "density"):
    try:
        recs[name] = json.load(open(os.path.join(out, name + ".json")))
    except (OSError, ValueError):
        continue
print("| run | ranks | method | wall | peak RSS (rank 0) | weights | peak / weights | λ_1 … λ_5 | max residual / λ |")
print("|---|---|---|---|---|---|---|---|---|")
for name, r in recs.items():
    wall, rss = time_report(os.path.join(out, name + ".time"))
    mem = r.get("memory", {})
    ev = r.get("eigenvalues")
    if ev is None and r.get("eigenvalues_file"):   # density --method exact: every eigenvalue in a CSV beside the JSON
        with open(os.path.join(out, r["eigenvalues_file"])) as f:
            ev = [float(x) for x in f.read().split()[1:6]]
    res = r.get("residuals") or []
    rel = max((a / b for a, b in zip(res, ev)), default=None)
    load = open(os.path.join(out, name + ".load-start")).read().split("load average:")[-1].strip()
    print(f"| {name} | {r['machine']['ranks']} | {r.get('method_choice', {}).get('method', r.get('method', '?'))} | "
          f"{wall:.0f} s | {rss / 1e9:.2f} GB | {mem.get('weights_bytes', 0) / 1e9:.2f} GB | "
          f"{rss / mem['weights_bytes']:.2f} | {', '.join(f'{x:.6f}' for x in ev[:5])} | "
          f"{'' if rel is None else f'{rel:.1e}'} |  (load at start {load}; kernel {r['machine'].get('blas_kernel')})")
if "top1" in recs and "top2" in recs:
    a, b = recs["top1"]["eigenvalues"], recs["top2"]["eigenvalues"]
    print(f"\n1 rank against 2 ranks: max |Δλ|/λ_1 = {max(abs(x - y) for x, y in zip(a, b)) / a[0]:.1e}")
PY
