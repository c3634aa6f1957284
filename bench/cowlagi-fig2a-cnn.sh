#!/usr/bin/env bash
# Cowlagi & Chaudhari, Fig. 2a with a CNN: a 9-layer CNN (six 3×3 conv + ReLU with two 2×2 max
# pools, then three dense layers; bench/results/cowlagi-fig2a-cnn/cnn9.json) trained by momentum
# SGD on Fashion-MNIST (substitute for the paper's CIFAR-10), with the SLQ density of the FIM on a
# log grid at the start, middle and end of training (wisp train --measure density), against the
# exact spectrum of the data correlation (wisp data-spectrum on the same inputs), and the stiff
# fraction at each checkpoint.
#   - FIM = --density-matrix ggn: for softmax cross-entropy the classification Fisher
#     G = (1/T) Jᵀ(diag p − ppᵀ)J, the paper's g in √p coordinates.
#   - T = 512 training images, average-pooled 2×2 to 14×14 (--pool 2), pixels / 255; 1000 held-out
#     t10k images for validation. Batch 64, η = 0.05, μ = 0.9, 400 steps (50 epochs); checkpoints
#     at 0, 200, 400. SLQ: 4 probes × 30 Lanczos steps per checkpoint.
#
#   bench/cowlagi-fig2a-cnn.sh      (≈ 2.5 minutes on 2 shared cores after the release build)
#
# Writes bench/results/cowlagi-fig2a-cnn/{train.json,train.csv,data-spectrum.json,fim-nodes.csv,
# train-fisher-slq.json,exact-fisher-*.json,spectra.csv,summary.txt,fig2a.svg}; the run's full
# outputs (models, figures) go to WORK.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-bench/results/cowlagi-fig2a-cnn}
work=${WORK:-/tmp/wisp-cowlagi-fig2a-cnn}
mkdir -p "$out" "$work"
swift build -c release --product wisp ${SCRATCH:+--scratch-path "$SCRATCH"} >&2
wisp=${SCRATCH:-.build}/release/wisp
F=${FASHION:-/usr/share/datasets/fashion-mnist}
T=${SAMPLES:-512}
STEPS=${STEPS:-400}
data=(--inputs $F/train-images-idx3-ubyte.gz --samples $T --pool 2 --scale-pixels)
start=$(date +%s)
"$wisp" data-spectrum "${data[@]}" --output "$out/data-spectrum.json" --quiet >/dev/null
"$wisp" train --architecture "$out/cnn9.json" "${data[@]}" --labels $F/train-labels-idx1-ubyte.gz \
  --loss cross-entropy --seed 1 --optimizer momentum --momentum 0.9 --lr 0.05 --batch-size 64 \
  --steps "$STEPS" --every $(( STEPS / 2 )) \
  --validation-inputs $F/t10k-images-idx3-ubyte.gz --validation-labels $F/t10k-labels-idx1-ubyte.gz --validation-samples 1000 \
  --measure density --density-matrix ggn --density-grid log --probes 4 --slq-steps 30 \
  --output-dir "$work" --quiet >/dev/null
echo "data spectrum and training: $(( $(date +%s) - start )) s" >&2
# The same run (same seed, so the same weights at every step) measuring the SLQ density of F
# instead of G: the SLQ stiff fraction of F against F's exact one below checks the estimator.
"$wisp" train --architecture "$out/cnn9.json" "${data[@]}" --labels $F/train-labels-idx1-ubyte.gz \
  --loss cross-entropy --seed 1 --optimizer momentum --momentum 0.9 --lr 0.05 --batch-size 64 \
  --steps "$STEPS" --every $(( STEPS / 2 )) --no-save-models \
  --measure density --density-matrix fisher --density-grid log --probes 4 --slq-steps 30 \
  --output-dir "$work/fisher-slq" --quiet >/dev/null
python3 - "$work/fisher-slq/train.json" "$out/train-fisher-slq.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
json.dump({"series": [{"step": c["step"], "loss": c["loss"], "nodes": c["spectrum"]["nodes"], "weights": c["spectrum"]["weights"],
                       "probes": c["spectrum"]["probes"], "matrix": c["spectrum"]["matrix"]} for c in r["series"]]}, open(sys.argv[2], "w"))
PY
echo "with the SLQ density of F: $(( $(date +%s) - start )) s" >&2
# Cross-check with an exact spectrum: G has no exact path on layers yet, but F = (1/T) JᵀJ (all C
# logits, no softmax) does: all TC = 5120 eigenvalues of K = (1/T) J Jᵀ (= F's nonzero ones; F has
# P − TC more zeros) at the same three checkpoints, LAPACK dsyevd.
for model in "$work"/models/step-*.safetensors; do
  step=$(basename "$model" .safetensors); step=$((10#${step#step-}))
  "$wisp" density --architecture "$out/cnn9.json" --model "$model" "${data[@]}" --matrix ntk --method exact \
    --output "$work/exact-ntk-$step.json" --quiet >/dev/null
  python3 - "$work/exact-ntk-$step.json" "$out/exact-fisher-$step.json" "$step" <<'PY'
import csv, json, sys
r = json.load(open(sys.argv[1]))
ev = [float(row["eigenvalue"]) for row in csv.DictReader(open(r["eigenvalues_file"]))]
json.dump({"step": int(sys.argv[3]), "matrix": "F = (1/T) JᵀJ via K = (1/T) J Jᵀ", "method": r["method"], "parameters": r["parameters"],
           "samples": r["samples"], "eigenvalues": [float(f"{v:.6e}") for v in ev], "timings": r["timings"]}, open(sys.argv[2], "w"))
PY
done
echo "with the exact spectra: $(( $(date +%s) - start )) s" >&2
cp "$work/train.csv" "$out/train.csv"
cp "$work/spectra-nodes.csv" "$out/fim-nodes.csv"
python3 - "$work/train.json" "$out/train.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
for c in r["series"]:
    c["spectrum"]["density"].pop("density", None); c["spectrum"]["density"].pop("grid", None)  # the nodes and weights define it
json.dump(r, open(sys.argv[2], "w"), indent=1)
PY
python3 bench/cowlagi-fig2a-cnn-report.py "$out"
