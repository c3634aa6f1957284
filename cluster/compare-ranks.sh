#!/usr/bin/env bash
# Runs the same Wisp jobs on 1, 2, 3 and 4 MPI ranks (oversubscribed: this works on a 2-core
# machine) and checks that every reported number agrees with the 1-rank run to 1e-12 relative.
#
#   cluster/compare-ranks.sh [path/to/wisp]      (default: .build/release/wisp, built if missing)
#   WISP_MPIRUN=mpiexec.mpich cluster/compare-ranks.sh .build-mpich/release/wisp   # the MPICH build (WISP_MPI=mpich)
#   WISP_COMPARE_JOBS='layers-ggn.*|layers-reduce' cluster/compare-ranks.sh .build/debug/wisp   # only the jobs whose names match
#
# Covers: top in parameter space (replicated vectors) and sample space (sharded vectors; the lean
# K·u with forward-Gram layers, gathered signals, and gradient-block layers, allreduced, in both precisions),
# the SLQ and KPM densities, exact and Hutchinson moments, inputs read per rank from a .npy file, a model
# from a .safetensors file (also one whose layers differ in having a bias), ranks with zero samples (T < ranks) and uneven blocks, and the
# layer networks from an --architecture description (top in both spaces, SLQ, KPM, moments, float32, the layerwise alignment exact and
# Hutchinson (with BatchNorm); G, H and S of a loss with
# labels or teacher targets, with BatchNorm too; on the .npy inputs reshaped
# to images with weights from a --save-model file loaded by --model alone; on the digits; and the exact
# sample-space path: K's rows formed per rank from the layer factors, top and the full spectrum), the
# normalization layers whose batch statistics are sums over every rank's samples, and the real
# datasets of Tests/Data (copies of ../shared/data; or $WISP_DATA): IDX digits with one-hot labels, pooled, scaled and
# standardized (statistics summed over the ranks), the diabetes CSV with its target column, and
# data-spectrum (dense: allreduce of XᵀX; Lanczos: the distributed operator), the layerwise
# alignment (exact and Hutchinson), eigenvectors mapped from sample space, model reduction (and the InPCA of its predictions,
# gathered from the ranks' samples), the loss Hessian
# and its residual part, KPM, and training (GD and SGD, momentum, Adam with a validation set, and SGD with the layerwise alignments at checkpoints;
# on layer networks: SGD with BatchNorm, whose minibatch statistics are summed over the ranks, and Adam with a validation set).
# The mean-subtraction density is compared on a linear grid: mean subtraction gives K an exact
# null vector, whose Gauss node after a few steps is a small positive number known only to
# absolute accuracy ε‖K‖; a log axis turns that into ~1e-8 relative changes of the density
# next to it (an ill-conditioned quantity, not a difference between rank counts).
# density-fisher-past-rank runs Lanczos up to the rank TC of F: the nodes past it have
# rounding-level weights and rank-dependent positions, and must not move the grid. So the
# recorded measure itself (every probe's nodes and weights) is not compared for that job: how
# the null-space mass splits among its rounding-level nodes depends on the rounding; the
# density, zero mass and moments made from it are compared.
set -euo pipefail
cd "$(dirname "$0")/.."
wisp=${1:-.build/release/wisp}
if [ ! -x "$wisp" ]; then swift build -c release --product wisp >&2; wisp=.build/release/wisp; fi
wisp=$(cd "$(dirname "$wisp")" && pwd)/$(basename "$wisp")
# The launcher of the MPI the binary was built against: OpenMPI's mpirun (oversubscribed) or
# MPICH's Hydra mpiexec (which oversubscribes by itself).
launcher=${WISP_MPIRUN:-mpirun}
command -v "$launcher" >/dev/null || { echo "error: $launcher not found (install openmpi-bin or mpich: bash .ci/install-deps)" >&2; exit 1; }
if "$launcher" --version 2>&1 | grep -qi hydra; then launch=("$launcher" -n); else launch=("$launcher" --oversubscribe -np); fi
command -v python3 >/dev/null || { echo "error: python3 is needed to compare the JSON outputs" >&2; exit 1; }
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
export OPENBLAS_NUM_THREADS=1 OMPI_MCA_rmaps_base_oversubscribe=1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Inputs as a .npy file (written with the standard library: header, then little-endian f8).
python3 - "$work/inputs.npy" <<'PY'
import math, struct, sys
T, d = 29, 12
header = "{'descr': '<f8', 'fortran_order': False, 'shape': (%d, %d), }" % (T, d)
header += " " * (64 - (10 + len(header) + 1) % 64) + "\n"
values = [math.sin(1.3 * i + 0.7) * (1 + (i % 5)) for i in range(T * d)]
with open(sys.argv[1], "wb") as f:
    f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + struct.pack("<%dd" % (T * d), *values))
