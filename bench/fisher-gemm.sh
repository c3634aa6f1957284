#!/usr/bin/env bash
# Builds wisp-bench (release, separate scratch path .build-bench) from the repository root and
# runs it; all arguments are passed through (see `bench/fisher-gemm.sh --help`).
#   bench/fisher-gemm.sh                 # full run: widths 1024,2048,4096, T=512, C=1,10 (2–3 min on 2 cores)
#   bench/fisher-gemm.sh --quick         # smoke run (about a second)
#   bench/fisher-gemm.sh --widths 2048 --outputs 1 --repeats 3 --output /tmp/r.json
# A relative --output path is taken relative to the directory you call the script from.
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
exec .build-bench/release/wisp-bench ${args[@]+"${args[@]}"}
