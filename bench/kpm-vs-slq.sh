#!/usr/bin/env bash
# SLQ against the kernel polynomial method at matched operator-application budgets, on the same
# probes, for the default Karakida network (K in sample space, exact eigenvalues from the dense K),
# a synthetic sloppy spectrum (nine decades plus outliers, exact moments known), networks trained
# inside the bench (TrainJob, full-batch GD) on the digits (K, exact from the dense K, and the
# indefinite loss Hessian, SLQ vs KPM only) and on the diabetes table (K, exact): cost, the first
# four moments' errors against the exact traces, L1 (and for the Hessian W1) distances, SVG overlays.
# The data are read from Tests/Data (copies of ../shared/data; see --help for other paths).
#   bench/kpm-vs-slq.sh                                  # budgets 640,2560, 10 probes, M = T = 512 (10–13 min on 2 cores)
#   bench/kpm-vs-slq.sh --budgets 200 --width 64 --digits-samples 64 --digits-width 32 --output /tmp/k   # smoke run (seconds)
#   bench/kpm-vs-slq.sh --cases network,sloppy           # the synthetic cases only
# Builds wisp-bench (release, scratch path .build-bench) and writes
# bench/results/kpm-vs-slq/{kpm-vs-slq.json, <case>-<budget>.svg} unless --output DIR is given
# (relative to the directory you call the script from).
set -euo pipefail
caller_dir="$PWD"
args=()
while (($#)); do
    if [[ "$1" == "--output" && $# -ge 2 ]]; then
        out="$2"
        [[ "$out" == /* ]] || out="$caller_dir/$out"
        args+=("--output" "$out")
        shift 2
    else
        args+=("$1")
        shift
    fi
done
cd "$(dirname "${BASH_SOURCE[0]}")/.."
swift build -c release --scratch-path .build-bench --product wisp-bench >&2
exec .build-bench/release/wisp-bench kpm-vs-slq ${args[@]+"${args[@]}"}
