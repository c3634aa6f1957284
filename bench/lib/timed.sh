# Shared by bench scripts (source it): runs and times a program, and finds the wisp binary.
#   bench_wisp            sets $wisp to a release build unless it is set (builds it)
#   bench_timed NAME cmd… runs cmd under /usr/bin/time -v: stdout, stderr, the time report and the
#                         load average before and after go to $out/NAME.{out,err,time,load-start,load-end};
#                         a failure prints the tail of stderr and exits 1.
# Needs $root (the repository) and $out (the results folder).

bench_wisp() {
    if [[ -z "${wisp:-}" ]]; then
        swift build -c release --product wisp >&2
        wisp="$root/.build/release/wisp"
    fi
    [[ -x "$wisp" ]] || { echo "$(basename "$0"): error: no wisp binary at $wisp" >&2; exit 1; }
}

bench_timed() {
    local name="$1"; shift
    echo "[$(date -u +%H:%M:%S)] $name: $*" >&2
    uptime > "$out/$name.load-start"
    /usr/bin/time -v -o "$out/$name.time" "$@" > "$out/$name.out" 2> "$out/$name.err" \
        || { echo "$(basename "$0"): error: $name failed (see $out/$name.err)" >&2; tail -3 "$out/$name.err" >&2; exit 1; }
    uptime > "$out/$name.load-end"
}
