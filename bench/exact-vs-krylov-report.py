#!/usr/bin/env python3
"""The report of bench/exact-vs-krylov.sh: reads the run directory (JSON of every program, the
/usr/bin/time -v reports, eigenvalue files, machine.json, load averages) and prints Markdown tables of
times, ratios, peak RSS and agreement, and writes summary.json beside them.

    exact-vs-krylov-report.py bench/results/exact-vs-krylov

Times: "in-program" is what each program reports from reading its model and inputs to its last
eigenvalue (Wisp: the JSON's timings.setup_seconds + total_seconds, i.e. loading, the forward pass, the
job; numpy: load + forming K + eigvalsh; JAX: the eigsh call, the jit compilation apart); "wall" is the
whole process (start-up of the runtime or interpreter, reading, computing, writing) from /usr/bin/time.
The goals (≤ 1 s, ≥ 1.3×) are judged on wall time, the in-program ratio beside it. Agreement: max_i |λ_i − λ_i(LAPACK)| / λ_1 over the top 5 (and over all TC for the
full spectra), LAPACK = numpy.linalg.eigvalsh on the formed K.
"""
import json, math, os, re, sys
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from timereport import time_report  # noqa: E402


def wisp_seconds(rec):
    """Wisp's in-program time: setup (model, inputs, forward pass) + the job."""
    t = rec.get("timings", {})
    return t.get("total_seconds", 0) + t.get("setup_seconds", 0) if "total_seconds" in t else None


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def cpu_seconds(path):
    """User + system CPU seconds from /usr/bin/time -v (less sensitive to other load than wall time,
    though OpenBLAS threads that spin while waiting count too), or None."""
    try:
        text = open(path).read()
        return float(re.search(r"User time \(seconds\): ([\d.]+)", text).group(1)) + \
            float(re.search(r"System time \(seconds\): ([\d.]+)", text).group(1))
    except (OSError, AttributeError):
        return None


def read_eigenvalues(path):
    """Descending eigenvalues from a CSV or plain list: the last numeric field of each data line."""
    values = []
    try:
        for line in open(path):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            try:
                values.append(float(line.split(",")[-1]))
            except ValueError:
                continue  # a header
    except OSError:
        return None
    return np.sort(np.array(values))[::-1] if values else None


def wisp_eigenvalue_file(run_dir, name, record):
    path = record.get("eigenvalues_file") if record else None
    candidates = [path, os.path.join(run_dir, os.path.basename(path)) if path else None,
                  os.path.join(run_dir, name + ".eigenvalues.csv")]
    for c in candidates:
        if c and os.path.exists(c):
            return c
    return None


def fmt(x, spec=".3g", unit=""):
    return "—" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:{spec}}{unit}"


def gb(b):
    return None if b is None else b / 1e9


def load_line(run_dir, tag, start=False):
    name = f"{tag}-load-start.txt" if start else f"load-{tag}.txt"
    try:
        return open(os.path.join(run_dir, name)).read().strip().split("load average:")[-1].strip()
    except OSError:
        return "—"


def started(run_dir, tag):
    """'at HH:MM UTC, load average a, b, c, commit h' for a case, from the files the script wrote."""
    try:
        up = open(os.path.join(run_dir, f"{tag}-load-start.txt")).read().split()[0]
    except (OSError, IndexError):
        return ""
    try:
        commit = open(os.path.join(run_dir, f"{tag}-commit.txt")).read().split()[0]
    except (OSError, IndexError):
        commit = "?"
    return f"started {up} UTC (load average {load_line(run_dir, tag, start=True)}), Wisp at commit {commit}; "


