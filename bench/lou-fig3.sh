#!/usr/bin/env bash
# Reproduces Fig. 3 of Lou, Mingard, Nam & Hayou (feature learning and signal propagation):
# the layer l* of peak alignment A_l = Ỹᵀ K_l Ỹ / (‖C K_l C‖_F ‖Ỹ‖²) (their eq. 6–7) after
# training ReLU FFNNs of depth L with He initialization and no biases (their eq. 8: z_1 = W_1 x,
# z_l = W_l φ(z_(l−1)), σ_w² = 2), and the fits log l* = 3/5 log L + C and log l* = a log L + b.
#
# DATA=digits (default): the 8×8 digits of Tests/Data/digits (a copy of ../shared/data) (T = 1797,
# d = 64, 10 classes, pixels scaled to [0, 1]) stand in for MNIST. Training: plain minibatch SGD
# (batch 128, cross-entropy; no momentum or weight decay, so η is about 10× the paper's learning
# rate), at most STEPS steps, stopping early once the full training loss is at most TARGET
# (checked every EVERY steps). The alignments are then computed exactly (TC = 10·SUBSET ≤ 4096)
# on the first SUBSET training samples with `wisp align` on the trained model.
#
# DATA=fashion: the first SAMPLES (4000) images of Fashion-MNIST's training split
# (train-images-idx3-ubyte.gz of the Debian package dataset-fashion-mnist, or $FASHION_MNIST),
# average-pooled POOL × POOL (2: 14×14, d = 196) and scaled to [0, 1]; VALIDATION (1000) images
# of the test split are scored at every check (loss and accuracy, not used for stopping).
# OPTIMIZER=momentum trains with SGD + momentum MOMENTUM (0.9) as the paper does, with
# WEIGHT_DECAY (default 0; the paper's value is not stated). Defaults for DATA=fashion:
# OPTIMIZER=momentum, WIDTH=100 (the paper's Table 2), BATCH=128, STEPS=2000, EVERY=100,
# TARGET=0.1 (the paper's stopping loss in Fig. 4), SUBSET=400, η = LR_TIMES_L / L = 0.018 / L,
# out bench/results/lou-fig3-fashion.
#
#   bench/lou-fig3.sh                                   (DEPTHS="10 20 30 40", SEEDS="1 2", WIDTH=128)
#   DEPTHS="10 20 30 40 50" SEEDS="1 2 3" WISP=.build/release/wisp bench/lou-fig3.sh
#   DATA=fashion DEPTHS="10 20 30 45 60" SEEDS="1 2" PARALLEL=1 ALIGN_INIT=0 bench/lou-fig3.sh
#
# Seeds run in parallel (one process per seed) unless PARALLEL=1 (one training at a time, depth
# by depth). ALIGN_INIT=0 skips the alignments at initialization; ALIGN_STEPS="500 1000" also
# aligns those checkpoints (multiples of EVERY; runs/align-step500-L*-s*.json). LR sets one η for every depth.
#
# Writes $OUT/{runs/*.json,alignments.csv,peaks.csv,peak-definitions.csv,fit.json,fig3.svg} (the
# per-run train/align records, also align-init-* at initialization; the models stay in $SCRATCH)
# and prints the fits. Runs already present in runs/ are skipped, so an interrupted sweep
# continues where it stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-digits}
case "$DATA" in
  digits) defaults=(128 1000 50 0.05 128 sgd bench/results/lou-fig3) ;;
  fashion) defaults=(100 2000 100 0.1 128 momentum bench/results/lou-fig3-fashion) ;;
  *) echo "error: DATA must be digits or fashion (got $DATA)" >&2; exit 1 ;;
esac
DEPTHS=${DEPTHS:-"10 20 30 40"}
SEEDS=${SEEDS:-"1 2"}
WIDTH=${WIDTH:-${defaults[0]}}
STEPS=${STEPS:-${defaults[1]}}
EVERY=${EVERY:-${defaults[2]}}
TARGET=${TARGET:-${defaults[3]}}
BATCH=${BATCH:-${defaults[4]}}
OPTIMIZER=${OPTIMIZER:-${defaults[5]}}
MOMENTUM=${MOMENTUM:-0.9}
WEIGHT_DECAY=${WEIGHT_DECAY:-0}
SUBSET=${SUBSET:-400}
PARALLEL=${PARALLEL:-0}
ALIGN_INIT=${ALIGN_INIT:-1}
ALIGN_STEPS=${ALIGN_STEPS:-}
out=${OUT:-${defaults[6]}}
scratch=${SCRATCH:-$(mktemp -d)}
wisp=${WISP:-.build/release/wisp}
if [ ! -x "$wisp" ]; then swift build -c release --product wisp >&2; wisp=.build/release/wisp; fi
case "$DATA" in
  digits)
    data=${WISP_DATA:-Tests/Data}/digits
    [ -f "$data/digits-images.idx3-ubyte" ] || { echo "error: $data/digits-images.idx3-ubyte not found (set WISP_DATA)" >&2; exit 1; }
    dataset=(--inputs "$data/digits-images.idx3-ubyte" --labels "$data/digits-labels.idx1-ubyte" --scale-pixels)
    trainset=("${dataset[@]}") ;;
  fashion)
    data=${FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
    [ -f "$data/train-images-idx3-ubyte.gz" ] || {
      echo "error: $data/train-images-idx3-ubyte.gz not found (apt-get install dataset-fashion-mnist, or set FASHION_MNIST)" >&2; exit 1; }
    dataset=(--inputs "$data/train-images-idx3-ubyte.gz" --labels "$data/train-labels-idx1-ubyte.gz" --pool "${POOL:-2}" --scale-pixels)
    trainset=("${dataset[@]}" --samples "${SAMPLES:-4000}")
    if [ "${VALIDATION:-1000}" != 0 ]; then
      trainset+=(--validation-inputs "$data/t10k-images-idx3-ubyte.gz" --validation-labels "$data/t10k-labels-idx1-ubyte.gz"
                 --validation-samples "${VALIDATION:-1000}")
    fi ;;
esac
case "$OPTIMIZER" in
  sgd) update=(--optimizer sgd) ;;
  momentum) update=(--optimizer momentum --momentum "$MOMENTUM") ;;
  *) echo "error: OPTIMIZER must be sgd or momentum (got $OPTIMIZER)" >&2; exit 1 ;;
