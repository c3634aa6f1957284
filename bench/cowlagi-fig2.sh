#!/usr/bin/env bash
# Cowlagi & Chaudhari, Fig. 2 and "Model reduction", on the digits (classification, softmax
# cross-entropy, FIM = the classification Fisher G = (1/T) Jᵀ (diag p − p pᵀ) J) and diabetes
# (regression, mse, FIM = F = (1/T) Jᵀ J):
#   1. full-batch gradient descent with checkpoints (wisp train --every N), recording the exact
#      trace of the FIM at every checkpoint (HessianMoments' exact tr G from sample space);
#   2. the FIM spectrum at the first, middle and last checkpoint: *all* P eigenvalues, exactly
#      (wisp reduce's dense path: P products, LAPACK dsyevd), normalized by λ_max, against the
#      data correlation spectrum (wisp data-spectrum, exact);
#   3. model reduction of the trained digits and diabetes models: loss and accuracy against k for
#      w ≈ Σ⟨w,e_i⟩e_i and w ≈ w₀ + Σ⟨w−w₀,e_i⟩e_i.
#
#   bench/cowlagi-fig2.sh            (about 5 minutes on 2 shared cores)
#
# Writes bench/results/cowlagi-fig2/{*.json,*.csv,fig2.svg,reduction.svg,summary.txt}; models and
# training outputs go to a scratch directory (WORK, default /tmp/wisp-cowlagi) and are not committed.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-bench/results/cowlagi-fig2}
work=${WORK:-/tmp/wisp-cowlagi}
mkdir -p "$out" "$work"
swift build -c release --product wisp ${SCRATCH:+--scratch-path "$SCRATCH"} >&2
wisp=${SCRATCH:-.build}/release/wisp
data=${WISP_DATA:-Tests/Data}
start=$(date +%s)

# Digits: the first T = 400 images (8 × 8, pixels / 16), C = 10 classes; TC = 4000 ≤ 4096, so
# train's moments have the exact tr G. L = 3, M = 24, ReLU: P = 2410.
digits=(--inputs $data/digits/digits-images.idx3-ubyte --labels $data/digits/digits-labels.idx1-ubyte --scale-pixels
        --samples 400)
digits_net=(--depth 3 --width 24 --seed 1 --loss cross-entropy)
# Diabetes: all T = 442 patients, d = 10 standardized features (--standardize), mse. The raw target
# (25…346, σ = 77) makes the residual part S of the Hessian so large that GD oscillates at the edge of
# stability for any usable lr (0.003 diverges or not depending on the step count), so the target is
# standardized too, in a copy of the CSV in $WORK (substitution); then lr = 0.02 < 2/λ_max(F) = 0.046.
# L = 3, M = 32: P = 1441.
python3 - "$data/diabetes/diabetes.csv" "$work/diabetes-standardized-target.csv" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))
i = rows[0].index("target")
y = [float(r[i]) for r in rows[1:]]
m = sum(y) / len(y); s = (sum((v - m) ** 2 for v in y) / len(y)) ** 0.5
with open(sys.argv[2], "w", newline="") as f:
    w = csv.writer(f); w.writerow(rows[0])
    for r in rows[1:]: r[i] = repr((float(r[i]) - m) / s); w.writerow(r)
PY
diabetes=(--inputs "$work/diabetes-standardized-target.csv" --target-column target --standardize)
diabetes_net=(--depth 3 --width 32 --seed 1 --loss mse)

"$wisp" data-spectrum "${digits[@]}" --output "$out/digits-data-spectrum.json" >/dev/null
"$wisp" data-spectrum "${diabetes[@]}" --output "$out/diabetes-data-spectrum.json" >/dev/null

run_dataset() {  # name steps every lr data-array net-array
  local name=$1 steps=$2 every=$3 lr=$4
  local -n dflags=$5 nflags=$6
  local loss=(--loss "${nflags[-1]}")
  local dir="$work/$name-train"
  # Reuses a finished training run in $WORK (delete it to retrain).
  [ -s "$dir/train.json" ] || "$wisp" train "${dflags[@]}" "${nflags[@]}" --steps "$steps" --every "$every" --lr "$lr" --measure moments --probes 4 --slq-steps 30 \
    --output-dir "$dir" --quiet >/dev/null
  cp "$dir/train.csv" "$out/$name-train.csv"
  python3 - "$dir/train.json" "$out/$name-train.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
keep = {"command", "configuration", "settings", "timings", "machine", "wisp_version"}
small = {k: v for k, v in r.items() if k in keep}
small["series"] = [{k: c.get(k) for k in ("step", "loss", "accuracy", "gradient_norm", "moments")} for c in r["series"]]
json.dump(small, open(sys.argv[2], "w"), indent=1)
PY
  local models=($(ls "$dir"/models/step-*.safetensors))
  local n=${#models[@]}
  local first=${models[0]} middle=${models[$(( (n - 1) / 2 ))]} last=${models[$(( n - 1 ))]}
  for stage in first middle last; do
    local model=${!stage}
    "$wisp" reduce "${dflags[@]}" "${loss[@]}" --model "$model" --keep 1 --quiet --output "$work/$name-spectrum-$stage.json" >/dev/null
    python3 - "$work/$name-spectrum-$stage.json" "$out/$name-spectrum-$stage.json" "$model" <<'PY'
import json, sys, re
r = json.load(open(sys.argv[1]))
step = int(re.search(r"step-(\d+)", sys.argv[3]).group(1))
json.dump({"step": step, "matrix": r["matrix"], "matrix_description": r["matrix_description"], "method": r["method"],
           "parameters": r["parameters"], "worst_residual": r["worst_residual"], "loss": r["full"]["loss"],
           "accuracy": r["full"].get("accuracy"), "eigenvalues": r["eigenvalues"], "timings": r["timings"]},
          open(sys.argv[2], "w"))
PY
  done
  "$wisp" reduce "${dflags[@]}" "${loss[@]}" --model "$last" --init "$first" --keep 5% \
    --sweep 0,1,2,5,10,20,50,100,200,500,1000,1%,2%,5%,10%,20%,50%,100% \
    --save-reduced "$work/$name-reduced-5pct.safetensors" --quiet --output "$out/$name-reduction.json" >/dev/null
  python3 - "$out/$name-reduction.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
del r["eigenvalues"]  # already in the *-spectrum-last.json
json.dump(r, open(sys.argv[1], "w"), indent=1)
PY
  echo "$name done after $(( $(date +%s) - start )) s" >&2
}

digits_steps=${DIGITS_STEPS:-1000}
diabetes_steps=${DIABETES_STEPS:-1000}
run_dataset digits "$digits_steps" $(( digits_steps / 10 )) 0.5 digits digits_net
run_dataset diabetes "$diabetes_steps" $(( diabetes_steps / 10 )) 0.02 diabetes diabetes_net
echo "total $(( $(date +%s) - start )) s" >&2
python3 bench/cowlagi-fig2-report.py "$out"
