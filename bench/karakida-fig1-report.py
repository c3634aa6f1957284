#!/usr/bin/env python3
"""Aggregates bench/karakida-fig1.sh runs: per (activation, normalization, M) the mean and
spread of λ_max and m_λ over seeds, the mean-field predictions from each run's `theory`
block and the measured/predicted ratios; writes fig1.csv and fig1.svg.

    python3 bench/karakida-fig1-report.py bench/results/karakida-fig1
"""
import glob, json, math, os, sys
out = sys.argv[1]
rows = {}
for path in glob.glob(f"{out}/runs/top-*.json"):
    top = json.load(open(path))
    mom = json.load(open(path.replace("/top-", "/moments-")))
    c = top["configuration"]
    key = (c["activation"], c["normalization"], c["width"])
    th = top.get("theory", {}).get("predictions", {})
    rows.setdefault(key, []).append({
        "lambda_max": top["eigenvalues"][0], "mean": mom["mean_eigenvalue"],
        "lambda_theory": th.get("lambda_max"), "lower_bound": th.get("lambda_max_lower_bound"),
        "mean_theory": th.get("mean_eigenvalue")})
def stats(xs):
    m = sum(xs) / len(xs)
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else 0.0
    return m, sd
lines = ["activation,normalization,M,seeds,lambda_max_mean,lambda_max_sd,lambda_max_theory,lambda_max_lower_bound,ratio,mean_eig,mean_eig_sd,mean_eig_theory,mean_ratio"]
table = []
for (act, norm, M), rs in sorted(rows.items()):
    lm, ls = stats([r["lambda_max"] for r in rs])
    mm, ms = stats([r["mean"] for r in rs])
    lt, lb, mt = rs[0]["lambda_theory"], rs[0]["lower_bound"], rs[0]["mean_theory"]
    ratio = lm / lt if lt else float("nan")
    mratio = mm / mt if mt else float("nan")
    lines.append(f"{act},{norm},{M},{len(rs)},{lm},{ls},{lt},{lb},{ratio},{mm},{ms},{mt},{mratio}")
    table.append((act, norm, M, len(rs), lm, ls, lt, lb, ratio, mm, mt, mratio))
open(f"{out}/fig1.csv", "w").write("\n".join(lines) + "\n")
print(f"{'activation':8s} {'norm':9s} {'M':>5s} {'n':>2s} {'lambda_max':>14s} {'theory':>10s} {'ratio':>6s} {'lower bd':>9s} {'m_lambda':>10s} {'theory':>10s} {'ratio':>6s}")
for act, norm, M, n, lm, ls, lt, lb, ratio, mm, mt, mratio in table:
    f = lambda v, w=10, p=4: f"{v:{w}.{p}g}" if isinstance(v, (int, float)) and v == v else f"{'-':>{w}s}"
    print(f"{act:8s} {norm:9s} {M:5d} {n:2d} {lm:9.4g}±{ls:<4.2g} {f(lt)} {f(ratio, 6, 3)} {f(lb, 9)} {mm:10.4g} {f(mt)} {f(mratio, 6, 3)}")

