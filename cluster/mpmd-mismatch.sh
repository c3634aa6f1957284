#!/usr/bin/env bash
# MPMD launches whose processes disagree (issue 12): each must stop every process with exactly
# one `wisp: error:` line naming the difference, a non-zero exit, and no result file from rank 0.
# Before the check, these ended in MPI_ERR_TRUNCATE with no Wisp message, or rank 0 wrote a
# result from mixed rows. Usage: cluster/mpmd-mismatch.sh [path/to/wisp]
set -u
WISP=${1:-.build/debug/wisp}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

# Two .npy inputs of different shapes (T × d): 10 × 4 and 12 × 4, and 10 × 5.
python3 - <<'PY' 2>/dev/null || { echo "mpmd mismatch: python3 needed to write .npy files"; exit 1; }
import struct
def save(name, rows, cols):
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (%d, %d), }" % (rows, cols)
    header += " " * (118 - len(header)) + "\n"
    with open(name, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
        f.write(struct.pack("<%dd" % (rows * cols), *[(i % 7) * 0.25 - 0.5 for i in range(rows * cols)]))
save("a.npy", 10, 4); save("b.npy", 12, 4); save("c.npy", 10, 5)
PY

failures=0
check() {   # name, expected word, mpirun arguments…
    local name=$1 word=$2; shift 2
    rm -f out.json
    timeout 120 mpirun "$@" > stdout.txt 2> stderr.txt
    local status=$?
    local lines
    lines=$(grep -c '^wisp: error: ' stderr.txt)
    if [ "$status" -eq 0 ] || [ "$status" -eq 124 ] || [ "$lines" -ne 1 ] || ! grep -q "$word" stderr.txt || [ -e out.json ]; then
        echo "FAIL $name: status $status, $lines error lines, out.json $( [ -e out.json ] && echo written || echo absent )"
        cat stderr.txt
        failures=$((failures + 1))
    else
        echo "ok   $name: $(grep '^wisp: error: ' stderr.txt)"
    fi
}

check "other width" "argument" -np 1 "$WISP" top --width 8 --samples 8 --output out.json : -np 1 "$WISP" top --width 16 --samples 8
check "other command" "argument" -np 1 "$WISP" top --width 8 --samples 8 --output out.json : -np 1 "$WISP" density --width 8 --samples 8
check "other row count" "samples T" -np 1 "$WISP" top --width 8 --inputs a.npy --output out.json : -np 1 "$WISP" top --width 8 --inputs b.npy
check "other feature count" "input dimension" -np 1 "$WISP" top --width 8 --inputs a.npy --output out.json : -np 2 "$WISP" top --width 8 --inputs c.npy
check "parse error on rank 1" "Unknown option" -np 1 "$WISP" top --width 8 --samples 8 --output out.json : -np 1 "$WISP" top --width 8 --samples 8 --bogus

# The same job spelled with other paths to same-shaped copies is one job (it must run).
cp a.npy a2.npy
if timeout 120 mpirun -np 1 "$WISP" top --width 8 --inputs a.npy --quiet --output out.json : -np 1 "$WISP" top --width 8 --inputs a2.npy --quiet > /dev/null 2>stderr.txt \
   && [ -s out.json ]; then echo "ok   same shapes, other paths: runs"; else echo "FAIL same shapes, other paths"; cat stderr.txt; failures=$((failures + 1)); fi

# `--width=8` on one rank and `--width 8` on the other are the same job (it must run).
if timeout 120 mpirun -np 1 "$WISP" top --width=8 --samples 8 --quiet --output out.json : -np 1 "$WISP" top --width 8 --samples=8 --quiet > /dev/null 2>stderr.txt \
   && [ -s out.json ]; then echo "ok   --flag=value against --flag value: runs"; else echo "FAIL --flag=value against --flag value"; cat stderr.txt; failures=$((failures + 1)); fi

if [ "$failures" -eq 0 ]; then echo "mpmd mismatch: all refused"; else echo "mpmd mismatch: $failures failures"; exit 1; fi
