#!/usr/bin/env bash
# A one-node Slurm cluster on this machine (Debian `slurm-wlm` + `munge`), to run the sbatch
# templates for real before a cluster sees them:
#
#   cluster/slurm-local.sh start            # munged, slurmctld, slurmd on localhost (as root)
#   cluster/slurm-local.sh test [WISP]      # start, then sbatch both templates with 2 ranks, check them
#   cluster/slurm-local.sh stop
#
# Everything lives under $WISP_SLURM_DIR (default /tmp/wisp-slurm): the configuration, the state,
# the logs. No system file is changed except munge's key, created if the package left none.
# Clients (sbatch, srun, squeue) find this cluster through SLURM_CONF; `eval "$(cluster/slurm-local.sh env)"`
# sets it in your shell.
#
# `test` checks what a site would get wrong (issue 14):
#   - both templates run under `sbatch` with `srun --mpi=pmix` launching 2 ranks, and the JSON says 2 ranks;
#   - the result equals a 1-process run of the same command (the rank-count comparison, through Slurm);
#   - the scaling template runs its ranks × threads grid (strong and weak) and writes its summary and plot;
#   - `srun --mpi=none` (each task an MPI singleton) is refused by Wisp with one line, non-zero exit.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="${WISP_SLURM_DIR:-/tmp/wisp-slurm}"
conf="$dir/slurm.conf"
say() { echo "slurm-local: $*" >&2; }
fail() { echo "slurm-local: error: $*" >&2; exit 1; }

write_config() {
    mkdir -p "$dir/state" "$dir/spool" "$dir/log" "$dir/jobs"
    local cpus memory
    cpus=$(nproc)
    memory=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
    cat > "$conf" <<EOF
# One-node Slurm for testing Wisp's templates (written by cluster/slurm-local.sh).
ClusterName=wisp-local
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
NodeName=localhost NodeHostname=$(hostname) NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
EOF
}

start() {
    [[ $(id -u) == 0 ]] || fail "run as root (slurmd starts job steps as their user)"
    command -v slurmctld > /dev/null && command -v munged > /dev/null \
        || fail "slurm-wlm and munge are not installed (apt-get install slurm-wlm munge)"
    stop quietly
    write_config
    if [[ ! -s /etc/munge/munge.key ]]; then
        mkdir -p /etc/munge
        dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
        chown munge:munge /etc/munge/munge.key 2> /dev/null || true
        chmod 400 /etc/munge/munge.key
    fi
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge 2> /dev/null || true
    if ! pgrep -x munged > /dev/null; then
        if id munge > /dev/null 2>&1; then runuser -u munge -- munged --force; else munged --force; fi
    fi
    SLURM_CONF="$conf" slurmctld -f "$conf"
    SLURM_CONF="$conf" slurmd -f "$conf"
    export SLURM_CONF="$conf"
    for _ in $(seq 1 60); do
        if sinfo -h -o %T 2> /dev/null | grep -q -E '^(idle|mixed|allocated)'; then say "up: $(sinfo -h -o '%P %D %T %C')"; return 0; fi
        sleep 1
    done
    tail -5 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" >&2 || true
    fail "the node did not become idle in 60 s (logs above, in $dir/log)"
}

stop() {
    for pidfile in "$dir/slurmd.pid" "$dir/slurmctld.pid"; do
        if [[ -s "$pidfile" ]]; then kill "$(cat "$pidfile")" 2> /dev/null || true; fi
    done
    pkill -f "slurm(ctld|d) -f $conf" 2> /dev/null || true
    sleep 1
    [[ "${1:-}" == quietly ]] || say "stopped"
}

# sbatch_wait NAME TEMPLATE ENV…: submits TEMPLATE on one node with 2 ranks × 1 CPU, waits, prints the job's output file.
sbatch_wait() {
    local name="$1" template="$2"; shift 2
    local out="$dir/jobs/$name.out"
    rm -f "$out"
    env "$@" SLURM_CONF="$conf" sbatch --wait --parsable --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 --mem=4G \
        --time=00:20:00 --output="$out" --chdir="$dir/jobs" "$template" > "$dir/jobs/$name.id" \
        || { cat "$out" >&2 2> /dev/null || true; fail "$name: the job failed (output above)"; }
    echo "$out"
}

