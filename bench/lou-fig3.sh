#!/usr/bin/env bash
# Reproduces Fig. 3 of Lou, Mingard, Nam & Hayou (feature learning and signal propagation):
# the layer l* of peak alignment A_l = Ỹᵀ K_l Ỹ / (‖C K_l C‖_F ‖Ỹ‖²) (their eq. 6–7) after
# training ReLU FFNNs of depth L with He initialization and no biases (their eq. 8: z_1 = W_1 x,
# z_l = W_l φ(z_(l−1)), σ_w² = 2), and the fits log l* = 3/5 log L + C and log l* = a log L + b.
#
# Substitution: the 8×8 digits of Tests/Data/digits (a copy of ../shared/data) (T = 1797, d = 64, 10 classes, pixels
# scaled to [0, 1]) stand in for MNIST. Training: plain minibatch SGD (batch 128, cross-entropy;
# the paper's momentum 0.9 and weight decay are not implemented, so η is about 10× their
# learning rate), at most STEPS steps, stopping early once the full training loss is at most
# TARGET (checked every EVERY steps). The alignments are then computed exactly (TC = 10·SUBSET ≤
# 4096) on the first SUBSET training samples with `wisp align` on the trained model.
#
#   bench/lou-fig3.sh                                   (DEPTHS="10 20 30 40", SEEDS="1 2", WIDTH=128)
#   DEPTHS="10 20 30 40 50" SEEDS="1 2 3" WISP=.build/release/wisp bench/lou-fig3.sh
#
# Writes bench/results/lou-fig3/{runs/*.json,alignments.csv,peaks.csv,fig3.svg} (the per-run
# train/align records, also align-init-* at initialization; the models stay in $SCRATCH) and prints the fits. Runs already present
# in runs/ are skipped, so an interrupted sweep continues where it stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
DEPTHS=${DEPTHS:-"10 20 30 40"}
SEEDS=${SEEDS:-"1 2"}
WIDTH=${WIDTH:-128}
STEPS=${STEPS:-1000}
EVERY=${EVERY:-50}
TARGET=${TARGET:-0.05}
BATCH=${BATCH:-128}
SUBSET=${SUBSET:-400}
data=${WISP_DATA:-Tests/Data}/digits
out=${OUT:-bench/results/lou-fig3}
scratch=${SCRATCH:-$(mktemp -d)}
wisp=${WISP:-.build/release/wisp}
if [ ! -x "$wisp" ]; then swift build -c release --product wisp >&2; wisp=.build/release/wisp; fi
[ -f "$data/digits-images.idx3-ubyte" ] || { echo "error: $data/digits-images.idx3-ubyte not found (set WISP_DATA)" >&2; exit 1; }
# η per depth, smaller for deeper nets as in the paper's Fig. 8a: 0.05 for L ≤ 20, 0.03 beyond
# (η = 0.1 overflows at L = 40 at once; 0.05 diverged at L = 30 after 650 steps). LR sets one η
# for every depth. A run that diverges anyway is repeated with η/2, then η/4 (the η used is in
# train-*.json, training.learning_rate).
lr_for() { if [ -n "${LR:-}" ]; then echo "$LR"; elif [ "$1" -le 20 ]; then echo 0.05; else echo 0.03; fi; }
# The seeds run in parallel, one BLAS thread each (the GEMMs of width 128–256 at batch 128 are
# too small to gain from threads).
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
mkdir -p "$out/runs"
digits=(--inputs "$data/digits-images.idx3-ubyte" --labels "$data/digits-labels.idx1-ubyte" --scale-pixels --activation relu)
start=$(date +%s)
run_seed() {
  local seed=$1 L tag t0 t1 model
  for L in $DEPTHS; do
    tag="L$L-s$seed"
    [ -s "$out/runs/align-$tag.json" ] && continue
    t0=$(date +%s)
    local eta trained=0
    eta=$(lr_for "$L")
    for _ in 1 2 3; do
      rm -rf "${scratch:?}/$tag"
      if "$wisp" train --quiet "${digits[@]}" --depth "$L" --width "$WIDTH" --sigma-w2 2 --no-bias --loss cross-entropy \
        --batch-size "$BATCH" --lr "$eta" --steps "$STEPS" --every "$EVERY" --target-loss "$TARGET" --seed "$seed" \
        --measure none --output-dir "$scratch/$tag" --output "$out/runs/train-$tag.json" >/dev/null; then trained=1; break; fi
      echo "$tag: training diverged at η = $eta; again with η/2" >&2
      eta=$(python3 -c "print($eta / 2)")
    done
    [ "$trained" = 1 ] || { echo "$tag: training diverged three times, skipped" >&2; continue; }
    # Keep the committed record small: the minibatch loss of every 10th step.
    python3 -c 'import json, sys; p = sys.argv[1]; r = json.load(open(p)); r["loss_curve"] = r["loss_curve"][::10]
r["loss_curve_thinned"] = "every 10th step"; json.dump(r, open(p, "w"), indent=1)' "$out/runs/train-$tag.json"
    model=$(ls "$scratch/$tag/models/"step-*.safetensors | sort | tail -1)
    t1=$(date +%s)
    "$wisp" align --quiet "${digits[@]}" --model "$model" --samples "$SUBSET" --seed "$seed" --output "$out/runs/align-$tag.json" >/dev/null
    # The same at initialization (step 0), for comparison.
    "$wisp" align --quiet "${digits[@]}" --model "$scratch/$tag/models/step-000000000.safetensors" --samples "$SUBSET" --seed "$seed" \
      --output "$out/runs/align-init-$tag.json" >/dev/null
    rm -f "$out/runs/"align-*"$tag".{csv,svg}
    rm -rf "${scratch:?}/$tag"
    echo "$tag: train $((t1 - t0)) s, align $(( $(date +%s) - t1 )) s ($(( $(date +%s) - start )) s so far)" >&2
  done
}
pids=()
for seed in $SEEDS; do run_seed "$seed" & pids+=($!); done
for pid in "${pids[@]}"; do wait "$pid"; done
echo "sweep: $(( $(date +%s) - start )) s wall" >&2
python3 bench/lou-fig3-report.py "$out"
