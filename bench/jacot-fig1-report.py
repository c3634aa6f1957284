#!/usr/bin/env python3
"""Aggregates bench/jacot-fig1.sh runs: per activation and checkpoint step, the mean and
spread over seeds of tr(A^k)/P (k = 1..4) for I (exact, from sample space), S and H (SLQ),
the additivity gap, and the infinite-width prediction for I; writes fig1.csv and fig1.svg.

    python3 bench/jacot-fig1-report.py bench/results/jacot-fig1
"""
import glob, json, math, sys
out = sys.argv[1]
runs = {}
for path in sorted(glob.glob(f"{out}/runs/*/train.json")):
    r = json.load(open(path))
    runs.setdefault(r["configuration"]["activation"], []).append(r)

def stats(xs):
    m = sum(xs) / len(xs)
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else 0.0
    return m, sd

def moment(rec, matrix, k):
    for m in rec["moments"]["matrices"]:
        if m["matrix"] == matrix:
            e = m["moments"][k - 1]
            return e["exact"] if e.get("exact") is not None else e["estimate"]

table = {}  # (act, step, k) -> dict
lines = ["activation,width,seeds,step,k,loss_mean,I_mean,I_sd,I_ntk_limit,S_mean,S_sd,H_mean,H_sd,gap_mean,gap_sd"]
for act, rs in sorted(runs.items()):
    limit = rs[0].get("ntk_limit", {}).get("moments")
    steps = [c["step"] for c in rs[0]["series"]]
    for i, step in enumerate(steps):
        recs = [r["series"][i] for r in rs if len(r["series"]) > i]
        for k in range(1, 5):
            I = stats([moment(c, "ggn", k) for c in recs])
            S = stats([moment(c, "residual", k) for c in recs])
            Hm = stats([moment(c, "hessian", k) for c in recs])
            gap = stats([c["moments"]["additivity_gap"][k - 1]["mean"] for c in recs])
            loss = stats([c["loss"] for c in recs])[0]
            row = dict(I=I, S=S, H=Hm, gap=gap, limit=limit[k - 1] if limit else None, loss=loss)
            table[(act, step, k)] = row
            lines.append(f"{act},{rs[0]['configuration']['width']},{len(recs)},{step},{k},{loss},{I[0]},{I[1]},"
                         f"{row['limit'] if limit else ''},{S[0]},{S[1]},{Hm[0]},{Hm[1]},{gap[0]},{gap[1]}")
open(f"{out}/fig1.csv", "w").write("\n".join(lines) + "\n")

print(f"{'activation':20s} {'step':>5s} {'k':>2s} {'I':>11s} {'I/limit':>8s} {'S':>11s} {'±sd':>9s} {'|S|/I':>8s} {'gap/H':>9s}")
for (act, step, k), row in sorted(table.items()):
    I, S, Hm, gap, lim = row["I"][0], row["S"], row["H"][0], row["gap"][0], row["limit"]
    print(f"{act:20s} {step:5d} {k:2d} {I:11.4e} {I / lim if lim else float('nan'):8.3f} {S[0]:11.3e} {S[1]:9.2e} "
          f"{abs(S[0]) / I if I else float('nan'):8.2e} {gap / Hm if Hm else float('nan'):9.2e}")

# SVG: one row per activation, one panel per moment order; I (exact) with its NTK limit, S, H.
acts = sorted(runs)
PW, PH, L, B = 300, 230, 70, 40
W, H = 4 * PW, len(acts) * PH + 60
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="10">',
       '<rect width="100%" height="100%" fill="white"/>',
       f'<text x="{W/2}" y="18" text-anchor="middle" font-size="13">tr(A^k)/P through training, digits (Jacot et al. Fig. 1 setting): '
       'I exact (blue), NTK limit (dashed), S (red), H (green); bars: sd over seeds</text>']
colors = {"I": "#1f5fa8", "S": "#c0392b", "H": "#27ae60"}
for r, act in enumerate(acts):
    steps = sorted({s for (a, s, k) in table if a == act})
    for k in range(1, 5):
        x0, y0 = (k - 1) * PW, 40 + r * PH
        vals = []
        for s in steps:
            row = table[(act, s, k)]
            for key in ("I", "S", "H"):
                vals += [row[key][0] - row[key][1], row[key][0] + row[key][1]]
            if row["limit"]:
                vals.append(row["limit"])
        lo, hi = min(vals), max(vals)
        if hi - lo < 1e-300: hi, lo = hi + 1, lo - 1
        lo, hi = lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo)
        X = lambda s: x0 + L + (s - steps[0]) / max(steps[-1] - steps[0], 1) * (PW - L - 15)
        Y = lambda v: y0 + PH - B - (v - lo) / (hi - lo) * (PH - B - 25)
        svg.append(f'<text x="{x0 + PW/2}" y="{y0 + 14}" text-anchor="middle" font-size="11">{act}, k = {k}</text>')
        svg.append(f'<line x1="{x0+L}" y1="{y0+PH-B}" x2="{x0+PW-15}" y2="{y0+PH-B}" stroke="black"/>'
                   f'<line x1="{x0+L}" y1="{y0+25}" x2="{x0+L}" y2="{y0+PH-B}" stroke="black"/>')
        for t in range(5):
            v = lo + (hi - lo) * t / 4
            svg.append(f'<text x="{x0+L-4}" y="{Y(v)+3}" text-anchor="end">{v:.3g}</text>')
        for s in (steps[0], steps[len(steps)//2], steps[-1]):
            svg.append(f'<text x="{X(s)}" y="{y0+PH-B+13}" text-anchor="middle">{s}</text>')
        svg.append(f'<text x="{x0+L+(PW-L)/2}" y="{y0+PH-B+26}" text-anchor="middle">step</text>')
        if lo < 0 < hi:
            svg.append(f'<line x1="{x0+L}" y1="{Y(0)}" x2="{x0+PW-15}" y2="{Y(0)}" stroke="#999" stroke-dasharray="2 2"/>')
        lim = table[(act, steps[0], k)]["limit"]
        if lim:
            svg.append(f'<line x1="{X(steps[0])}" y1="{Y(lim)}" x2="{X(steps[-1])}" y2="{Y(lim)}" stroke="{colors["I"]}" stroke-dasharray="5 3"/>')
        for key in ("I", "S", "H"):
            pts = [(X(s), Y(table[(act, s, k)][key][0]), table[(act, s, k)][key][1]) for s in steps]
            svg.append(f'<polyline fill="none" stroke="{colors[key]}" stroke-width="1.3" points="{" ".join(f"{x:.1f},{y:.1f}" for x, y, _ in pts)}"/>')
            for (x, y, _), s in zip(pts, steps):
                m, sd = table[(act, s, k)][key]
                svg.append(f'<line x1="{x:.1f}" y1="{Y(m-sd):.1f}" x2="{x:.1f}" y2="{Y(m+sd):.1f}" stroke="{colors[key]}"/>'
                           f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2" fill="{colors[key]}"/>')
svg.append("</svg>")
open(f"{out}/fig1.svg", "w").write("\n".join(svg) + "\n")
print(f"wrote {out}/fig1.csv, {out}/fig1.svg")
