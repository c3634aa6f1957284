#!/usr/bin/env bash
# Exact sample-space spectra against Krylov solvers and against peers, in one run, on the same
# network and inputs (issue 11, "Benchmarks"):
#   A. M = 2048, T = 1024, C = 1, float64, tanh σ_w² = 3, σ_b² = 0.64 (L = 3, d = M): Wisp exact (every
#      nonzero eigenvalue of F), Wisp Lanczos (top 5, --matrix ntk), the numpy peer (K formed from the
#      per-layer factors, numpy.linalg.eigvalsh) and the JAX + ARPACK peer (jvp/vjp, eigsh, top 5);
#      times, ratios, top-5 agreement with LAPACK on the formed K (numpy's eigvalsh).
#   B. The default job (`wisp`, no flags): its time, the exact spectrum and its SLQ density beside it.
#   C. M = T = 8192, C = 1, float64 (same activation): Wisp exact against the numpy peer, peak RSS of each.
# Inputs are one Gaussian x.npy (numpy, seed 1) that every program reads; Wisp saves the network
# (`wisp theory --save-model`, seed 1) and every later run and peer reads that file.
#   bench/exact-vs-krylov.sh                   # the full run (about 10 min on 2 quiet cores)
#   bench/exact-vs-krylov.sh --quick           # smoke run: M = 256, T = 128; M = T = 512 for C; default job skipped
#   bench/exact-vs-krylov.sh --wisp .build/release/wisp --skip large,jax   # a built binary; cases left out
# Options: --quick, --output DIR (default bench/results/exact-vs-krylov, or …-quick with --quick;
# relative to the directory you call from), --wisp BIN (skip the build), --skip LIST (any of
# issue,lanczos,jax,default,large), --sizes "M T LARGE" (override).
# Builds wisp (release, scratch path .build-bench) unless --wisp is given. Needs python3 with numpy;
# the JAX peer needs `pip install jax scipy` (left out, with a note, when they are missing).
# numpy runs with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (that command only); Wisp runs in the
# environment as given. The machine, load average and the BLAS kernels that ran are in the report.
set -euo pipefail
caller_dir="$PWD"
quick=0 out="" wisp="" skip="" sizes=""
while (($#)); do
    case "$1" in
        --quick) quick=1; shift ;;
        --output) out="$2"; [[ "$out" == /* ]] || out="$caller_dir/$out"; shift 2 ;;
        --wisp) wisp="$2"; [[ "$wisp" == /* ]] || wisp="$caller_dir/$wisp"; shift 2 ;;
        --skip) skip="$2"; shift 2 ;;
        --sizes) sizes="$2"; shift 2 ;;
        -h|--help) sed -n '2,22p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "exact-vs-krylov.sh: error: unknown argument '$1' (see --help)" >&2; exit 64 ;;
    esac
done
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"
if [[ -z "$wisp" ]]; then
    swift build -c release --scratch-path .build-bench --product wisp >&2
    wisp="$root/.build-bench/release/wisp"
fi
[[ -x "$wisp" ]] || { echo "exact-vs-krylov.sh: error: no wisp binary at $wisp" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "exact-vs-krylov.sh: error: /usr/bin/time is missing (apt-get install time)" >&2; exit 1; }
python3 -c "import numpy" 2>/dev/null || { echo "exact-vs-krylov.sh: error: python3 with numpy is needed" >&2; exit 1; }

if ((quick)); then read -r M T LARGE <<< "${sizes:-256 128 512}"; skip="${skip},default"
else read -r M T LARGE <<< "${sizes:-2048 1024 8192}"; fi
out="${out:-$root/bench/results/exact-vs-krylov$( ((quick)) && echo -quick || true)}"
mkdir -p "$out"
work="$(mktemp -d "${TMPDIR:-/tmp}/exact-vs-krylov.XXXXXX")"
trap 'rm -rf "$work"' EXIT
skipped() { [[ ",$skip," == *",$1,"* ]]; }
has_exact=0
"$wisp" density --help 2>/dev/null | grep -q -- "exact" && has_exact=1
peers="$root/bench/peers"
numpy_env=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE)
say() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }
# timed NAME cmd…: runs cmd under /usr/bin/time -v; stdout to $out/NAME.out, the time report to $out/NAME.time.
timed() { local name="$1"; shift; say "$name: $*"; /usr/bin/time -v -o "$out/$name.time" "$@" > "$out/$name.out" 2> "$out/$name.err" \
          || { echo "exact-vs-krylov.sh: error: $name failed (see $out/$name.err)" >&2; tail -3 "$out/$name.err" >&2; return 1; }; }

# The network of cases A and C: its shape (for saving it) and the flags that go with the model file.
act_flags="--activation tanh --sigma-w2 3 --sigma-b2 0.64 --precision float64 --seed 1"
case_issue() {  # tag M T
    local tag="$1" m="$2" t="$3"
    rm -f "$out/$tag"-* "$out/load-$tag.txt"
    uptime > "$out/$tag-load-start.txt"
    git -C "$root" log -1 --format='%h %s' > "$out/$tag-commit.txt" 2>/dev/null || true
    python3 -c "import numpy as np; np.save('$work/$tag-x.npy', np.random.default_rng(1).standard_normal(($t, $m)))"
    local flags="$act_flags"
    # The weights depend on the seed only (not on the inputs or T): `theory` on one Gaussian sample (no solver;
    # it needs Gaussian inputs, and T = 1 keeps the teacher's targets cheap) saves the network that every
    # later run reads with the file inputs.
    # shellcheck disable=SC2086
    "$wisp" theory $flags --depth 3 --width "$m" --input-dim "$m" --outputs 1 --samples 1 --save-model "$work/$tag-net.safetensors" --output "$work/$tag-theory.json" --quiet > /dev/null
    flags="$flags --inputs $work/$tag-x.npy --model $work/$tag-net.safetensors"
    if ((has_exact)); then
        # shellcheck disable=SC2086
        timed "$tag-wisp-exact" "$wisp" density --method exact $flags --quiet --output "$out/$tag-wisp-exact.json"
    fi
    if [[ "$tag" == issue ]] && ((has_exact)); then
        # shellcheck disable=SC2086
        timed "$tag-wisp-exact-top" "$wisp" top --method exact --matrix ntk --k 5 $flags --quiet --output "$out/$tag-wisp-exact-top.json"
    fi
    if [[ "$tag" == issue ]] && ! skipped lanczos; then
        # shellcheck disable=SC2086
        timed "$tag-wisp-lanczos" "$wisp" top $( ((has_exact)) && echo --method lanczos || true) --matrix ntk --k 5 $flags --quiet --output "$out/$tag-wisp-lanczos.json"
    fi
    timed "$tag-numpy" "${numpy_env[@]}" python3 "$peers/numpy_gram.py" "$work/$tag-net.safetensors" "$work/$tag-x.npy" \
          --eigenvalues "$out/$tag-numpy.eigenvalues.csv" --json "$out/$tag-numpy.json"
    if [[ "$tag" == issue ]] && ! skipped jax; then
        if python3 -c "import jax, scipy" 2>/dev/null; then
            timed "$tag-jax" python3 "$peers/jax_arpack.py" "$work/$tag-net.safetensors" "$work/$tag-x.npy" --k 5 --tol 1e-8 --json "$out/$tag-jax.json"
        else echo "jax or scipy is not installed (pip install jax scipy)" > "$out/$tag-jax.missing"; fi
    fi
    uptime > "$out/load-$tag.txt"
}

# The machine, as it is at the start (the load average again after every case). A rerun replaces the
# files of the cases it runs and keeps the others (so --skip can fill in a case later).
say "machine: CPU, BLAS kernels and dgemm rates"
python3 "$peers/machine.py" --wisp "$wisp" > "$out/machine.json"
uptime > "$out/load-start.txt"
skipped issue || case_issue issue "$M" "$T"
if ! skipped default; then
    rm -rf "$out/default" "$out"/default-* "$out/load-default.txt"; mkdir -p "$out/default"
    uptime > "$out/default-load-start.txt"
    git -C "$root" log -1 --format='%h %s' > "$out/default-commit.txt" 2>/dev/null || true
    # Truly without flags: run in default/, which writes default/wisp-output/{run,density}.json.
    timed default-run bash -c "cd '$out/default' && exec '$wisp'"
    if ((has_exact)); then
        timed default-exact bash -c "cd '$out/default' && exec '$wisp' density --method exact --quiet --output wisp-output/exact.json"
    fi
    uptime > "$out/load-default.txt"
fi
skipped large || case_issue large "$LARGE" "$LARGE"
uptime > "$out/load-end.txt"
python3 "$root/bench/exact-vs-krylov-report.py" "$out" | tee "$out/report.md"
