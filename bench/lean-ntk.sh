#!/usr/bin/env bash
# The lean sample-space K·u against the parameter-space product J (Jᵀ u) in one run, on one
# network (depth 3, d = M, C = 1, ReLU): flops, best and median time of each, their agreement,
# and peak RSS after the lean products against weights + forward cache (the parameter-space
# operator, which allocates P-vectors, runs afterwards). Arguments pass through to
# `wisp-bench lean-ntk` (--width, --samples, --repeats, --precision float64|float32).
#   bench/lean-ntk.sh                              # M = 4096, T = 512, float64, 3 repeats
#   bench/lean-ntk.sh --precision float32
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
swift build -c release --product wisp-bench >&2
exec .build/release/wisp-bench lean-ntk "$@"
