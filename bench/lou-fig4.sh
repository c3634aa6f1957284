#!/usr/bin/env bash
# Lou, Mingard, Nam & Hayou, Fig. 4 (the layerwise alignment hierarchy on an FFNN, a ResNet and a
# VGG-style CNN): A_l = Ỹᵀ K_l Ỹ / (‖C K_l C‖_F ‖Ỹ‖²) (their eq. 6–7) of every layer with
# parameters, by `wisp align`, on Fashion-MNIST's training split (dataset-fashion-mnist, or
# $FASHION_MNIST), average-pooled 2×2 to 14×14 and scaled to [0, 1], with one-hot labels (C = 10).
#
# Default mode: at initialization only, by `wisp align --architecture` on the first SUBSET (400)
# images; SEEDS (1 2 3) are independent initializations.
#
# --trained (Fig. 4 proper): each network is trained by `wisp train --architecture` with SGD +
# momentum MOMENTUM (0.9), cross-entropy, no weight decay, on the first SAMPLES (256) training
# images, over the grid BATCHES ("16 64 256") × LRS ("0.003 0.01 0.03"), stopping at a full
# training loss ≤ TARGET (0.1, the paper's) checked every EVERY_EPOCHS (4) epochs, or after the
# epoch cap (FFNN_EPOCHS 100, VGG_EPOCHS 60, RESNET_EPOCHS 40; the paper: 500); the test loss
# and accuracy on the first VALIDATION (500) test images at each check. A_l is then measured
# exactly on the SAMPLES training images (TC = 10·SAMPLES ≤ 4096) of the final model, and of the
# step-0 model once per network and seed (the initialization does not depend on the batch size or
# η). Seeds: FFNN_SEEDS and VGG_SEEDS ("1 2"), RESNET_SEEDS ("1"; "" skips). JOBS (2) trainings at once,
# one BLAS thread each. A diverging run (wisp stops it: loss not finite or 10⁶× its start) is
# recorded as runs/diverged-<tag>.txt, not retried. Out: bench/results/lou-fig4/trained.
#
# The networks (written to $OUT/arch/*.json, PyTorch-style descriptions; He initialization):
#   ffnn    flatten → 9 × (Linear(·, WIDTH=100, bias=False) → ReLU) → Linear(100, 10, bias=False)
#           (the paper's FFNN of Table 2 at depth L = 10, their eq. 8)
#   resnet  conv 3×3 (8) → ReLU → 2 basic blocks (8) → a strided block to 16 channels with a 1×1
#           projection → a block (16) → 7×7 average pool → Linear(16, 10): a ResNet18 scaled
#           down to 14×14 inputs, without BatchNorm (whose batch statistics couple the samples,
#           so its K_l would be estimated matrix-free, not formed)
#   vgg     2 × conv (8) → max pool → 2 × conv (16) → max pool → 2 × conv (32) → Linear(288, 64)
#           → Linear(64, 64) → Linear(64, 10), ReLU between: VGG's shape at 14×14
# Each layer's K_l is formed exactly.
#
#   bench/lou-fig4.sh                       (SUBSET=400 SEEDS="1 2 3", out bench/results/lou-fig4)
#   python3 bench/lou-fig4-report.py bench/results/lou-fig4
#   bench/lou-fig4.sh --trained             (out bench/results/lou-fig4/trained; ~18 min on 2 loaded cores)
#   python3 bench/lou-fig4-report.py --trained bench/results/lou-fig4/trained
#
# Writes $OUT/runs/<arch>-s<seed>.json (+ .csv, .svg) and, through the report,
# $OUT/alignments.csv and $OUT/fig4.svg (A_l / max_l A_l against the relative depth l/L).
# --trained writes $OUT/runs/{train,align,align-init}-<arch>-s<seed>[-b<B>-lr<η>].json (the
# training loss curve thinned to every 10th step; models stay in $SCRATCH) and, through the
# report, $OUT/{alignments.csv,runs.csv,fig4.svg}. Runs already present are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
case "$#:${1:-}" in
  0:) MODE=init ;;
  1:--trained) MODE=trained ;;
  *) echo "usage: bench/lou-fig4.sh [--trained]" >&2; exit 1 ;;
