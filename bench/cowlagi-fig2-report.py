#!/usr/bin/env python3
"""Aggregates bench/cowlagi-fig2.sh: the exact FIM spectra (first, middle, last checkpoint) of the
digits and diabetes networks normalized by λ_max against the data correlation spectrum, the trace
of the FIM over training, and the model-reduction curves. Writes spectra.csv, trace.csv,
reduction.csv, summary.txt, fig2.svg and reduction.svg (hand-written SVG, no numpy).

    python3 bench/cowlagi-fig2-report.py bench/results/cowlagi-fig2
"""
import json, math, sys
out = sys.argv[1]
DATASETS = ["digits", "diabetes"]
STAGES = [("first", "#c0392b"), ("middle", "#27ae60"), ("last", "#1f5fa8")]
ZERO = 1e-13          # λ/λ_max below this is rounding noise of the dense eigensolve (≈ P·ε)
LO, BIN = -13.0, 0.25  # log10 grid of λ/λ_max: [1e-13, 1] in quarter decades
NBINS = int(-LO / BIN)

def load(name):
    return json.load(open(f"{out}/{name}"))

def histogram(values):
    top = max(values)
    rel = [v / top for v in values]
    counts = [0] * NBINS
    zero = 0
    for r in rel:
        if r <= 10 ** LO:
            zero += 1
            continue
        i = min(NBINS - 1, int((math.log10(r) - LO) / BIN))
        counts[i] += 1
    n = len(values)
    return [c / n / BIN for c in counts], zero / n   # density per decade, fraction at ≈ 0

summary, spectra_rows, trace_rows, reduction_rows = [], [], [], []
panels = {}
for ds in DATASETS:
    data = load(f"{ds}-data-spectrum.json")["correlation"]["eigenvalues"]
    d_hist, d_zero = histogram([max(v, 0.0) for v in data])
    stages = {}
    for stage, _ in STAGES:
        s = load(f"{ds}-spectrum-{stage}.json")
        ev = [max(v, 0.0) for v in s["eigenvalues"]]
        h, z = histogram(ev)
        stages[stage] = (s, ev, h, z)
        for i, v in enumerate(h):
            spectra_rows.append(f"{ds},fim-{stage},{s['step']},{LO + i * BIN},{LO + (i + 1) * BIN},{v}")
        spectra_rows.append(f"{ds},fim-{stage},{s['step']},zero,{LO},{z}")
    for i, v in enumerate(d_hist):
        spectra_rows.append(f"{ds},data,,{LO + i * BIN},{LO + (i + 1) * BIN},{v}")
    spectra_rows.append(f"{ds},data,,zero,{LO},{d_zero}")
    train = load(f"{ds}-train.json")
    P = stages["first"][0]["parameters"]
    trace = []
    for c in train["series"]:
        g = [m for m in c["moments"]["matrices"] if m["matrix"] == "ggn"][0]["moments"][0]
        t = (g["exact"] if g.get("exact") is not None else g["estimate"]) * P
        trace.append((c["step"], t, c["loss"], c.get("accuracy")))
        trace_rows.append(f"{ds},{c['step']},{c['loss']},{c.get('accuracy') if c.get('accuracy') is not None else ''},{t},{t / P},{'exact' if g.get('exact') is not None else 'slq'}")
    monotone = all(b[1] >= a[1] for a, b in zip(trace, trace[1:]))
    peak = max(trace, key=lambda x: x[1])
    red = load(f"{ds}-reduction.json")
    for m in red["sweep"]:
        reduction_rows.append(f"{ds},{m['variant']},{m['k']},{m['fraction']},{m['loss']},{m['accuracy'] if m.get('accuracy') is not None else ''},{m['relative_distance']},{m['captured_share']}")
    panels[ds] = (data, d_hist, stages, trace, red, P)
    summary.append(f"== {ds}: P = {P}, matrix {stages['first'][0]['matrix']} ({stages['first'][0]['matrix_description']})")
    summary.append(f"   data correlation: d = {len(data)}, λ_max = {max(data):.4g}, λ_min/λ_max = {min(data) / max(data):.3g}"
                   f", decades spanned by nonzero eigenvalues = {math.log10(max(data) / min(v for v in data if v > ZERO * max(data))):.1f}")
    for stage, _ in STAGES:
        s, ev, h, z = stages[stage]
        nz = [v for v in ev if v > ZERO * max(ev)]
        n_stiff = sum(1 for v in ev if v > 1e-3 * max(ev))
        summary.append(f"   FIM {stage:6s} step {s['step']:5d}: λ_max = {max(ev):.4g}, tr = {sum(ev):.4g}, eigenvalues > 1e-13 λ_max: {len(nz)} "
                       f"spanning {math.log10(max(ev) / min(nz)):.1f} decades; > 1e-3 λ_max: {n_stiff} ({100 * n_stiff / len(ev):.1f} % of P); "
                       f"loss {s['loss']:.4g}" + ("" if s.get("accuracy") is None else f", accuracy {s['accuracy']:.4f}") + f"; worst residual {s['worst_residual']:.1e}")
    summary.append(f"   trace over training ({len(trace)} checkpoints): " + ", ".join(f"{t:.4g}" for _, t, _, _ in trace))
    summary.append(f"   monotone increasing: {monotone}; maximum {peak[1]:.4g} at step {peak[0]}")
    f = red["full"]
    summary.append(f"   reduction of the last checkpoint: full loss {f['loss']:.4g}" + ("" if f.get("accuracy") is None else f", accuracy {f['accuracy']:.4f}"))
    if red.get("initial"):
        summary.append(f"     init loss {red['initial']['loss']:.4g}" + ("" if red['initial'].get('accuracy') is None else f", accuracy {red['initial']['accuracy']:.4f}")
                       + f"; ‖w₀‖/‖w‖ = {red['initial_norm_ratio']:.3f}, ‖w − w₀‖/‖w‖ = {red['change_norm_ratio']:.3f}")
    for m in red["sweep"]:
        acc = "" if m.get("accuracy") is None else f" accuracy {m['accuracy']:.4f}"
        summary.append(f"     k = {m['k']:5d} ({100 * m['fraction']:6.2f} %) {m['variant']:8s} loss {m['loss']:.4g}{acc}  ‖w_k − w‖/‖w‖ {m['relative_distance']:.3f}")