# SVG: log-log λ_max vs M (points with error bars, theory as lines), and m_λ vs M.
W, H, pad = 980, 420, 60
def panel(x0, title, series, ylabel, legend="top"):
    xs = [p[0] for s in series for p in s["points"]] or [1]
    ys = [v for s in series for p in s["points"] for v in (p[1] - p[2], p[1] + p[2]) if v > 0] + \
         [p[1] for s in series for p in s.get("line", []) if p[1] and p[1] > 0]
    lx0, lx1 = math.log10(min(xs)) - 0.1, math.log10(max(xs)) + 0.1
    ly0, ly1 = math.log10(min(ys)) - 0.2, math.log10(max(ys)) + 0.2
    w = W / 2 - pad - 20
    X = lambda x: x0 + pad + (math.log10(x) - lx0) / (lx1 - lx0) * w
    Y = lambda y: H - pad - (math.log10(y) - ly0) / (ly1 - ly0) * (H - 2 * pad)
    g = [f'<text x="{x0 + pad + w / 2}" y="24" text-anchor="middle" font-size="14">{title}</text>',
         f'<line x1="{x0 + pad}" y1="{H - pad}" x2="{x0 + pad + w}" y2="{H - pad}" stroke="black"/>',
         f'<line x1="{x0 + pad}" y1="{pad}" x2="{x0 + pad}" y2="{H - pad}" stroke="black"/>',
         f'<text x="{x0 + pad + w / 2}" y="{H - 15}" text-anchor="middle">width M (= T)</text>',
         f'<text transform="translate({x0 + 16} {H / 2}) rotate(-90)" text-anchor="middle">{ylabel}</text>']
    for e in range(math.ceil(ly0), math.floor(ly1) + 1):
        g.append(f'<text x="{x0 + pad - 6}" y="{Y(10 ** e) + 4}" text-anchor="end" font-size="11">1e{e}</text>')
    for x in sorted(set(xs)):
        g.append(f'<text x="{X(x)}" y="{H - pad + 16}" text-anchor="middle" font-size="11">{x}</text>')
    for i, s in enumerate(series):
        col = s["color"]
        if s.get("line"):
            pts = " ".join(f"{X(x):.1f},{Y(y):.1f}" for x, y in s["line"] if y and y > 0)
            g.append(f'<polyline fill="none" stroke="{col}" stroke-dasharray="{s.get("dash", "5 3")}" points="{pts}"/>')
        for x, y, e in s["points"]:
            g.append(f'<circle cx="{X(x):.1f}" cy="{Y(y):.1f}" r="3.5" fill="{col}"/>')
            if e > 0 and y - e > 0:
                g.append(f'<line x1="{X(x):.1f}" y1="{Y(y - e):.1f}" x2="{X(x):.1f}" y2="{Y(y + e):.1f}" stroke="{col}"/>')
        ly = pad + 14 + 15 * i if legend == "top" else H - pad - 12 - 15 * (len(series) - 1 - i)
        g.append(f'<text x="{x0 + pad + 10}" y="{ly}" fill="{col}" font-size="11">{s["label"]}</text>')
    return g
colors = {("relu", "none"): "#1f5fa8", ("relu", "last-mean"): "#6fa8dc", ("tanh", "none"): "#b03a2e", ("tanh", "last-mean"): "#e6928a"}
lam, mean = [], []
for (act, norm), col in colors.items():
    pts = [(M, lm, ls) for a, n, M, _, lm, ls, *_ in table if a == act and n == norm]
    if not pts: continue
    line = [(M, lt if norm == "none" else lb) for a, n, M, _, lm, ls, lt, lb, *_ in table if a == act and n == norm]
    lam.append({"label": f"{act} {norm}: measured; dashed: {'Thm 2.2' if norm == 'none' else 'Thm 3.3 lower bound'}", "points": pts, "line": line, "color": col})
    mp = [(M, mm, 0) for a, n, M, _, lm, ls, lt, lb, r, mm, *_ in table if a == act and n == norm]
    ml = [(M, mt) for a, n, M, _, lm, ls, lt, lb, r, mm, mt, _ in table if a == act and n == norm]
    mean.append({"label": f"{act} {norm}", "points": mp, "line": ml, "color": col})
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12"><rect width="100%" height="100%" fill="white"/>']
svg += panel(0, "λ_max of F (T = M, L = 3, C = 1)", lam, "λ_max")
svg += panel(W / 2, "mean eigenvalue m_λ", mean, "m_λ", legend="bottom")
svg.append("</svg>")
open(f"{out}/fig1.svg", "w").write("\n".join(svg))
print(f"wrote {out}/fig1.csv and {out}/fig1.svg")
