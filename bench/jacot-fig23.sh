#!/usr/bin/env bash
# Jacot, Gabriel & Hongler (2019), Fig. 2 and 3, on the digits data (the setting of
# bench/jacot-fig1.sh: two hidden layers, NTK parametrization, β = 0.1, mse on one-hot labels):
#   Fig. 2: Rayleigh quotients of the top 20 eigenvectors of I (= G) under S and of S under I;
#   Fig. 3: the loss on the plane of eigenvectors 1 and 11 of I around the trained weights
#           (the paper takes 1 and 4 with one output; with C = 10 outputs the top 10 eigenvalues of I
#           form the cluster of the "constant" directions, one per output, so 11 is the first of the
#           bulk: the valley's floor direction),
# for the smooth ReLU and the normalized smooth ReLU, at initialization and after training.
#
#   bench/jacot-fig23.sh          # ≈ 5 min on 2 cores
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-${WISP_DATA:-Tests/Data}/digits}
WIDTH=${WIDTH:-256}
SAMPLES=${SAMPLES:-256}
STEPS=${STEPS:-300}
LR=${LR:-1}
RADIUS=${RADIUS:-2}
out=bench/results/jacot-fig23
swift build -c release --product wisp >&2
mkdir -p "$out"
for act in softplus normalized-softplus; do
  echo "== $act" >&2
  .build/release/wisp train --quiet \
    --inputs "$DATA/digits-images.idx3-ubyte" --labels "$DATA/digits-labels.idx1-ubyte" --scale-pixels \
    --samples "$SAMPLES" --depth 3 --width "$WIDTH" --beta 0.1 --activation "$act" --loss mse \
    --lr "$LR" --steps "$STEPS" --every "$STEPS" --measure top,grid --top 20 --grid 1,11 --grid-radius "$RADIUS" \
    --grid-points 21 --seed 1 --output-dir "$out/$act" --no-save-models
  find "$out/$act" -name "*.csv" ! -name "train.csv" ! -name "rayleigh-*" ! -name "grid-*" -delete
done
python3 - "$out" <<'PY'
import csv, glob, json, os, sys
out = sys.argv[1]
print(f"{'activation':20s} {'step':>5s} {'G: λ_1':>10s} {'max |y Sy| / λ':>15s} {'S: |μ_1|':>10s} {'max y Gy / |μ|':>15s} {'curv. 11 / 1':>13s} {'λ_11/λ_1':>9s}")
for act in sorted(os.listdir(out)):
    r = json.load(open(f"{out}/{act}/train.json"))
    for c in r["series"]:
        q = c["rayleigh"]
        g, s = q["g_eigenvectors"], q["s_eigenvectors"]
        gs = max(abs(d["rayleigh_s"]) / d["eigenvalue"] for d in g)
        sg = max(d["rayleigh_g"] / abs(d["eigenvalue"]) for d in s)
        grid = c["grid"]
        n = len(grid["a"]); mid = n // 2
        # Curvature of the loss along each axis from the grid's second difference at the centre.
        L = grid["loss"]; h = grid["a"][1] - grid["a"][0]
        ca = (L[mid * n + mid + 1] - 2 * L[mid * n + mid] + L[mid * n + mid - 1]) / h**2
        cb = (L[(mid + 1) * n + mid] - 2 * L[mid * n + mid] + L[(mid - 1) * n + mid]) / h**2
        print(f"{act:20s} {c['step']:5d} {g[0]['eigenvalue']:10.4g} {gs:15.3g} {abs(s[0]['eigenvalue']):10.4g} {sg:15.3g} {cb / ca if ca else float('nan'):13.3g} {g[10]['eigenvalue'] / g[0]['eigenvalue']:9.3g}")
PY