def exact_case(run_dir, tag, title, summary, lines):
    """Case A or C: Wisp exact, Wisp Lanczos, numpy, JAX + ARPACK on one network."""
    rows, programs, case = [], [], {}
    numpy_rec = load_json(os.path.join(run_dir, f"{tag}-numpy.json"))
    exact_rec = load_json(os.path.join(run_dir, f"{tag}-wisp-exact.json"))
    lanczos_rec = load_json(os.path.join(run_dir, f"{tag}-wisp-lanczos.json"))
    jax_rec = load_json(os.path.join(run_dir, f"{tag}-jax.json"))
    if not (numpy_rec or exact_rec or lanczos_rec):
        return
    lapack = read_eigenvalues(os.path.join(run_dir, f"{tag}-numpy.eigenvalues.csv"))
    exact_file = wisp_eigenvalue_file(run_dir, f"{tag}-wisp-exact", exact_rec)
    exact = read_eigenvalues(exact_file) if exact_file else None
    ref = lapack if lapack is not None else exact
    lam1 = ref[0] if ref is not None else None

    def dev(values, n=5):
        if values is None or ref is None:
            return None
        n = min(n, len(values), len(ref))
        return float(np.max(np.abs(np.asarray(values[:n]) - ref[:n])) / lam1)

    numpy_wall, numpy_rss = time_report(os.path.join(run_dir, f"{tag}-numpy.time"))
    numpy_t = numpy_rec["total_seconds"] if numpy_rec else None
    header = numpy_rec or {}
    lines.append(f"### {title}\n")
    if header:
        lines.append(f"widths {header.get('widths')}, T = {header.get('T')}, C = {header.get('C')}, TC = {header.get('TC')}, "
                     f"{header.get('activation')}; {started(run_dir, tag)}load average after the case: {load_line(run_dir, tag)}\n")
    lines.append("| program | computes | in-program s | wall s | CPU s | peak RSS GB | numpy ÷ it (in-program) | numpy ÷ it (wall) | top-5 dev. from LAPACK | all TC dev. |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|")
    exact_t = exact_wall = None
    if exact_rec:
        exact_t = wisp_seconds(exact_rec)
        wall, rss = time_report(os.path.join(run_dir, f"{tag}-wisp-exact.time"))
        exact_wall = wall
        full = None
        if exact is not None and lapack is not None:
            n = min(len(exact), len(lapack))
            full = float(np.max(np.abs(exact[:n] - lapack[:n])) / lam1)
        programs.append("wisp-exact")
        rows.append(("Wisp `density --method exact`", f"all {len(exact) if exact is not None else '?'} nonzero λ (LAPACK on K)",
                     exact_t, wall, rss, dev(exact), full))
        case["wisp_exact"] = {"seconds": exact_t, "wall_seconds": wall, "peak_rss_bytes": rss, "top5_deviation": dev(exact),
                              "all_deviation": full, "eigenvalues_file": exact_file}
    exact_top_rec = load_json(os.path.join(run_dir, f"{tag}-wisp-exact-top.json"))
    if exact_top_rec:
        t = wisp_seconds(exact_top_rec)
        wall, rss = time_report(os.path.join(run_dir, f"{tag}-wisp-exact-top.time"))
        ev, res = exact_top_rec.get("eigenvalues"), exact_top_rec.get("residuals") or []
        programs.append("wisp-exact-top")
        rows.append(("Wisp `top --method exact --matrix ntk`", f"top 5 (dsyevr; max residual {fmt(max(res) if res else None, '.1e')})",
                     t, wall, rss, dev(ev), None))
        case["wisp_exact_top"] = {"seconds": t, "wall_seconds": wall, "peak_rss_bytes": rss, "top5_deviation": dev(ev),
                                  "eigenvalues": ev, "residuals": res}
    if lanczos_rec:
        t = wisp_seconds(lanczos_rec)
        wall, rss = time_report(os.path.join(run_dir, f"{tag}-wisp-lanczos.time"))
        ev = lanczos_rec.get("eigenvalues")
        apps = lanczos_rec.get("timings", {}).get("operator_applications")
        programs.append("wisp-lanczos")
        rows.append(("Wisp `top --method lanczos --matrix ntk`", f"top 5 ({apps} products, tol 1e-8)", t, wall, rss, dev(ev), None))
        case["wisp_lanczos"] = {"seconds": t, "wall_seconds": wall, "peak_rss_bytes": rss, "products": apps,
                                "top5_deviation": dev(ev), "eigenvalues": ev, "residuals": lanczos_rec.get("residuals")}
    if numpy_rec:
        programs.append("numpy")
        rows.append(("numpy peer (`bench/peers/numpy_gram.py`)", f"all {numpy_rec['TC']} λ (K formed {numpy_rec['assemble_seconds']:.2f} s, "
                     f"eigvalsh {numpy_rec['eigvalsh_seconds']:.2f} s)", numpy_t, numpy_wall, numpy_rss, 0.0, 0.0))
        case["numpy"] = {k: numpy_rec[k] for k in ("assemble_seconds", "eigvalsh_seconds", "compute_seconds", "total_seconds")}
        case["numpy"].update(wall_seconds=numpy_wall, peak_rss_bytes=numpy_rss, top=numpy_rec["top"])
    if jax_rec:
        wall, rss = time_report(os.path.join(run_dir, f"{tag}-jax.time"))
        programs.append("jax")
        rows.append(("JAX vjp+jvp + ARPACK (`bench/peers/jax_arpack.py`)",
                     f"top 5 ({jax_rec['products']} products, tol {jax_rec['tol']:g}; jit {jax_rec['compile_seconds']:.1f} s apart)",
                     jax_rec["solve_seconds"], wall, rss, dev(jax_rec["eigenvalues"]), None))
        case["jax"] = {"seconds": jax_rec["solve_seconds"], "compile_seconds": jax_rec["compile_seconds"], "wall_seconds": wall,
                       "peak_rss_bytes": rss, "products": jax_rec["products"], "top5_deviation": dev(jax_rec["eigenvalues"]),
                       "eigenvalues": jax_rec["eigenvalues"], "residuals": jax_rec["residuals"]}
    missing = os.path.join(run_dir, f"{tag}-jax.missing")
    note = f"(JAX peer: {open(missing).read().strip()})\n" if not jax_rec and os.path.exists(missing) else None
    for (name, what, t, wall, rss, d5, dall), program in zip(rows, programs):
        r_in = numpy_t / t if numpy_t and t else None
        r_wall = numpy_wall / wall if numpy_wall and wall else None
        cpu = cpu_seconds(os.path.join(run_dir, f"{tag}-{program}.time"))
        lines.append(f"| {name} | {what} | {fmt(t, '.3f')} | {fmt(wall, '.2f')} | {fmt(cpu, '.1f')} | {fmt(gb(rss), '.2f')} | {fmt(r_in, '.2f', '×')} | "
                     f"{fmt(r_wall, '.2f', '×')} | {fmt(d5, '.1e')} | {fmt(dall, '.1e')} |")
    lines.append("")
    if note:
        lines.append(note)
    if ref is not None:
        lines.append("top 5 (LAPACK on the formed K): " + ", ".join(f"{v:.12e}" for v in ref[:5]) + "\n")
    goals = []
    if exact_t is not None:
        limit = 1.0 if tag == "issue" else 120.0
        w = exact_wall if exact_wall else exact_t
        goals.append(f"Wisp exact ≤ {limit:g} s (wall): {w:.2f} s → {'met' if w <= limit else 'NOT met'}")
        if numpy_wall and exact_wall:
            r = numpy_wall / exact_wall
            goals.append(f"Wisp exact ≥ 1.3× numpy (wall): {r:.2f}× → {'met' if r >= 1.3 else 'NOT met'}"
                         + (f" (in-program {numpy_t / exact_t:.2f}×)" if numpy_t else ""))
        d5 = case["wisp_exact"]["top5_deviation"]
        if d5 is not None:
            goals.append(f"top 5 equal to LAPACK on K to 1e-12: {d5:.1e} → {'met' if d5 <= 1e-12 else 'NOT met'}")
        if jax_rec:
            goals.append(f"Wisp exact ≥ 100× JAX + ARPACK: {jax_rec['solve_seconds'] / exact_t:.0f}× → "
                         f"{'met' if jax_rec['solve_seconds'] / exact_t >= 100 else 'NOT met'}")
    elif tag == "issue":
        goals.append("Wisp exact: not in this binary (`density --method exact` missing), goals not measured")
    if lanczos_rec and jax_rec:
        t = lanczos_rec["timings"]["total_seconds"]
        goals.append(f"(Wisp Lanczos against JAX + ARPACK, same tol: {jax_rec['solve_seconds'] / t:.2f}×; "
                     f"{jax_rec['seconds_per_product']:.3f} s against {lanczos_rec['timings']['operator_seconds'] / max(1, lanczos_rec['timings']['operator_applications']):.3f} s per product)")
    lines.extend(f"- {g}" for g in goals)
    lines.append("")
    case["goals"] = goals
    summary[tag] = case


