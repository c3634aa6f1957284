#!/usr/bin/env bash
# SLQ against the kernel polynomial method at matched operator-application budgets, on the same
# probes, for the default Karakida network (K in sample space, exact eigenvalues from the dense K)
# and a synthetic sloppy spectrum (nine decades plus outliers, exact moments known): cost, the
# first four moments' errors against the exact traces, L1 distances, SVG overlays.
#   bench/kpm-vs-slq.sh                                  # budgets 640,2560, 10 probes, M = T = 512 (a few minutes on 2 cores)
#   bench/kpm-vs-slq.sh --budgets 200 --width 64 --output /tmp/k   # smoke run (seconds)
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
