#!/usr/bin/env bash
# Cowlagi & Chaudhari, Fig. 3: the InPCA embedding (Quinn et al. 2019) of the predictions of a
# trained network and of its reductions on the top 1 % and 5 % eigenvectors of its FIM, each point
# a sample coloured by its label. Substitutions: the digits (T = 400 of 1797, 8 × 8, C = 10) for
# CIFAR-10, and the MLP of bench/cowlagi-fig2.sh (L = 3, M = 24, ReLU, P = 2410) trained by
# full-batch gradient descent for the paper's CNN; both reduction variants are shown (the paper's
# projection of w, and of the change w − w₀).
#
#   bench/cowlagi-fig3.sh            (about 2 minutes on 2 shared cores)
#
# Writes bench/results/cowlagi-fig3/{fig3.json,fig3.inpca.csv,fig3.inpca.svg,summary.txt}; the trained
# models go to a scratch directory (WORK, default /tmp/wisp-cowlagi-fig3) and are not committed.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-bench/results/cowlagi-fig3}
work=${WORK:-/tmp/wisp-cowlagi-fig3}
mkdir -p "$out" "$work"
swift build -c release --product wisp ${SCRATCH:+--scratch-path "$SCRATCH"} >&2
wisp=${SCRATCH:-.build}/release/wisp
data=${WISP_DATA:-Tests/Data}
start=$(date +%s)
digits=(--inputs $data/digits/digits-images.idx3-ubyte --labels $data/digits/digits-labels.idx1-ubyte --scale-pixels --samples 400)
net=(--depth 3 --width 24 --seed 1 --loss cross-entropy)
steps=${STEPS:-1000}
# Reuses a finished training run in $WORK (delete it to retrain).
[ -s "$work/train/train.json" ] || "$wisp" train "${digits[@]}" "${net[@]}" --steps "$steps" --every "$steps" --lr 0.5 \
  --measure none --output-dir "$work/train" --quiet >/dev/null
models=($(ls "$work"/train/models/step-*.safetensors))
first=${models[0]} last=${models[$(( ${#models[@]} - 1 ))]}
"$wisp" reduce "${digits[@]}" --loss cross-entropy --model "$last" --init "$first" --keep 5% --sweep 1% --inpca \
  --output "$out/fig3.json" --quiet
echo "total $(( $(date +%s) - start )) s" >&2
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
r = json.load(open(f"{out}/fig3.json"))
e = r["inpca"]
acc = {("full", None): r["full"]["accuracy"]}
for m in r["sweep"] + r["reduced"]:
    acc[(m["variant"], m["k"])] = m["accuracy"]
lines = [f"Cowlagi & Chaudhari Fig. 3 on the digits: P = {r['parameters']}, T = {e['samples']}, {len(e['models'])} models, "
         f"{e['points']} points; {r['timings']['total_seconds']:.1f} s in total",
         f"InPCA eigenvalues (|λ| order, signed): " + ", ".join(f"{l:.4g} ({100*f:.1f} %)" for l, f in zip(e["eigenvalues"][:6], e["explained_fractions"][:6])),
         f"negative share of Σ|λ|: {e['negative_fraction']:.3f}",
         "model                 accuracy   mean Bhattacharyya distance per sample from the full model"]
for m, d in zip(e["models"], e["model_level"]["distance_from_full"]):
    a = acc.get((m.get("variant") or "full", m.get("k")))
    lines.append(f"{m['name']:20s}  {a:8.4f}   {d:.4g}")
open(f"{out}/summary.txt", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
