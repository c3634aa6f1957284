#!/usr/bin/env python3
"""Summary of a scaling run (cluster/slurm-scaling.sbatch): one row per JSON record
`<mode>-r<ranks>-t<threads>.json`, a table (summary.md, summary.csv) and a plot (scaling.svg),
with the cost model beside the measurements.

Cost model of one product F·v (bench/README.md, "Cost model"): the local JVP + VJP is GEMM work
split over the ranks, then one allreduce of P doubles,

    t(R, n) = W / (R · n · r₁) + t_allreduce(P, R),

W the flops of one product over all samples (the record's parallel.flops_per_product), r₁ the
GEMM rate of one core, measured by the 1-rank × 1-thread point of the same mode, and
t_allreduce the communication seconds per product each point measured (all of the run's MPI
time divided by its products: the product's allreduce and Lanczos's own reductions, so on tiny
problems it can exceed the product's time). Strong scaling keeps T
(W fixed); weak scaling grows T with R (W ∝ R), so its ideal time per product is constant.

    python3 cluster/scaling-summary.py RESULTS_DIR
Numpy is not needed; the plot is hand-written SVG.
"""
import json, os, re, sys


def points(folder):
    rows = []
    for name in sorted(os.listdir(folder)):
        m = re.fullmatch(r"(strong|weak)-r(\d+)-t(\d+)\.json", name)
        if not m:
            continue
        r = json.load(open(os.path.join(folder, name)))
        t = r["timings"]
        n = max(t["operator_applications"], 1)
        rows.append(dict(mode=m[1], ranks=int(m[2]), threads=int(m[3]), samples=r["samples"], parameters=r["parameters"],
                         flops=r["parallel"]["flops_per_product"], seconds=t["operator_seconds"] / n,
                         communication=t["communication_seconds"] / n, products=n,
                         peak_gb=r.get("peak_memory_bytes", 0) / 1e9, host=r.get("machine", {}).get("host", ""),
                         commit=r.get("wisp_commit", "")))
    return rows


def summarize(rows):
    out = []
    for mode in ("strong", "weak"):
        mine = [p for p in rows if p["mode"] == mode]
        base = next((p for p in mine if p["ranks"] == 1 and p["threads"] == 1), None)
        if base is None:
            continue
        rate = base["flops"] / max(base["seconds"] - base["communication"], 1e-300)   # r₁, flops per core-second
        for p in sorted(mine, key=lambda p: (p["ranks"], p["threads"])):
            cores = p["ranks"] * p["threads"]
            model = p["flops"] / (cores * rate) + p["communication"]
            ideal = base["seconds"] * (p["flops"] / base["flops"]) / cores
            out.append(dict(p, cores=cores, gflops=p["flops"] / p["seconds"] / 1e9, model=model,
                            efficiency=ideal / p["seconds"], comm_share=p["communication"] / p["seconds"]))
    return out


def table(rows):
    head = ["mode", "ranks", "threads", "cores", "samples", "s/product", "model s", "comm share", "GFLOP/s", "efficiency", "peak GB"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for p in rows:
        lines.append(f"| {p['mode']} | {p['ranks']} | {p['threads']} | {p['cores']} | {p['samples']} | {p['seconds']:.4g} | "
                     f"{p['model']:.4g} | {p['comm_share']:.1%} | {p['gflops']:.3g} | {p['efficiency']:.0%} | {p['peak_gb']:.3g} |")
    return "\n".join(lines) + "\n"


def svg(rows):
    """Parallel efficiency against cores, one polyline per (mode, threads per rank)."""
    W, H, L, R, T, B = 640, 400, 70, 170, 30, 50
    cores = sorted({p["cores"] for p in rows}) or [1]
    xmax = max(cores)
    def x(c):   # log2 axis
        import math
        return L + (W - L - R) * (math.log2(c) / math.log2(xmax) if xmax > 1 else 0.5)
    def y(e):
        return H - B - (H - T - B) * min(max(e, 0.0), 1.2) / 1.2
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
             f'<rect width="{W}" height="{H}" fill="white"/>',
             f'<text x="{W / 2 - 60}" y="18">parallel efficiency</text>']
    for e in (0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.2):
        parts.append(f'<line x1="{L}" x2="{W - R}" y1="{y(e):.1f}" y2="{y(e):.1f}" stroke="#ddd"/>'
                     f'<text x="{L - 8}" y="{y(e) + 4:.1f}" text-anchor="end">{e:.1f}</text>')
    for c in cores:
        parts.append(f'<text x="{x(c):.1f}" y="{H - B + 18}" text-anchor="middle">{c}</text>')
    parts.append(f'<text x="{(L + W - R) / 2:.0f}" y="{H - 12}" text-anchor="middle">cores (ranks × threads)</text>')
    colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
    series = sorted({(p["mode"], p["threads"]) for p in rows})
    for i, (mode, threads) in enumerate(series):
        pts = sorted((p for p in rows if p["mode"] == mode and p["threads"] == threads), key=lambda p: p["cores"])
        color = colors[i % len(colors)]
        dash = "" if mode == "strong" else ' stroke-dasharray="6 3"'
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2"{dash} points="'
                     + " ".join(f"{x(p['cores']):.1f},{y(p['efficiency']):.1f}" for p in pts) + '"/>')
        for p in pts:
            parts.append(f'<circle cx="{x(p["cores"]):.1f}" cy="{y(p["efficiency"]):.1f}" r="3" fill="{color}"/>')
        ly = T + 10 + 18 * i
        parts.append(f'<line x1="{W - R + 12}" x2="{W - R + 36}" y1="{ly}" y2="{ly}" stroke="{color}" stroke-width="2"{dash}/>'
                     f'<text x="{W - R + 42}" y="{ly + 4}">{mode}, {threads} thread{"s" if threads > 1 else ""}/rank</text>')
    parts.append("</svg>\n")
    return "\n".join(parts)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: scaling-summary.py RESULTS_DIR")
    folder = sys.argv[1]
    rows = summarize(points(folder))
    if not rows:
        sys.exit(f"scaling-summary.py: error: no <mode>-r1-t1.json point in {folder}")
    md = table(rows)
    open(os.path.join(folder, "summary.md"), "w").write(md)
    keys = ["mode", "ranks", "threads", "cores", "samples", "parameters", "seconds", "model", "communication", "comm_share",
            "gflops", "efficiency", "peak_gb", "products", "host", "commit"]
    with open(os.path.join(folder, "summary.csv"), "w") as f:
        f.write(",".join(keys) + "\n")
        for p in rows:
            f.write(",".join(repr(p[k]) if isinstance(p[k], float) else str(p[k]) for k in keys) + "\n")
    open(os.path.join(folder, "scaling.svg"), "w").write(svg(rows))
    print(md, end="")


if __name__ == "__main__":
    main()
