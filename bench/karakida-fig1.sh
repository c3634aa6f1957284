#!/usr/bin/env bash
# Reproduces Fig. 1 of Karakida, Akaho & Amari (pathological sharpness) and goes past it:
# λ_max of the Fisher matrix against the width M with T = M, L = 3, C = 1, α_l = 1, for
# ReLU (σ_w², σ_b²) = (2, 0) and tanh (3, 0.64), without normalization and with last-layer
# mean subtraction, several seeds per point, next to the mean-field predictions (Theorem 2.2;
# Theorem 3.3's lower bound ρα(κ₁ − κ₂) with ρ = M/T = 1), plus the mean eigenvalue m_λ.
#
#   bench/karakida-fig1.sh                       (WIDTHS="128 256 512 1024 2048", SEEDS=3)
#   WIDTHS="128 256 512 1024 2048 4096" SEEDS=3 bench/karakida-fig1.sh
#
# Writes bench/results/karakida-fig1/{runs/*.json,fig1.csv,fig1.svg} and prints the
# measured/theory ratio at each M. λ_max is computed in sample space (--matrix ntk: T-long
# Lanczos vectors); m_λ from the exact trace (unnormalized) or Hutchinson (mean subtraction).
set -euo pipefail
cd "$(dirname "$0")/.."
WIDTHS=${WIDTHS:-"128 256 512 1024 2048"}
SEEDS=${SEEDS:-3}
out=${OUT:-bench/results/karakida-fig1}
mkdir -p "$out/runs"
swift build -c release --product wisp >&2
wisp=.build/release/wisp
start=$(date +%s)
for M in $WIDTHS; do
  for act in relu tanh; do
    if [ "$act" = relu ]; then sw=2; sb=0; else sw=3; sb=0.64; fi
    for norm in none last-mean; do
      for seed in $(seq 1 "$SEEDS"); do
        tag="$act-$norm-M$M-s$seed"
        common=(--width "$M" --samples "$M" --depth 3 --outputs 1 --activation "$act" --sigma-w2 "$sw" --sigma-b2 "$sb"
                --normalization "$norm" --seed "$seed" --quiet)
        [ -s "$out/runs/top-$tag.json" ] || "$wisp" top --k 1 --matrix ntk --tol 1e-8 "${common[@]}" --output "$out/runs/top-$tag.json" >/dev/null
        [ -s "$out/runs/moments-$tag.json" ] || "$wisp" moments --exact-limit 0 --probes 8 "${common[@]}" --output "$out/runs/moments-$tag.json" >/dev/null
      done
    done
  done
  echo "M=$M done after $(( $(date +%s) - start )) s" >&2
done

python3 bench/karakida-fig1-report.py "$out"