open(f"{out}/spectra.csv", "w").write("dataset,spectrum,step,log10_low,log10_high,density_per_decade\n" + "\n".join(spectra_rows) + "\n")
open(f"{out}/trace.csv", "w").write("dataset,step,loss,accuracy,trace,trace_over_P,trace_method\n" + "\n".join(trace_rows) + "\n")
open(f"{out}/reduction.csv", "w").write("dataset,variant,k,fraction,loss,accuracy,relative_distance,captured_share\n" + "\n".join(reduction_rows) + "\n")
open(f"{out}/summary.txt", "w").write("\n".join(summary) + "\n")
print("\n".join(summary))

# ---- SVG helpers -------------------------------------------------------------------------
def esc(s): return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

def panel(x0, y0, w, h, title, curves, xlabel, ylabel, logx=False, logy=False, xr=None, yr=None):
    """curves: (label, color, dashed, [(x, y)], step); returns SVG elements."""
    pad_l, pad_b, pad_t = 62, 42, 28
    tx = (lambda v: math.log10(v)) if logx else (lambda v: v)
    ty = (lambda v: math.log10(v)) if logy else (lambda v: v)
    pts = [(tx(x), ty(y)) for c in curves for x, y in c[3] if (x > 0 or not logx) and (y > 0 or not logy)]
    xs, ys = [p[0] for p in pts] or [0, 1], [p[1] for p in pts] or [0, 1]
    x0r, x1r = xr if xr else (min(xs), max(xs))
    y0r, y1r = yr if yr else (min(ys), max(ys))
    if x1r - x0r < 1e-12: x1r = x0r + 1
    if y1r - y0r < 1e-12: y1r = y0r + 1
    if not yr:
        padding = 0.05 * (y1r - y0r); y0r -= padding; y1r += padding
    X = lambda v: x0 + pad_l + (v - x0r) / (x1r - x0r) * (w - pad_l - 10)
    Y = lambda v: y0 + h - pad_b - (v - y0r) / (y1r - y0r) * (h - pad_b - pad_t)
    g = [f'<text x="{x0 + w / 2}" y="{y0 + 18}" text-anchor="middle" font-size="13">{esc(title)}</text>',
         f'<line x1="{X(x0r)}" y1="{Y(y0r)}" x2="{X(x1r)}" y2="{Y(y0r)}" stroke="black"/>',
         f'<line x1="{X(x0r)}" y1="{Y(y0r)}" x2="{X(x0r)}" y2="{Y(y1r)}" stroke="black"/>',
         f'<text x="{x0 + pad_l + (w - pad_l) / 2}" y="{y0 + h - 8}" text-anchor="middle" font-size="11">{esc(xlabel)}</text>',
         f'<text transform="translate({x0 + 14} {y0 + h / 2}) rotate(-90)" text-anchor="middle" font-size="11">{esc(ylabel)}</text>']
    def ticks(a, b, log):
        if log:
            step = max(1, math.ceil((b - a) / 7))
            decades = [(e, f"1e{e}") for e in range(math.ceil(a), math.floor(b) + 1, step)]
            if len(decades) >= 2: return decades
            return [(a + (b - a) * i / 4, f"{10 ** (a + (b - a) * i / 4):.3g}") for i in range(5)]
        return [(a + (b - a) * i / 4, f"{a + (b - a) * i / 4:.4g}") for i in range(5)]
    for v, s in ticks(x0r, x1r, logx):
        g.append(f'<text x="{X(v):.1f}" y="{Y(y0r) + 14:.1f}" text-anchor="middle" font-size="10">{s}</text>')
    for v, s in ticks(y0r, y1r, logy):
        g.append(f'<text x="{X(x0r) - 4:.1f}" y="{Y(v) + 3:.1f}" text-anchor="end" font-size="10">{s}</text>')
    for i, (label, color, dashed, points, step) in enumerate(curves):
        p = [(tx(x), ty(y)) for x, y in points if (x > 0 or not logx) and (y > 0 or not logy)]
        p = [(x, y) for x, y in p if x0r <= x <= x1r]
        if not p: continue
        if step:  # histogram steps of width BIN starting at x
            seq = []
            for x, y in p: seq += [(x, y), (x + BIN, y)]
            p = seq
        coords = " ".join(f"{X(x):.1f},{Y(min(max(y, y0r), y1r)):.1f}" for x, y in p)
        dash = ' stroke-dasharray="5 3"' if dashed else ""
        g.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.6"{dash} points="{coords}"/>')
        if not step and len(p) <= 40:
            g += [f'<circle cx="{X(x):.1f}" cy="{Y(y):.1f}" r="2.2" fill="{color}"/>' for x, y in p]
        ly = y0 + pad_t + 6 + 13 * i
        g.append(f'<line x1="{x0 + w - 150}" y1="{ly}" x2="{x0 + w - 132}" y2="{ly}" stroke="{color}" stroke-width="2"{dash}/>')
        g.append(f'<text x="{x0 + w - 128}" y="{ly + 4}" font-size="10">{esc(label)}</text>')
    return g