esac
[ "$WEIGHT_DECAY" = 0 ] || update+=(--weight-decay "$WEIGHT_DECAY")
# η per depth. Plain SGD (digits), smaller for deeper nets as in the paper's Fig. 8a: 0.05 for
# L ≤ 20, 0.03 beyond (η = 0.1 overflows at L = 40 at once; 0.05 diverged at L = 30 after 650
# steps). Momentum 0.9: η = LR_TIMES_L / L (0.018 / L: 0.0003 at L = 60, the largest of 0.003,
# 0.001, 0.0003 that trained L = 60; a constant 0.0003 left L = 10 near its initial alignments),
# or MOMENTUM_LR at every depth (see the Fashion-MNIST section of bench/README.md). LR sets one η for every depth. A run that diverges anyway is repeated with
# η/2, then η/4 (the η used is in train-*.json, training.learning_rate).
lr_for() {
  if [ -n "${LR:-}" ]; then echo "$LR"
  elif [ "$OPTIMIZER" = momentum ] && [ -n "${MOMENTUM_LR:-}" ]; then echo "$MOMENTUM_LR"
  elif [ "$OPTIMIZER" = momentum ]; then python3 -c "print(${LR_TIMES_L:-0.018} / $1)"
  elif [ "$1" -le 20 ]; then echo 0.05; else echo 0.03; fi
}
# One BLAS thread per process (the GEMMs of width 100–256 at batch 128 are too small to gain
# from threads).
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
mkdir -p "$out/runs"
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
      if "$wisp" train --quiet "${trainset[@]}" --activation relu --depth "$L" --width "$WIDTH" --sigma-w2 2 --no-bias --loss cross-entropy \
        "${update[@]}" --batch-size "$BATCH" --lr "$eta" --steps "$STEPS" --every "$EVERY" --target-loss "$TARGET" --seed "$seed" \
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
    "$wisp" align --quiet "${dataset[@]}" --activation relu --model "$model" --samples "$SUBSET" --seed "$seed" --output "$out/runs/align-$tag.json" >/dev/null
    # The same at initialization (step 0), for comparison.
    if [ "$ALIGN_INIT" = 1 ]; then
      "$wisp" align --quiet "${dataset[@]}" --activation relu --model "$scratch/$tag/models/step-000000000.safetensors" --samples "$SUBSET" \
        --seed "$seed" --output "$out/runs/align-init-$tag.json" >/dev/null
    fi
    # The same at earlier checkpoints (ALIGN_STEPS, multiples of EVERY), to see the peak move in training.
    for k in $ALIGN_STEPS; do
      local early
      early=$(printf "%s/%s/models/step-%09d.safetensors" "$scratch" "$tag" "$k")
      [ -f "$early" ] && [ "$early" != "$model" ] || continue
      "$wisp" align --quiet "${dataset[@]}" --activation relu --model "$early" --samples "$SUBSET" --seed "$seed" \
        --output "$out/runs/align-step$k-$tag.json" >/dev/null
    done
    rm -f "$out/runs/"align-*"$tag".{csv,svg}
    rm -rf "${scratch:?}/$tag"
    echo "$tag: train $((t1 - t0)) s, align $(( $(date +%s) - t1 )) s ($(( $(date +%s) - start )) s so far)" >&2
  done
}
if [ "$PARALLEL" = 1 ]; then
  # One training at a time, depth by depth (every seed of a depth before the next depth).
  all_depths=$DEPTHS
  for L in $all_depths; do for seed in $SEEDS; do DEPTHS=$L run_seed "$seed"; done; done
  DEPTHS=$all_depths
else
  pids=()
  for seed in $SEEDS; do run_seed "$seed" & pids+=($!); done
  for pid in "${pids[@]}"; do wait "$pid"; done
fi
echo "sweep: $(( $(date +%s) - start )) s wall" >&2
# Fashion-MNIST runs stop at STEPS before the target loss: fit them all (FIT_ALL=0 fits only
# the runs that reached TARGET).
if [ "$DATA" = fashion ]; then FIT_ALL=${FIT_ALL:-1} python3 bench/lou-fig3-report.py "$out"; else python3 bench/lou-fig3-report.py "$out"; fi
