#!/usr/bin/env bash
# Lou, Mingard, Nam & Hayou, Fig. 4 (the layerwise alignment hierarchy on an FFNN, a ResNet and a
# VGG-style CNN), at initialization only for now: A_l = Ỹᵀ K_l Ỹ / (‖C K_l C‖_F ‖Ỹ‖²) (their
# eq. 6–7) of every layer with parameters, by `wisp align --architecture`, on the first SUBSET
# (400) images of Fashion-MNIST's training split (dataset-fashion-mnist, or $FASHION_MNIST),
# average-pooled 2×2 to 14×14 and scaled to [0, 1], with their one-hot labels (C = 10). Training
# comes once `wisp train --architecture` exists (another branch); then the same alignments after
# training (stopping at train loss 0.1, as the paper) are what Fig. 4 shows.
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
# Each layer's K_l is formed exactly (TC = 10·SUBSET ≤ 4096). SEEDS (1 2 3) are independent
# initializations.
#
#   bench/lou-fig4.sh                       (SUBSET=400 SEEDS="1 2 3", out bench/results/lou-fig4)
#   python3 bench/lou-fig4-report.py bench/results/lou-fig4
#
# Writes $OUT/runs/<arch>-s<seed>.json (+ .csv, .svg) and, through the report,
# $OUT/alignments.csv and $OUT/fig4.svg (A_l / max_l A_l against the relative depth l/L).
# Runs already present are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
SUBSET=${SUBSET:-400}
SEEDS=${SEEDS:-"1 2 3"}
WIDTH=${WIDTH:-100}
out=${OUT:-bench/results/lou-fig4}
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