esac
SUBSET=${SUBSET:-400}
SEEDS=${SEEDS:-"1 2 3"}
WIDTH=${WIDTH:-100}
if [ "$MODE" = trained ]; then out=${OUT:-bench/results/lou-fig4/trained}; else out=${OUT:-bench/results/lou-fig4}; fi
wisp=${WISP:-.build/release/wisp}
if [ ! -x "$wisp" ]; then swift build -c release --product wisp >&2; wisp=.build/release/wisp; fi
data=${FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
[ -f "$data/train-images-idx3-ubyte.gz" ] || {
  echo "error: $data/train-images-idx3-ubyte.gz not found (apt-get install dataset-fashion-mnist, or set FASHION_MNIST)" >&2; exit 1; }
mkdir -p "$out/runs" "$out/arch"
python3 - "$out/arch" "$WIDTH" <<'PY'
import json, sys
d, W = sys.argv[1], int(sys.argv[2])
relu = {"kind": "ReLU"}
def conv(i, o, k=3, s=1, p=1, bias=True):
    return {"kind": "Conv2d", "in_channels": i, "out_channels": o, "kernel_size": k, "stride": s, "padding": p, "bias": bias}
def block(i, o, s):
    b = {"kind": "residual", "body": [conv(i, o, 3, s, 1), relu, conv(o, o, 3, 1, 1)]}
    if i != o or s != 1:
        b["projection"] = conv(i, o, 1, s, 0, False)
    return b
ffnn, width = [{"kind": "Flatten"}], 196
for _ in range(9):
    ffnn += [{"kind": "Linear", "in_features": width, "out_features": W, "bias": False}, relu]
    width = W
ffnn.append({"kind": "Linear", "in_features": width, "out_features": 10, "bias": False})
resnet = [conv(1, 8), relu, block(8, 8, 1), relu, block(8, 8, 1), relu, block(8, 16, 2), relu, block(16, 16, 1), relu,
          {"kind": "AvgPool2d", "kernel_size": 7}, {"kind": "Flatten"}, {"kind": "Linear", "in_features": 16, "out_features": 10}]
vgg = [conv(1, 8), relu, conv(8, 8), relu, {"kind": "MaxPool2d", "kernel_size": 2},
       conv(8, 16), relu, conv(16, 16), relu, {"kind": "MaxPool2d", "kernel_size": 2},
       conv(16, 32), relu, conv(32, 32), relu, {"kind": "Flatten"},
       {"kind": "Linear", "in_features": 288, "out_features": 64}, relu, {"kind": "Linear", "in_features": 64, "out_features": 64}, relu,
       {"kind": "Linear", "in_features": 64, "out_features": 10}]
for name, layers in [("ffnn", ffnn), ("resnet", resnet), ("vgg", vgg)]:
    json.dump({"input": [1, 14, 14], "layers": layers}, open(f"{d}/{name}.json", "w"), indent=1)
PY
if [ "$MODE" = init ]; then
  dataset=(--inputs "$data/train-images-idx3-ubyte.gz" --labels "$data/train-labels-idx1-ubyte.gz" --pool 2 --scale-pixels --samples "$SUBSET")
  for arch in ffnn resnet vgg; do
    for seed in $SEEDS; do
      run="$out/runs/$arch-s$seed.json"
      [ -f "$run" ] && continue
      echo "align $arch seed $seed (T = $SUBSET)" >&2
      "$wisp" align --quiet --architecture "$out/arch/$arch.json" "${dataset[@]}" --seed "$seed" --output "$run" >/dev/null
    done
  done
  python3 bench/lou-fig4-report.py "$out"
  exit 0
fi

# --trained: the grid of batch sizes × learning rates per network and seed.
SAMPLES=${SAMPLES:-256}
VALIDATION=${VALIDATION:-500}
BATCHES=${BATCHES:-"16 64 256"}
LRS=${LRS:-"0.003 0.01 0.03"}
MOMENTUM=${MOMENTUM:-0.9}
TARGET=${TARGET:-0.1}
EVERY_EPOCHS=${EVERY_EPOCHS:-4}
JOBS=${JOBS:-2}
scratch=${SCRATCH:-$(mktemp -d)}
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
trainset=(--inputs "$data/train-images-idx3-ubyte.gz" --labels "$data/train-labels-idx1-ubyte.gz" --pool 2 --scale-pixels --samples "$SAMPLES")
held=(--validation-inputs "$data/t10k-images-idx3-ubyte.gz" --validation-labels "$data/t10k-labels-idx1-ubyte.gz" --validation-samples "$VALIDATION")
epochs_of() { case "$1" in ffnn) echo "${FFNN_EPOCHS:-100}" ;; vgg) echo "${VGG_EPOCHS:-60}" ;; resnet) echo "${RESNET_EPOCHS:-40}" ;; esac; }
seeds_of() { case "$1" in ffnn) echo "${FFNN_SEEDS-1 2}" ;; vgg) echo "${VGG_SEEDS-1 2}" ;; resnet) echo "${RESNET_SEEDS-1}" ;; esac; }
first_batch=${BATCHES%% *}
first_lr=${LRS%% *}
# One training and its alignments: run_one ARCH SEED B LR.
run_one() {
  local arch=$1 seed=$2 B=$3 lr=$4 tag steps every epochs t0 t1 model
  tag="$arch-s$seed-b$B-lr$lr"
  [ -s "$out/runs/align-$tag.json" ] || [ -s "$out/runs/diverged-$tag.txt" ] && return 0
  epochs=$(epochs_of "$arch")
  steps=$(( (epochs * SAMPLES + B - 1) / B ))
  every=$(( (EVERY_EPOCHS * SAMPLES + B - 1) / B ))
  t0=$(date +%s)
  rm -rf "${scratch:?}/$tag"
  if ! "$wisp" train --quiet --architecture "$out/arch/$arch.json" "${trainset[@]}" "${held[@]}" --loss cross-entropy \
      --optimizer momentum --momentum "$MOMENTUM" --batch-size "$B" --lr "$lr" --steps "$steps" --every "$every" \
      --target-loss "$TARGET" --seed "$seed" --measure none --output-dir "$scratch/$tag" --output "$scratch/$tag/train.json" \
      >/dev/null 2>"$scratch/$tag.err"; then
    if grep -q "diverged" "$scratch/$tag.err"; then
      grep "wisp: error" "$scratch/$tag.err" | tail -1 > "$out/runs/diverged-$tag.txt"
      echo "$tag: diverged ($(cat "$out/runs/diverged-$tag.txt"))" >&2; rm -rf "${scratch:?}/$tag"; return 0
    fi
    echo "$tag: training failed:" >&2; tail -3 "$scratch/$tag.err" >&2; return 1
  fi
  # Keep the committed record small: the minibatch loss of every 10th step.
  python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); r["loss_curve"] = r["loss_curve"][::10]
