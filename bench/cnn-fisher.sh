#!/usr/bin/env bash
# One Fisher product F·v of a small CNN given as layers (conv 3→c, conv c→c, maxpool, conv c→2c,
# maxpool, dense; input [3, 32, 32]; LayerFisherOperator) as a fraction of this machine's
# measured GEMM peak, the share of the convolutions' GEMMs timed alone at their shapes, and the
# MLP path's F·v on the same number of samples next to it. Arguments pass through to
# `wisp-bench cnn` (--samples, --channels, --repeats, --precision float64|float32, --mlp-width,
# --exact). With --exact also the exact sample-space path on the same CNN: the time of forming
# K = (1/T) J Jᵀ (TC × TC) from the per-layer factors against one F·v, and dsyevd on it.
#   bench/cnn-fisher.sh                         # T = 128, c = 32, float64, 3 repeats
#   bench/cnn-fisher.sh --precision float32 --samples 256
#   bench/cnn-fisher.sh --samples 64 --channels 16 --exact
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
swift build -c release --product wisp-bench >&2
exec .build/release/wisp-bench cnn "$@"