def svg(w, h, title, body):
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif">\n'
            f'<rect width="100%" height="100%" fill="white"/>\n<text x="{w / 2}" y="20" text-anchor="middle" font-size="15">{esc(title)}</text>\n'
            + "\n".join(body) + "\n</svg>\n")

PW, PH = 400, 300
body = []
for row, ds in enumerate(DATASETS):
    data, d_hist, stages, trace, red, P = panels[ds]
    y0 = 30 + row * PH
    curves = [(f"FIM step {stages[s][0]['step']}", c, False, [(LO + i * BIN, v) for i, v in enumerate(stages[s][2]) if v > 0], True) for s, c in STAGES]
    curves.append(("data (1/T) XᵀX", "black", True, [(LO + i * BIN, v) for i, v in enumerate(d_hist) if v > 0], True))
    body += panel(0, y0, PW, PH, f"{ds}: eigenvalue density (P = {P}, exact)", curves, "log10 λ/λ_max", "fraction of eigenvalues per decade",
                  xr=(LO, 0.5))
    curves = []
    for s, c in STAGES:
        ev = sorted(stages[s][1], reverse=True)
        curves.append((f"FIM step {stages[s][0]['step']}", c, False, [((i + 0.5) / len(ev), v / ev[0]) for i, v in enumerate(ev)], False))
    dv = sorted(data, reverse=True)
    curves.append(("data (1/T) XᵀX", "black", True, [((i + 0.5) / len(dv), v / dv[0]) for i, v in enumerate(dv)], False))
    body += panel(PW, y0, PW, PH, f"{ds}: sorted eigenvalues", curves, "rank i / N", "λ_i / λ_max", logy=True, yr=(-16, 0.3))
    body += panel(2 * PW, y0, PW, PH, f"{ds}: tr FIM over training", [("tr FIM (exact)", "#8e44ad", False, [(s, t) for s, t, _, _ in trace], False)],
                  "step", "tr FIM")
open(f"{out}/fig2.svg", "w").write(svg(3 * PW, 2 * PH + 40, "Cowlagi & Chaudhari Fig. 2: FIM spectra at start (red), middle (green), end (blue) vs. data correlation (black dashed)", body))

body = []
colors = {"weights": "#c0392b", "change": "#1f5fa8"}
labels = {"weights": "w ≈ Σ⟨w,e_i⟩e_i", "change": "w ≈ w₀ + Σ⟨w−w₀,e_i⟩e_i"}
specs = [("digits", "accuracy", "digits: training accuracy"), ("digits", "loss", "digits: loss (cross-entropy)"), ("diabetes", "loss", "diabetes: loss (mse)")]
for i, (ds, field, title) in enumerate(specs):
    red = panels[ds][4]
    curves = []
    for v in ("weights", "change"):
        pts = [(m["k"], m[field]) for m in red["sweep"] if m["variant"] == v and m["k"] > 0 and m.get(field) is not None]
        curves.append((labels[v], colors[v], False, pts, False))
    full = red["full"][field]
    curves.append((f"full model ({full:.3g})", "black", True, [(1, full), (red["parameters"], full)], False))
    body += panel(i * PW, 30, PW, PH, title, curves, f"k kept (log; P = {red['parameters']})", field, logx=True, logy=(field == "loss"))
open(f"{out}/reduction.svg", "w").write(svg(3 * PW, PH + 40, "Model reduction on the top-k FIM eigenvectors of the trained model", body))
