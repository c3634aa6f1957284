#!/usr/bin/env bash
# How many probes and steps (SLQ) or moments (KPM) does a density estimate need? Each estimate is
# measured against the exact spectrum of the same matrix (`wisp density --compare-exact`: every
# eigenvalue of the formed K, LAPACK): Wasserstein-1 distance of F's spectral measure (relative to
# λ_max, and of the nonzero part on log10 λ in decades) and the relative errors of tr(F^p)/P.
#
#   bench/estimates-vs-exact.sh [--quick] [path/to/wisp]
#   SLQ_PROBES="5 20" SLQ_STEPS="16 64" KPM_MOMENTS="64 256" bench/estimates-vs-exact.sh   # a smaller grid
#
# Default network: L = 3, M = 1024, T = 1024, C = 1 (P = 2.1 M, TC = 1024), ReLU (Karakida et
# al.'s setting) and tanh (σ_w² = 3, σ_b² = 0.64). Writes bench/results/estimates-vs-exact/*.json
# and a table (summary.md). Accuracy only: times are printed but not the point.
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
if [ "${1:-}" = "--quick" ]; then quick=1; shift; fi
wisp=${1:-.build/release/wisp}
if [ ! -x "$wisp" ]; then swift build -c release --product wisp >&2; wisp=.build/release/wisp; fi
out=bench/results/estimates-vs-exact$( [ $quick -eq 1 ] && echo -quick || true)
mkdir -p "$out"
if [ $quick -eq 1 ]; then
  net="--width 128 --samples 128"; slq_probes="5 20"; slq_steps="16 48"; kpm_moments="64 256"
else
  net="--width 1024 --samples 1024"; slq_probes="5 10 20 40"; slq_steps="16 32 64"; kpm_moments="64 128 256 512"
fi
slq_probes=${SLQ_PROBES:-$slq_probes}; slq_steps=${SLQ_STEPS:-$slq_steps}; kpm_moments=${KPM_MOMENTS:-$kpm_moments}
cases=("relu|--activation relu --sigma-w2 2" "tanh|--activation tanh --sigma-w2 3 --sigma-b2 0.64")
for c in "${cases[@]}"; do
  name=${c%%|*}; flags=${c#*|}
  for p in $slq_probes; do for s in $slq_steps; do
    # shellcheck disable=SC2086
    echo "[$(date -u +%H:%M:%S)] $name slq $p probes × $s steps" >&2
    "$wisp" density --quiet $net $flags --method slq --probes "$p" --steps "$s" --compare-exact --output "$out/$name-slq-$p-$s.json" >/dev/null
  done; done
  for m in $kpm_moments; do for d in 0 1; do
    # shellcheck disable=SC2086
    echo "[$(date -u +%H:%M:%S)] $name kpm 10 probes × $m moments, deflate $d" >&2
    "$wisp" density --quiet $net $flags --method kpm --probes 10 --moments "$m" --deflate "$d" --compare-exact --output "$out/$name-kpm-$m-$d.json" >/dev/null
  done; done
done
python3 - "$out" <<'PY'
import glob, json, os, sys
out = sys.argv[1]
rows = []
for f in sorted(glob.glob(os.path.join(out, "*.json"))):
    r = json.load(open(f))
    res = r
    c = res.get("exact_comparison")
    if not c: continue
    name = os.path.basename(f)[:-5]
    act, method, a, b = name.split("-")
    budget = f"{a} probes × {b} steps" if method == "slq" else f"10 probes × {a} moments" + (", 1 deflated" if b == "1" else "")
    apps = res["operator_applications"]  # every product of the estimate: SLQ's, or KPM's moments + bounds + deflation
    m = {e["order"]: e["relative_error"] for e in c["moments"]}
    rows.append((act, method, budget, apps, c["wasserstein_1_relative"], c["wasserstein_1_log10_decades"], m[1], m[2], m[4], r["timings"]["total_seconds"]))
rows.sort(key=lambda x: (x[0], x[1], x[3]))
lines = ["| activation | method | budget | products | W₁/λ_max | W₁ log₁₀ λ (decades) | rel. err tr F/P | tr F²/P | tr F⁴/P | seconds |",
         "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
for r in rows:
    lines.append(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]:.2e} | {r[5]:.3f} | {r[6]:+.1e} | {r[7]:+.1e} | {r[8]:+.1e} | {r[9]:.1f} |")
text = "\n".join(lines) + "\n"
open(os.path.join(out, "summary.md"), "w").write(text)
print(text)
PY