r["loss_curve_thinned"] = "every 10th step"; json.dump(r, open(sys.argv[2], "w"), indent=1)' "$scratch/$tag/train.json" "$out/runs/train-$tag.json"
  model=$(ls "$scratch/$tag/models/"step-*.safetensors | sort | tail -1)
  t1=$(date +%s)
  "$wisp" align --quiet "${trainset[@]}" --loss cross-entropy --model "$model" --seed "$seed" --output "$scratch/$tag/align.json" >/dev/null
  mv "$scratch/$tag/align.json" "$out/runs/align-$tag.json"
  if [ "$B" = "$first_batch" ] && [ "$lr" = "$first_lr" ] && [ ! -s "$out/runs/align-init-$arch-s$seed.json" ]; then
    "$wisp" align --quiet "${trainset[@]}" --loss cross-entropy --model "$scratch/$tag/models/step-000000000.safetensors" --seed "$seed" \
      --output "$scratch/$tag/init.json" >/dev/null
    mv "$scratch/$tag/init.json" "$out/runs/align-init-$arch-s$seed.json"
  fi
  rm -rf "${scratch:?}/$tag" "$scratch/$tag.err"
  echo "$tag: train $((t1 - t0)) s, align $(( $(date +%s) - t1 )) s" >&2
}
mkdir -p "$out/runs"
start=$(date +%s)
pids=()
failed=0
# The expensive networks first, so the cheap FFNN runs fill the end.
for arch in resnet vgg ffnn; do
  for seed in $(seeds_of "$arch"); do
    for B in $BATCHES; do
      for lr in $LRS; do
        while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || failed=1; done
        run_one "$arch" "$seed" "$B" "$lr" &
      done
    done
  done
done
while [ "$(jobs -rp | wc -l)" -gt 0 ]; do wait -n || failed=1; done
echo "sweep: $(( $(date +%s) - start )) s wall" >&2
[ "$failed" = 0 ] || { echo "error: some runs failed (see above)" >&2; exit 1; }
python3 bench/lou-fig4-report.py --trained "$out"
