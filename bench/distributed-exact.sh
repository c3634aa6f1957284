#!/usr/bin/env bash
# The distributed exact path against the one-rank one (issue 11, "Benchmarks"): every eigenvalue
# of K (TC × TC) for C = 10 outputs and T = 2048 samples (TC = 20480, K = 3.4 GB in Float64) of an
# L = 3, d = M = 1024 tanh network (σ_w² = 3, σ_b² = 0.64, seed 1, Gaussian inputs), by
#   lapack     wisp density --method exact --eigensolver lapack on 1 rank (dsyevd on the gathered K)
#   scalapack  the same through ScaLAPACK (pdsyevd, block-cyclic K) on 2 ranks (mpirun -np 2)
# and prints wall time, peak RSS per rank and max_i |λ_i(ScaLAPACK) − λ_i(LAPACK)| / λ_1 (goal 1e-10).
#   bench/distributed-exact.sh                          # TC = 20480 (about 20 min on 2 cores)
#   bench/distributed-exact.sh --samples 256 --outputs 4 --width 64 --output /tmp/d   # smoke run
set -euo pipefail
caller_dir="$PWD"
wisp="" samples=2048 outputs=10 width=1024 out=""
while (($#)); do
    case "$1" in
        --wisp) wisp="$2"; [[ "$wisp" == /* ]] || wisp="$caller_dir/$wisp"; shift 2 ;;
        --samples) samples="$2"; shift 2 ;;
        --outputs) outputs="$2"; shift 2 ;;
        --width) width="$2"; shift 2 ;;
        --output) out="$2"; [[ "$out" == /* ]] || out="$caller_dir/$out"; shift 2 ;;
        -h|--help) sed -n '2,10p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "distributed-exact.sh: error: unknown argument '$1' (see --help)" >&2; exit 64 ;;
    esac
done
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"
if [[ -z "$wisp" ]]; then
    swift build -c release --product wisp >&2
    wisp="$root/.build/release/wisp"
fi
out="${out:-$root/bench/results/distributed-exact}"
mkdir -p "$out"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
flags=(--method exact --width "$width" --samples "$samples" --outputs "$outputs" --activation tanh --sigma-w2 3 --sigma-b2 0.64 --seed 1)
timed() {  # name cmd…
    local name="$1"; shift
    echo "[$(date -u +%H:%M:%S)] $name: $*" >&2
    uptime > "$out/$name.load-start"
    /usr/bin/time -v -o "$out/$name.time" "$@" > "$out/$name.out" 2> "$out/$name.err" \
        || { echo "distributed-exact.sh: error: $name failed (see $out/$name.err)" >&2; tail -3 "$out/$name.err" >&2; exit 1; }
}
git -C "$root" log -1 --format='%h %s' > "$out/commit.txt" 2>/dev/null || true
timed lapack "$wisp" density "${flags[@]}" --eigensolver lapack --output "$out/lapack.json"
timed scalapack mpirun --oversubscribe -np 2 "$wisp" density "${flags[@]}" --eigensolver scalapack --output "$out/scalapack.json"
python3 - "$out" <<'PY'
import json, os, re, sys
out = sys.argv[1]
def report(name):
    text = open(os.path.join(out, name + ".time")).read()
    m = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", text)
    wall = int(m.group(1) or 0) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
    rec = json.load(open(os.path.join(out, name + ".json")))
    with open(os.path.join(out, rec["eigenvalues_file"])) as f:
        values = [float(x) for x in f.read().split()[1:]]
    return wall, rec, values
rows = {n: report(n) for n in ("lapack", "scalapack")}
print("| solver | ranks | TC | wall | peak RSS, rank 0 | method | λ_1 |")
print("|---|---|---|---|---|---|---|")
for n, (wall, rec, values) in rows.items():
    print(f"| {n} | {rec['machine']['ranks']} | {len(values)} | {wall:.0f} s | {rec['peak_memory_bytes'] / 1e9:.2f} GB | {rec['method']} | {values[0]:.12e} |")
a, b = rows["lapack"][2], rows["scalapack"][2]
print(f"\nmax |λ(ScaLAPACK) − λ(LAPACK)| / λ_1 over all {len(a)}: {max(abs(x - y) for x, y in zip(a, b)) / a[0]:.1e} (goal 1e-10)")
PY
