#!/usr/bin/env bash
# Plain SGD, momentum and Adam on a deep MLP (L = 40 by default), on Fashion-MNIST, for the same
# budget: the same network (seed), samples, minibatches (seed), number of steps and checkpoints;
# only the update rule and its learning rate differ. Prints the training and validation loss
# (and accuracy) at every checkpoint side by side.
#
# Why: plain SGD did not train L = 40 in bench/lou-fig3.sh (the loss stayed near log 10), so
# the depth sweep of Lou et al. Fig. 3 stopped at L = 30; the paper trains with momentum 0.9.
#
# Budget (defaults): L = 40, width 128, ReLU with He initialization (σ_w² = 2, no biases: Lou
# et al.'s eq. 8) or ACTIVATION=tanh (σ_w² = 1); T = 4000 training images of
# train-images-idx3-ubyte.gz pooled 2×2 to 14×14 (d = 196) and scaled to [0, 1]; validation:
# the first 2000 images of t10k-images-idx3-ubyte.gz; cross-entropy; batch 100; 600 steps
# (15 epochs); a checkpoint every 100 steps. Learning rates: SGD 0.03 (the lou-fig3 choice for
# L > 20), momentum 0.9 with η = 0.003 (the same effective step η/(1−μ) = 0.03), Adam η = 1e-4
# (β's and ε PyTorch's defaults). Set LR_SGD, LR_MOMENTUM, LR_ADAM to change them.
#
#   bench/optimizers-depth.sh                         (about 8 min on a shared 2-core machine, release build)
#   DEPTH=20 STEPS=300 ACTIVATION=tanh bench/optimizers-depth.sh
#
# Needs the Debian package dataset-fashion-mnist (.ci/install-deps). Writes
# bench/results/optimizers-depth/{sgd,momentum,adam}/train.json and summary.csv.
set -euo pipefail
cd "$(dirname "$0")/.."
DEPTH=${DEPTH:-40}
WIDTH=${WIDTH:-128}
ACTIVATION=${ACTIVATION:-relu}
SAMPLES=${SAMPLES:-4000}
VALIDATION=${VALIDATION:-2000}
STEPS=${STEPS:-600}
EVERY=${EVERY:-100}
BATCH=${BATCH:-100}
SEED=${SEED:-1}
LR_SGD=${LR_SGD:-0.03}
LR_MOMENTUM=${LR_MOMENTUM:-0.003}
LR_ADAM=${LR_ADAM:-1e-4}
data=${FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
out=${OUT:-bench/results/optimizers-depth}
wisp=${WISP:-.build/release/wisp}
if [ ! -x "$wisp" ]; then swift build -c release --product wisp >&2; wisp=.build/release/wisp; fi
[ -f "$data/train-images-idx3-ubyte.gz" ] || {
  echo "error: $data/train-images-idx3-ubyte.gz not found (apt-get install dataset-fashion-mnist, or set FASHION_MNIST)" >&2; exit 1; }
case "$ACTIVATION" in
  relu) network=(--activation relu --sigma-w2 2 --no-bias) ;;
  tanh) network=(--activation tanh --sigma-w2 1 --no-bias) ;;
  *) echo "error: ACTIVATION must be relu or tanh" >&2; exit 1 ;;
esac
mkdir -p "$out"
common=(--quiet --depth "$DEPTH" --width "$WIDTH" "${network[@]}" --seed "$SEED"
        --inputs "$data/train-images-idx3-ubyte.gz" --labels "$data/train-labels-idx1-ubyte.gz" --samples "$SAMPLES"
        --validation-inputs "$data/t10k-images-idx3-ubyte.gz" --validation-labels "$data/t10k-labels-idx1-ubyte.gz"
        --validation-samples "$VALIDATION" --pool 2 --scale-pixels --loss cross-entropy
        --batch-size "$BATCH" --steps "$STEPS" --every "$EVERY" --measure none --no-save-models)
for rule in sgd momentum adam; do
  case "$rule" in
    sgd) flags=(--optimizer sgd --lr "$LR_SGD") ;;
    momentum) flags=(--optimizer momentum --momentum 0.9 --lr "$LR_MOMENTUM") ;;
    adam) flags=(--optimizer adam --lr "$LR_ADAM") ;;
  esac
  start=$SECONDS
  if ! "$wisp" train "${common[@]}" "${flags[@]}" --output-dir "$out/$rule" > "$out/$rule.log" 2>&1; then
    echo "note: $rule stopped: $(tail -1 "$out/$rule.log")" >&2
  fi
  echo "$rule: $((SECONDS - start)) s" >&2
done

python3 - "$out" "$DEPTH" "$WIDTH" "$ACTIVATION" "$SAMPLES" "$VALIDATION" "$STEPS" "$BATCH" "$LR_SGD" "$LR_MOMENTUM" "$LR_ADAM" <<'PY'
import json, os, sys
out, depth, width, act, T, V, steps, batch, lr_sgd, lr_mom, lr_adam = sys.argv[1:]
rules = ["sgd", "momentum", "adam"]
series = {}
for r in rules:
    path = os.path.join(out, r, "train.json")
    series[r] = {c["step"]: c for c in json.load(open(path))["series"]} if os.path.exists(path) else {}
print(f"L = {depth}, width {width}, {act}, Fashion-MNIST T = {T} (validation {V}), batch {batch}, {steps} steps;"
      f" η: sgd {lr_sgd}, momentum 0.9 with {lr_mom}, adam {lr_adam}")
head = "step" + "".join(f" | {r:>8} loss  val loss  val acc" for r in rules)
print(head)
print("-" * len(head))
rows = ["step," + ",".join(f"{r}_loss,{r}_validation_loss,{r}_validation_accuracy" for r in rules)]
for s in sorted(set().union(*[set(v) for v in series.values()])):
    cells, csv = [], [str(s)]
    for r in rules:
        c = series[r].get(s)
        if c is None:
            cells.append(f" | {'—':>13} {'—':>9} {'—':>8}"); csv += ["", "", ""]
        else:
            cells.append(f" | {c['loss']:13.4f} {c['validation_loss']:9.4f} {c['validation_accuracy']:8.4f}")
            csv += [repr(c["loss"]), repr(c["validation_loss"]), repr(c["validation_accuracy"])]
    print(f"{s:4d}" + "".join(cells))
    rows.append(",".join(csv))
open(os.path.join(out, "summary.csv"), "w").write("\n".join(rows) + "\n")
PY