PY
# A small CNN given as layers (--architecture): conv, pooling, a residual block with a strided
# 1×1 projection, flatten, dense.
cat > "$work/cnn.json" <<'JSON'
{"input": [2, 8, 8],
 "layers": [{"kind": "Conv2d", "in_channels": 2, "out_channels": 3, "kernel_size": 3, "padding": 1}, {"kind": "ReLU"},
            {"kind": "MaxPool2d", "kernel_size": 2},
            {"kind": "residual", "body": [{"kind": "conv2d", "out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1}, {"kind": "tanh"}],
             "projection": {"kind": "conv2d", "out_channels": 4, "kernel_size": 1, "stride": 2, "bias": false}},
            {"kind": "avgpool2d", "kernel_size": 2}, {"kind": "Flatten"}, {"kind": "Linear", "in_features": 4, "out_features": 2}]}
JSON
# A layer network for 12 inputs as [3, 2, 2] images (the .npy rows reshaped), saved with its
# description in the metadata (--save-model) and loaded back with --model alone; and one for
# the 8 × 8 digits as [1, 8, 8].
cat > "$work/cnn12.json" <<'JSON'
{"input": [3, 2, 2],
 "layers": [{"kind": "Conv2d", "in_channels": 3, "out_channels": 4, "kernel_size": 2}, {"kind": "Tanh"}, {"kind": "Flatten"},
            {"kind": "Linear", "in_features": 4, "out_features": 2}]}
JSON
cat > "$work/digits-cnn.json" <<'JSON'
{"input": [1, 8, 8],
 "layers": [{"kind": "Conv2d", "in_channels": 1, "out_channels": 3, "kernel_size": 3, "padding": 1}, {"kind": "ReLU"},
            {"kind": "MaxPool2d", "kernel_size": 2}, {"kind": "Flatten"}, {"kind": "Linear", "in_features": 48, "out_features": 3}]}
JSON
# Labels of the CNN's 2 classes for its loss matrices, and a CNN with BatchNorm (batch statistics
# summed over ranks) for them with teacher targets.
printf '%s\n' 0 1 1 0 1 0 0 1 1 1 0 0 1 > "$work/cnn-labels.csv"
# Labels of the 29 .npy rows for training cnn12.json (layers-train-validation).
for i in $(seq 0 28); do echo $(( (i * 7 + 3) % 5 % 2 )); done > "$work/npy-labels.csv"
cat > "$work/cnn-bn.json" <<'JSON'
{"input": [2, 8, 8],
 "layers": [{"kind": "Conv2d", "in_channels": 2, "out_channels": 3, "kernel_size": 3, "stride": 2, "padding": 1}, {"kind": "BatchNorm2d", "num_features": 3},
            {"kind": "ReLU"}, {"kind": "Flatten"}, {"kind": "Linear", "in_features": 48, "out_features": 2}]}
JSON
# LayerNorm (per sample: in the exact path's factor walk) after a conv and before the head.
cat > "$work/cnn-ln.json" <<'JSON'
{"input": [2, 8, 8],
 "layers": [{"kind": "Conv2d", "in_channels": 2, "out_channels": 3, "kernel_size": 3, "stride": 2, "padding": 1}, {"kind": "LayerNorm", "normalized_shape": [3, 4, 4]},
            {"kind": "ReLU"}, {"kind": "Flatten"}, {"kind": "Linear", "in_features": 48, "out_features": 2}]}
JSON
# A PyTorch-style state dict (no metadata) whose middle layer has no bias (Linear(bias=False)).
python3 - "$work/mixed-bias.safetensors" <<'PY'
import json, math, struct, sys
widths, bias = [12, 10, 7, 2], [True, False, True]
tensors, data = {}, b""
for l in range(1, len(widths)):
    fan_in, fan_out = widths[l - 1], widths[l]
    for kind, shape in [("weight", [fan_out, fan_in])] + ([("bias", [fan_out])] if bias[l - 1] else []):
        n = shape[0] * (shape[1] if len(shape) > 1 else 1)
        values = [math.sin(0.37 * (i + 7 * l)) / math.sqrt(fan_in) for i in range(n)]
        tensors[f"{2 * (l - 1)}.{kind}"] = {"dtype": "F64", "shape": shape, "data_offsets": [len(data), len(data) + 8 * n]}
        data += struct.pack("<%dd" % n, *values)
header = json.dumps(tensors).encode()
header += b" " * (-len(header) % 8)
open(sys.argv[1], "wb").write(struct.pack("<Q", len(header)) + header + data)
PY
"$wisp" top --quiet --width 20 --input-dim 12 --outputs 3 --activation tanh --sigma-b2 0.1 --samples 29 \
  --save-model "$work/model.safetensors" >/dev/null
"$wisp" top --quiet --architecture "$work/cnn12.json" --samples 5 --seed 3 --k 1 --save-model "$work/layers.safetensors" >/dev/null
"$wisp" theory --quiet --width 20 --input-dim 12 --outputs 3 --activation tanh --sigma-b2 0.1 --seed 7 \
  --save-model "$work/model-init.safetensors" >/dev/null

# The release build against an independent computation: the infinite-width NTK prediction
# (depth 2, softplus, β = 0.1) of tr(I)/P for the inputs above, with its Gaussian expectations
# by the trapezoidal rule in Python. (A copy-on-write miscompile in the release build once
# made this formula wrong while the debug-built tests passed.)
"$wisp" train --quiet --inputs "$work/inputs.npy" --depth 2 --width 8 --beta 0.1 --activation softplus \
  --steps 0 --measure ntk-limit --no-save-models --output-dir "$work/ntk-limit" >/dev/null
python3 - "$work/inputs.npy" "$work/ntk-limit/train.json" <<'PY'
import json, math, struct, sys
raw = open(sys.argv[1], "rb").read()
n = struct.unpack("<H", raw[8:10])[0]
T, d = 29, 12
x = struct.unpack("<%dd" % (T * d), raw[10 + n:])
record = json.load(open(sys.argv[2]))
def expect(f, v, N=4000, L=12.0):
    h = 2 * L / N
    return h * sum((0.5 if i in (0, N) else 1) * math.exp(-z * z / 2) / math.sqrt(2 * math.pi) * f(math.sqrt(v) * z)
                   for i in range(N + 1) for z in [-L + i * h])
sp = lambda u: max(u, 0) + math.log1p(math.exp(-abs(u)))
sg = lambda u: 1 / (1 + math.exp(-u))
trace = 0.0
for t in range(T):
    s1 = sum(v * v for v in x[t * d:(t + 1) * d]) / d + 0.01
    trace += s1 * expect(lambda u: sg(u) ** 2, s1) + expect(lambda u: sp(u) ** 2, s1) + 0.01
predicted = trace / T / record["parameters"]
got = record["ntk_limit"]["moments"][0]
print(f"release ntk-limit check: tr(I)/P {got:.12e} vs independent {predicted:.12e}")
# Gauss–Hermite of order 48 on variances up to ~8 here: ~1e-7 relative; 1e-5 still catches any formula error.
sys.exit(0 if abs(got - predicted) <= 1e-5 * abs(predicted) else 1)
PY

jobs=(
  "top-fisher|1e-12|top --quiet --width 32 --samples 23 --outputs 2 --k 4 --matrix fisher --activation tanh --sigma-b2 0.2 --method lanczos"
  "top-ntk|1e-12|top --quiet --width 32 --samples 23 --outputs 2 --k 4 --matrix ntk --activation erf --parametrization ntk --sigma-b2 0.2 --method lanczos"
  "density|1e-12|density --quiet --width 32 --samples 23 --outputs 2 --probes 5 --steps 16 --method slq"
  "density-fisher|1e-12|density --quiet --width 16 --samples 11 --probes 3 --steps 12 --matrix fisher --method slq"
  "density-fisher-past-rank|1e-12|density --quiet --width 64 --samples 32 --outputs 2 --probes 3 --steps 64 --matrix fisher --method slq"
  "density-kpm|1e-12|density --quiet --width 32 --samples 23 --outputs 2 --probes 4 --method kpm --moments 48 --deflate 1"
  "density-kpm-fisher|1e-12|density --quiet --width 16 --samples 11 --probes 3 --method kpm --moments 32 --matrix fisher --grid linear"
  "moments-exact|1e-12|moments --quiet --width 32 --samples 23 --outputs 2"
  "moments-hutchinson|1e-12|moments --quiet --width 32 --samples 23 --outputs 2 --exact-limit 0 --probes 6"
  "files|1e-12|top --quiet --inputs $work/inputs.npy --model $work/model.safetensors --activation tanh --sigma-b2 0.1 --k 3 --matrix ntk --method lanczos"
  "mixed-bias|1e-12|top --quiet --inputs $work/inputs.npy --model $work/mixed-bias.safetensors --activation tanh --k 3 --matrix fisher --method lanczos"
  "mixed-bias-moments|1e-12|moments --quiet --inputs $work/inputs.npy --model $work/mixed-bias.safetensors --activation erf --exact-limit 0 --probes 4"
  "tiny|1e-12|moments --quiet --width 16 --samples 3 --outputs 2"
  "middle-bn|1e-12|top --quiet --width 24 --samples 13 --outputs 2 --k 3 --matrix ntk --normalization middle-batchnorm --activation tanh --method lanczos"
  "last-bn|1e-12|moments --quiet --width 24 --samples 13 --outputs 2 --normalization last-batchnorm"
  "last-mean|1e-12|density --quiet --width 24 --samples 13 --probes 3 --steps 10 --normalization last-mean --grid linear --method slq"
  "layernorm|1e-12|top --quiet --width 24 --samples 13 --outputs 3 --k 2 --normalization layernorm --activation erf --method lanczos"
  "float32|1e-5|top --quiet --width 32 --samples 23 --k 2 --precision float32 --method lanczos"
  "lean-mixed|1e-12|top --quiet --width 40 --input-dim 8 --samples 23 --outputs 2 --k 3 --matrix ntk --activation tanh --sigma-b2 0.2 --method lanczos"
  "lean-float32|1e-5|top --quiet --width 40 --input-dim 8 --samples 23 --k 2 --matrix ntk --precision float32 --method lanczos --tol 1e-3"
  "lean-bn|1e-12|density --quiet --width 24 --input-dim 6 --samples 13 --outputs 2 --probes 3 --steps 10 --normalization middle-batchnorm --grid linear --method slq"
  "hessian|1e-12|top --quiet --width 24 --samples 13 --outputs 3 --k 3 --matrix hessian --which largest-magnitude --activation softplus --loss cross-entropy"
  "train-gd|1e-12|train --quiet --width 16 --samples 13 --outputs 2 --activation softplus --steps 20 --every 10 --lr 0.05 --measure moments,top --top 2 --probes 3 --slq-steps 8 --output-dir $work/train-files --no-save-models"
  "train-sgd|1e-12|train --quiet --width 16 --samples 13 --outputs 3 --loss cross-entropy --steps 12 --every 6 --lr 0.3 --batch-size 4 --measure none --output-dir $work/train-files --no-save-models"
  "moments-hessian|1e-12|moments --quiet --width 16 --samples 11 --outputs 3 --matrix hessian --loss cross-entropy --activation tanh --probes 5"
  "moments-ggn|1e-12|moments --quiet --width 16 --samples 11 --outputs 3 --matrix ggn --loss bce --activation erf"
  "train-momentum|1e-12|train --quiet --width 16 --samples 13 --outputs 3 --loss cross-entropy --activation tanh --steps 12 --every 6 --lr 0.1 --batch-size 4 --optimizer momentum --momentum 0.8 --nesterov --weight-decay 0.01 --measure moments --probes 3 --slq-steps 8 --output-dir $work/train-files --no-save-models"
  "train-align|1e-12|train --quiet --width 16 --samples 13 --outputs 2 --activation relu --sigma-w2 2 --no-bias --steps 6 --every 3 --lr 0.3 --batch-size 4 --measure align --output-dir $work/train-files --no-save-models"
  "residual|1e-12|density --quiet --width 16 --samples 11 --probes 3 --steps 12 --matrix residual --grid linear --activation tanh --sigma-b2 0.1"
  "align|1e-12|align --quiet --width 32 --samples 23 --outputs 2 --activation tanh --sigma-b2 0.2"
  "align-hutchinson|1e-12|align --quiet --width 32 --samples 23 --outputs 2 --exact-limit 0 --probes 6"
  "align-tiny|1e-12|align --quiet --width 16 --samples 3 --outputs 2 --probes 4"
  "reduce|1e-12|reduce --quiet --model $work/model.safetensors --init $work/model-init.safetensors --activation tanh --sigma-b2 0.1 --samples 29 --loss cross-entropy --keep 5 --sweep 1,5,20 --save-reduced $work/reduced.safetensors"
  "reduce-inpca|1e-12|reduce --quiet --model $work/model.safetensors --init $work/model-init.safetensors --activation tanh --sigma-b2 0.1 --samples 29 --loss cross-entropy --keep 5 --sweep 20 --inpca --inpca-samples 23"
  "top-exact|1e-12|top --quiet --width 32 --samples 23 --outputs 2 --k 4 --method exact --activation tanh --sigma-b2 0.2"
  "top-exact-ggn|1e-12|top --quiet --width 16 --samples 11 --outputs 3 --k 3 --matrix ggn --loss cross-entropy --method exact --activation softplus"
  "density-exact|1e-12|density --quiet --width 32 --samples 23 --outputs 2 --method exact"
  "density-exact-bn|1e-12|density --quiet --width 24 --samples 13 --outputs 2 --normalization middle-batchnorm --method exact --grid linear"
  "eigenvectors-exact|1e-12|top --quiet --width 32 --samples 23 --outputs 2 --k 3 --matrix fisher --method exact --activation tanh --save-eigenvectors $work/ev-exact.safetensors"
  "top-exact-scalapack|1e-10|top --quiet --width 32 --samples 23 --outputs 3 --k 4 --method exact --eigensolver scalapack --activation tanh"
  "density-compare|1e-12|density --quiet --width 32 --samples 23 --outputs 2 --method slq --probes 4 --steps 12 --compare-exact"
  "eigenvectors|1e-12|top --quiet --width 32 --samples 23 --outputs 2 --k 3 --matrix ntk --activation tanh --save-eigenvectors $work/ev.safetensors --method lanczos"
  "layers-top|1e-12|top --quiet --architecture $work/cnn.json --samples 13 --k 3 --method lanczos"
  "layers-top-ntk|1e-12|top --quiet --architecture $work/cnn.json --samples 13 --k 3 --matrix ntk --seed 5 --method lanczos"
  "layers-density|1e-12|density --quiet --architecture $work/cnn.json --samples 13 --probes 3 --steps 10 --method slq"
  "layers-kpm|1e-12|density --quiet --architecture $work/cnn.json --samples 13 --probes 3 --method kpm --moments 32 --deflate 1"
  "layers-moments|1e-12|moments --quiet --architecture $work/cnn.json --samples 13"
  "layers-moments-hutchinson|1e-12|moments --quiet --architecture $work/cnn.json --samples 13 --exact-limit 0 --probes 5"
  "layers-float32|1e-5|top --quiet --architecture $work/cnn.json --samples 13 --k 2 --precision float32 --method lanczos"
  "layers-ggn|1e-12|top --quiet --architecture $work/cnn.json --samples 13 --k 3 --matrix ggn --loss cross-entropy --labels $work/cnn-labels.csv"
  "layers-hessian|1e-12|top --quiet --architecture $work/cnn.json --samples 13 --k 3 --matrix hessian --which largest-magnitude --loss cross-entropy --labels $work/cnn-labels.csv"
  "layers-residual-bn|1e-12|top --quiet --architecture $work/cnn-bn.json --samples 13 --k 2 --matrix residual --which largest-magnitude --loss bce"
  "layers-hessian-density|1e-12|density --quiet --architecture $work/cnn-bn.json --samples 13 --probes 3 --steps 10 --matrix hessian --grid linear"
  "layers-files|1e-12|top --quiet --model $work/layers.safetensors --inputs $work/inputs.npy --standardize --k 3 --method lanczos"
  "layers-top-exact|1e-12|top --quiet --architecture $work/cnn.json --samples 13 --k 4 --method exact --seed 5"
  "layers-density-exact|1e-12|density --quiet --architecture $work/cnn.json --samples 13 --method exact"
  "layers-align|1e-12|align --quiet --architecture $work/cnn.json --samples 13 --labels $work/cnn-labels.csv"
  "layers-batchnorm-exact|1e-12|top --quiet --architecture $work/cnn-bn.json --samples 13 --k 3 --method exact"
  "layers-layernorm-exact|1e-12|density --quiet --architecture $work/cnn-ln.json --samples 13 --method exact"
  "layers-reduce|1e-12|reduce --quiet --architecture $work/cnn.json --samples 13 --loss cross-entropy --labels $work/cnn-labels.csv --keep 5 --sweep 1,5,10 --inpca --save-reduced $work/layers-reduced.safetensors"
  "layers-ggn-exact|1e-12|top --quiet --architecture $work/cnn.json --samples 13 --loss cross-entropy --labels $work/cnn-labels.csv --matrix ggn --k 3 --method exact"
  "layers-ggn-moments|1e-12|moments --quiet --architecture $work/cnn-bn.json --samples 13 --loss cross-entropy --labels $work/cnn-labels.csv --matrix ggn"
  "layers-eigenvectors|1e-12|top --quiet --architecture $work/cnn.json --samples 13 --k 3 --matrix ntk --method lanczos --save-eigenvectors $work/layers-ev.safetensors"
  "layers-align-hutchinson|1e-12|align --quiet --architecture $work/cnn-bn.json --samples 13 --exact-limit 0 --probes 5 --seed 4"
  "layers-train|1e-12|train --quiet --architecture $work/cnn-bn.json --samples 13 --loss cross-entropy --steps 12 --every 6 --lr 0.1 --batch-size 5 --optimizer momentum --measure moments,top --top 2 --probes 3 --slq-steps 8 --output-dir $work/train-files --no-save-models"
  "layers-train-validation|1e-12|train --quiet --architecture $work/cnn12.json --inputs $work/inputs.npy --labels $work/npy-labels.csv --samples 13 --loss cross-entropy --steps 12 --every 6 --lr 0.05 --batch-size 4 --optimizer adam --validation-inputs $work/inputs.npy --validation-labels $work/npy-labels.csv --validation-samples 11 --measure density --density-grid linear --probes 3 --slq-steps 8 --output-dir $work/train-files --no-save-models"
)
data=${WISP_DATA:-Tests/Data}
if [ -d "$data/digits" ] && [ -d "$data/diabetes" ]; then
  data=$(cd "$data" && pwd)
  digits="--inputs $data/digits/digits-images.idx3-ubyte"
  # The validation set: the digits again, gzip-compressed (the .gz reader on 1–4 ranks).
  digits_gz="$work/digits-images.idx3-ubyte.gz"
  gzip -c "$data/digits/digits-images.idx3-ubyte" > "$digits_gz"
  jobs+=(
    "digits-labels|1e-12|top --quiet --width 24 $digits --labels $data/digits/digits-labels.idx1-ubyte --samples 37 --pool 2 --scale-pixels --standardize --k 3 --matrix ntk --method lanczos"
    "diabetes|1e-12|top --quiet --width 16 --inputs $data/diabetes/diabetes.csv --target-column target --standardize --samples 41 --k 2 --method lanczos"
    "data-spectrum-dense|1e-12|data-spectrum --quiet $digits --scale-pixels"
    "train-adam-validation|1e-12|train --quiet --width 16 $digits --labels $data/digits/digits-labels.idx1-ubyte --samples 37 --pool 2 --scale-pixels --loss cross-entropy --steps 12 --every 6 --lr 0.01 --batch-size 8 --optimizer adam --validation-inputs $digits_gz --validation-labels $data/digits/digits-labels.idx1-ubyte --validation-samples 29 --measure none --output-dir $work/train-files --no-save-models"
    "layers-digits|1e-12|top --quiet --architecture $work/digits-cnn.json $digits --samples 37 --scale-pixels --standardize --k 3 --matrix ntk"
    "data-spectrum-lanczos|1e-12|data-spectrum --quiet $digits --samples 101 --standardize --method lanczos --k 4"
  )
else
  echo "note: $data/digits and $data/diabetes not found (set WISP_DATA); the real-data jobs are skipped" >&2
fi
# WISP_COMPARE_JOBS: an extended regular expression; only the jobs whose names match run.
if [[ -n "${WISP_COMPARE_JOBS:-}" ]]; then
  selected=()
  for entry in "${jobs[@]}"; do [[ ${entry%%|*} =~ ^(${WISP_COMPARE_JOBS})$ ]] && selected+=("$entry"); done
  (( ${#selected[@]} )) || { echo "error: WISP_COMPARE_JOBS='$WISP_COMPARE_JOBS' matches no job" >&2; exit 1; }
  jobs=("${selected[@]}")
fi
for entry in "${jobs[@]}"; do
  name=${entry%%|*}; rest=${entry#*|}; args=${rest#*|}
  for np in 1 2 3 4; do
    # shellcheck disable=SC2086
    if ! timeout 300 "${launch[@]}" "$np" "$wisp" $args --output "$work/$name-$np.json" >"$work/$name-$np.log" 2>&1; then
      echo "FAIL $name on $np ranks:" >&2; cat "$work/$name-$np.log" >&2; exit 1
    fi
  done
done

python3 - "$work" "${jobs[@]}" <<'PY'
import json, sys
work, jobs = sys.argv[1], [(j.split("|")[0], float(j.split("|")[1])) for j in sys.argv[2:]]
# Fields that depend on the rank layout or the clock, not on the mathematics; residuals,
# KPM's smallest bounding Ritz value (a null-space eigenvalue, 0 to ±ε‖A‖) and the additivity
# gap of wisp train (a difference of moments that vanishes for k = 1) are rounding-level
# numbers known only to absolute accuracy; so is InPCA's negative_fraction where the embedded
# distances are nearly Euclidean (a model whose predictions differ little between samples: the
# negative eigenvalues are of higher order in the differences, 2.4e-7 of Σ|λ| for k = 5 in
# reduce-inpca, and move by 1e-9 of themselves between rank counts; the eigenvalues themselves
# are compared). reduce-inpca keeps k below the rank of G (T(C − 1) = 58): past it the kept
# eigenvectors are an arbitrary basis of the null space, which rounding picks differently.
skip = {"timings", "machine", "parallel", "created", "peak_memory_bytes", "memory", "arguments", "csv", "svg",
        "residuals", "residual_estimates", "residual", "ritz_min", "seconds", "measurement_seconds", "additivity_gap",
        "lambda_max_residual", "relative_residuals", "orthogonality", "worst_residual",
        "exact_bytes_per_process", "available_bytes", "exact_seconds", "eigenvalues_file", "negative_fraction"}
# Per job: the fields compared as explained at the top of this script.
job_skip = {"density-fisher-past-rank": {"nodes", "weights"}}
def walk(a, b, path, worst):
    if isinstance(a, dict):
        for k in a:
            if k in skip or k in job_skip.get(path.split(".")[0].split("[")[0], ()): continue
            walk(a[k], b[k], path + "." + k, worst)
    elif isinstance(a, list):
        assert len(a) == len(b), f"{path}: lengths {len(a)} vs {len(b)}"
        scale = max([abs(x) for x in a if isinstance(x, (int, float))] or [0])
        for i, (x, y) in enumerate(zip(a, b)):
            if isinstance(x, (int, float)) and not isinstance(x, bool):
                worst.append((abs(x - y) / scale if scale else abs(x - y), f"{path}[{i}]", x, y))
            else:
                walk(x, y, f"{path}[{i}]", worst)
    elif isinstance(a, (int, float)) and not isinstance(a, bool):
        worst.append((abs(a - b) / abs(a) if a else abs(b), path, a, b))
    else:
        assert a == b, f"{path}: {a!r} vs {b!r}"
failed = False
print(f"{'job':20s} {'ranks':>5s} {'worst relative difference':>26s}  where")
for name, tolerance in jobs:
    base = json.load(open(f"{work}/{name}-1.json"))
    for np in (2, 3, 4):
        other = json.load(open(f"{work}/{name}-{np}.json"))
        assert other["parallel"]["ranks"] == np
        assert sum(other["parallel"]["samples_per_rank"]) == other["samples"]
        worst = []
        walk(base, other, name, worst)
        d, where, x, y = max(worst) if worst else (0.0, "-", 0, 0)
        ok = d <= tolerance
        failed |= not ok
        print(f"{name:20s} {np:5d} {d:26.3e}  {where}{'' if ok else f'  ({x!r} vs {y!r})  FAIL'}")
        if not all(other.get("converged", [True])):
            print(f"{name} on {np} ranks: not every eigenpair converged"); failed = True
print("rank comparison:", "FAILED" if failed else "all agree (float64 to 1e-12, float32 to 1e-5)")
sys.exit(1 if failed else 0)
PY