def wasserstein_log(grid, density, eigenvalues):
    """W1 in decades between a density per unit log10 λ on `grid` (normalized over the grid) and the
    point masses at the eigenvalues inside the grid's range: ∫ |F_SLQ − F_exact| d log10 λ."""
    x = np.log10(np.asarray(grid))
    p = np.maximum(np.asarray(density), 0)
    dx = np.diff(x)
    cdf = np.concatenate([[0], np.cumsum(0.5 * (p[1:] + p[:-1]) * dx)])
    cdf /= cdf[-1]
    e = np.log10(eigenvalues[(eigenvalues >= grid[0]) & (eigenvalues <= grid[-1])])
    ecdf = np.searchsorted(np.sort(e), x, side="right") / len(e)
    diff = np.abs(cdf - ecdf)
    return float(np.sum(0.5 * (diff[1:] + diff[:-1]) * dx)), len(e)


def default_case(run_dir, summary, lines):
    d = os.path.join(run_dir, "default", "wisp-output")
    # The default job writes its exact density (density.json) and the SLQ estimate beside it
    # (density-slq.json); older versions wrote only the SLQ one as density.json.
    run = load_json(os.path.join(d, "run.json"))
    dens = load_json(os.path.join(d, "density-slq.json")) or load_json(os.path.join(d, "density.json"))
    if not run:
        return
    exact_rec = load_json(os.path.join(d, "exact.json"))
    wall, rss = time_report(os.path.join(run_dir, "default-run.time"))
    t = run["timings"]["total_seconds"]
    lines.append("### The default job (`wisp`, no flags: L = 3, ReLU, σ_w² = 2, M = T = 512)\n")
    lines.append(f"{started(run_dir, 'default')}load average after the case: {load_line(run_dir, 'default')}\n")
    lines.append(f"- `wisp`: {t:.2f} s in-program ({run['timings']['operator_applications']} products), {fmt(wall, '.2f')} s wall, "
                 f"peak RSS {fmt(gb(rss), '.2f')} GB; goal ≤ 10 s → {'met' if wall is not None and wall <= 10 else 'NOT met'}")
    case = {"seconds": t, "wall_seconds": wall, "peak_rss_bytes": rss, "products": run["timings"]["operator_applications"]}
    exact = None
    if exact_rec:
        f = wisp_eigenvalue_file(d, "exact", exact_rec)
        exact = read_eigenvalues(f) if f else None
        et = exact_rec.get("timings", {}).get("total_seconds")
        ew, _ = time_report(os.path.join(run_dir, "default-exact.time"))
        lines.append(f"- `wisp density --method exact` on the same network: {fmt(et, '.3f')} s in-program, {fmt(ew, '.2f')} s wall")
        case["exact_seconds"], case["exact_wall_seconds"] = et, ew
    if dens:
        lines.append(f"- its density: {dens.get('method')}, {dens.get('probes')} probes × {dens.get('steps')} steps")
    if exact is not None and dens:
        P = run["parameters"]
        lines.append("\n| quantity | SLQ (default job) | exact (all nonzero eigenvalues) | SLQ error in SEs |")
        lines.append("|---|---|---|---|")
        lines.append(f"| λ_max | {run['top']['eigenvalues'][0]:.10e} (Lanczos) | {exact[0]:.10e} | |")
        for m in dens["moments"]:
            k = m["order"]
            ex = float(np.sum(exact ** k) / P)
            se = m.get("standard_error") or 0
            lines.append(f"| tr(F^{k})/P | {m['estimate']:.6e} ± {se:.1e} | {ex:.6e} | {fmt((m['estimate'] - ex) / se if se else None, '+.2f')} |")
        w1, n = wasserstein_log(dens["grid"], dens["density"], exact)
        lines.append(f"\nW1 between the SLQ density and the exact eigenvalues, in decades of λ (over the grid, {n} eigenvalues): {w1:.3f}")
        case["w1_decades"] = w1
    lines.append("")
    summary["default"] = case