test_templates() {
    local wisp="${1:-$root/.build/release/wisp}"
    [[ -x "$wisp" ]] || fail "no wisp binary at $wisp (swift build -c release)"
    start
    trap stop EXIT
    export SLURM_CONF="$conf"
    local jobs="$dir/jobs"
    rm -rf "$jobs/results" "$jobs/checkpoints"
    say "sbatch cluster/slurm-top.sbatch (2 ranks through srun --mpi=pmix)"
    sbatch_wait top "$root/cluster/slurm-top.sbatch" WISP="$wisp" WIDTH=64 SAMPLES=48 K=3 OUT="$jobs/results/top-slurm.json" CK="$jobs/checkpoints/top" > /dev/null
    say "sbatch cluster/slurm-density.sbatch (2 ranks)"
    sbatch_wait density "$root/cluster/slurm-density.sbatch" WISP="$wisp" WIDTH=64 SAMPLES=48 PROBES=3 STEPS=12 OUT="$jobs/results/density" CK="$jobs/checkpoints/density" > /dev/null
    # The same commands on one process, outside Slurm; the numbers must agree.
    (cd "$jobs" && env -u SLURM_CONF OPENBLAS_NUM_THREADS=1 "$wisp" top --width 64 --samples 48 --matrix ntk --k 3 --tol 1e-8 --quiet --output "$jobs/results/top-1.json" > /dev/null)
    (cd "$jobs" && env -u SLURM_CONF OPENBLAS_NUM_THREADS=1 "$wisp" density --width 64 --samples 48 --matrix ntk --probes 3 --steps 12 --seed 1 --quiet --output "$jobs/results/density-1.json" > /dev/null)
    python3 - "$jobs/results" <<'PY'
import json, sys
d = sys.argv[1]
def load(p):
    return json.load(open(f"{d}/{p}"))
def check(slurm, single, key):
    a, b = load(slurm), load(single)
    ranks = a["machine"]["ranks"]
    if ranks != 2: sys.exit(f"slurm-local: error: {slurm} ran on {ranks} rank(s), not 2")
    x, y = key(a), key(b)
    floor = 1e-12 * max(abs(q) for q in y)   # entries far below the largest (density tails) compare absolutely
    dev = max(abs(p - q) / max(abs(q), floor, 1e-300) for p, q in zip(x, y))
    if len(x) != len(y) or dev > 1e-12: sys.exit(f"slurm-local: error: {slurm} differs from one process by {dev:.1e} (1e-12 allowed)")
    print(f"slurm-local: {slurm}: 2 ranks under Slurm, equal to one process to {dev:.1e}", file=sys.stderr)
check("top-slurm.json", "top-1.json", lambda r: r["eigenvalues"])
check("density/density.json", "density-1.json", lambda r: [m["estimate"] for m in r["moments"]] + r["density"])
PY
    say "sbatch cluster/slurm-scaling.sbatch (ranks × threads grid, strong and weak, summary and plot)"
    sbatch_wait scaling "$root/cluster/slurm-scaling.sbatch" WISP="$wisp" WIDTH=32 SAMPLES=16 OUT="$jobs/results/scaling" \
        SUMMARY="$root/cluster/scaling-summary.py" > /dev/null
    local rows
    rows=$(grep -c -E '^\| (strong|weak) \|' "$jobs/results/scaling/summary.md" || true)
    [[ "$rows" == 4 && -s "$jobs/results/scaling/scaling.svg" ]] \
        || fail "the scaling job wrote $rows of 4 summary rows (strong and weak × 1, 2 ranks), see $jobs/results/scaling"
    say "scaling: 4 points, summary.md and scaling.svg written"
    say "srun --mpi=none -n 2 (each task an MPI singleton) must be refused"
    local log="$jobs/singleton.err"
    if srun --mpi=none -N 1 -n 2 -c 1 "$wisp" top --width 16 --samples 8 --k 1 --quiet --output "$jobs/results/singleton.json" > /dev/null 2> "$log"; then
        fail "srun --mpi=none ran the job as 2 singletons (no refusal)"
    fi
    grep -q "wisp: error: .*SLURM" "$log" || { cat "$log" >&2; fail "the singleton refusal did not name Slurm's task count"; }
    [[ ! -e "$jobs/results/singleton.json" ]] || fail "a refused singleton wrote its output"
    say "refused: $(grep -m1 'wisp: error' "$log")"
    say "all Slurm checks passed"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    env) echo "export SLURM_CONF=$conf" ;;
    test) shift; test_templates "$@" ;;
    *) fail "usage: cluster/slurm-local.sh start|stop|env|test [path/to/wisp]" ;;
esac
