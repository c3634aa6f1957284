#!/usr/bin/env bash
# Cost of the loss-Hessian products (S·v, H·v by the R-operator) and of the cross-entropy
# Gauss–Newton product (G·v) against the Fisher product F·v on the same network, with their
# GEMM efficiency against the dgemm peak measured in the same run (wisp-bench hessian).
#
#   bench/hessian-products.sh                       # M = 1024, 2048; T = 512; C = 10; ≈ 1 min
#   bench/hessian-products.sh --widths 4096 --samples 1024
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --scratch-path .build-bench --product wisp-bench >&2
mkdir -p bench/results
.build-bench/release/wisp-bench hessian --output bench/results/hessian-products.json "$@"