def machine_section(run_dir, lines, summary):
    m = load_json(os.path.join(run_dir, "machine.json")) or {}
    summary["machine"] = m
    env = m.get("environment", {})
    wb, nb = m.get("wisp_blas", {}), m.get("numpy_blas", {})
    nblas = nb.get("blas", [{}])
    nblas = nblas[0] if isinstance(nblas, list) and nblas else {}
    lines.append("## Machine\n")
    lines.append(f"- CPU: {m.get('cpu')}, {m.get('cores')} cores; load average at the start {m.get('load_average')}, "
                 f"at the end: {load_line(run_dir, 'end')}")
    lines.append(f"- environment: OPENBLAS_CORETYPE={env.get('OPENBLAS_CORETYPE')}, OPENBLAS_L2_SIZE={env.get('OPENBLAS_L2_SIZE')}, "
                 f"OPENBLAS_NUM_THREADS={env.get('OPENBLAS_NUM_THREADS')}, OMP_NUM_THREADS={env.get('OMP_NUM_THREADS')}")
    lines.append(f"- Wisp's BLAS: {wb.get('config', wb.get('library'))}; kernel of Wisp's runs **{wb.get('kernel')}** "
                 f"({wb.get('kernel_of_wisp_runs', 'as loaded')}), {wb.get('threads')} threads; dgemm n = 2048: "
                 f"{fmt(wb.get('dgemm_gflops'), '.1f')} GFLOP/s")
    if wb.get("environment_default"):
        d = wb["environment_default"]
        lines.append(f"  (what this OpenBLAS picks by itself here: {d.get('kernel')}, dgemm {fmt(d.get('dgemm_gflops'), '.1f')} GFLOP/s)")
    lines.append(f"- numpy {nb.get('numpy')} (run with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset): OpenBLAS {nblas.get('version')}, "
                 f"kernel **{nblas.get('architecture')}**, {nblas.get('num_threads')} threads; dgemm n = 2048: "
                 f"{fmt(nb.get('dgemm_gflops'), '.1f')} GFLOP/s")
    lines.append(f"- {m.get('jax')}, scipy {m.get('scipy')}, Python {m.get('python')}\n")


def main():
    run_dir = sys.argv[1]
    lines, summary = [], {}
    machine_section(run_dir, lines, summary)
    lines.append("## Results\n")
    exact_case(run_dir, "issue", "The issue's case (tanh, σ_w² = 3, σ_b² = 0.64, L = 3, d = M, float64)", summary, lines)
    default_case(run_dir, summary, lines)
    exact_case(run_dir, "large", "Large: M = T (tanh, σ_w² = 3, σ_b² = 0.64, L = 3, d = M, C = 1, float64)", summary, lines)
    print("\n".join(lines))
    with open(os.path.join(run_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)


if __name__ == "__main__":
    main()
