#!/usr/bin/env python3
"""Aggregates bench/lou-fig3.sh runs: per (L, seed) the layer alignments A_l after training and
the peak layer l* = argmax_l A_l; least-squares fits log l* = 3/5 log L + C (C free) and
log l* = a log L + b (a with its standard error); writes alignments.csv, peaks.csv and
fig3.svg (A_l / max_l A_l as a heat map over (L, l), like Lou et al. Fig. 3, with the fits).

The same fits for other definitions of the peak, from the same A_l (peak-definitions.csv and
fit.json "definitions"; profiles.svg draws A_l / max A_l against l / L per depth):
  argmax     l* = argmax_l A_l (the paper's × in Fig. 3)
  smooth3    argmax of the 3-layer moving average (A_(l−1) + A_l + A_(l+1)) / 3 (2 at the ends)
  halfmax    centroid Σ l A_l / Σ A_l over the layers with A_l ≥ max A / 2
  excess     centroid Σ l (A_l − min A) / Σ (A_l − min A) over all layers
The standard errors are ordinary least squares over all (L, seed) points, seeds counted as
independent; with two seeds per depth they are a rough guide, not a confidence statement.

    python3 bench/lou-fig3-report.py bench/results/lou-fig3
"""
import glob, json, math, os, re, sys
out = sys.argv[1]
runs = []
for path in sorted(glob.glob(f"{out}/runs/align-L*-s*.json")):
    L, seed = map(int, re.search(r"align-L(\d+)-s(\d+)\.json$", path).groups())
    a = json.load(open(path))
    tpath = path.replace("/align-", "/train-")
    t = json.load(open(tpath)) if os.path.exists(tpath) else {}
    last = (t.get("series") or [{}])[-1]
    ipath = path.replace("/align-", "/align-init-")
    init = json.load(open(ipath)) if os.path.exists(ipath) else None
    runs.append({"L": L, "seed": seed, "A": [l["alignment"] for l in a["layers"]], "peak": a["peak_layer"],
                 "method": a["method"], "init_peak": init["peak_layer"] if init else None,
                 "init_peak_alignment": init["peak_alignment"] if init else None, "samples": a["samples"], "samples_trained": t.get("samples"), "loss": last.get("loss"), "accuracy": last.get("accuracy"),
                 "validation_loss": last.get("validation_loss"), "validation_accuracy": last.get("validation_accuracy"),
                 "inputs": t.get("configuration", {}).get("inputs", ""), "pool": t.get("configuration", {}).get("pool", 1),
                 "optimizer": (t.get("training", {}).get("optimizer") or {}).get("method", "sgd") if isinstance(t.get("training", {}).get("optimizer"), dict) else "sgd",
                 "steps": t.get("steps_taken"), "stopped": t.get("stopped_because"),
                 "lr": t.get("training", {}).get("learning_rate"), "width": t.get("configuration", {}).get("width"),
                 "train_seconds": t.get("timings", {}).get("total_seconds"), "align_seconds": a["timings"]["total_seconds"]})
if not runs:
    sys.exit(f"no runs in {out}/runs")
runs.sort(key=lambda r: (r["L"], r["seed"]))
if "fashion" in runs[0]["inputs"].lower():
    dataset_label = f"Fashion-MNIST ({runs[0]['samples_trained']} images" + (f", pooled {runs[0]['pool']}×{runs[0]['pool']}" if runs[0]["pool"] > 1 else "") + f", {runs[0]['optimizer']})"
else:
    dataset_label = "the 8×8 digits"

with open(f"{out}/alignments.csv", "w") as f:
    f.write("L,seed,layer,alignment,alignment_over_max,is_peak\n")
    for r in runs:
        m = max(r["A"])
        for i, v in enumerate(r["A"]):
            f.write(f"{r['L']},{r['seed']},{i + 1},{v},{v / m},{int(i + 1 == r['peak'])}\n")
with open(f"{out}/peaks.csv", "w") as f:
    f.write("L,seed,width,lr,steps,stopped_because,train_loss,train_accuracy,peak_layer,peak_alignment,init_peak_layer,init_peak_alignment,align_samples,train_seconds,align_seconds,validation_loss,validation_accuracy\n")
    for r in runs:
        f.write(f"{r['L']},{r['seed']},{r['width']},{r['lr']},{r['steps']},{r['stopped']},{r['loss']},{r['accuracy']},"
                f"{r['peak']},{max(r['A'])},{r['init_peak']},{r['init_peak_alignment']},{r['samples']},{r['train_seconds']},{r['align_seconds']},{r['validation_loss']},{r['validation_accuracy']}\n")

# Fits over the trained runs (stopped at the target loss); runs that used up their steps
# without reaching it are listed and drawn, but not fitted (FIT_ALL=1 fits every run).
def fits(rs):
    xs = [math.log(r["L"]) for r in rs]
    ys = [math.log(r["peak"]) for r in rs]
    n = len(xs)
    if n == 0:
        return None
    C = sum(y - 0.6 * x for x, y in zip(xs, ys)) / n
    rss_fixed = sum((y - 0.6 * x - C) ** 2 for x, y in zip(xs, ys))
    xm, ym = sum(xs) / n, sum(ys) / n
    sxx = sum((x - xm) ** 2 for x in xs)
    free = None
    if sxx > 0 and n >= 3:
        a = sum((x - xm) * (y - ym) for x, y in zip(xs, ys)) / sxx
        b = ym - a * xm
        rss = sum((y - a * x - b) ** 2 for x, y in zip(xs, ys))
        free = (a, b, math.sqrt(rss / (n - 2) / sxx), rss)
    return n, C, rss_fixed, free
for r in runs:
    r["trained"] = r["stopped"] == "target loss"
fitted = runs if os.environ.get("FIT_ALL") == "1" else [r for r in runs if r["trained"]]
everything = fits(runs)
xs = [math.log(r["L"]) for r in runs]
ys = [math.log(r["peak"]) for r in runs]
n = len(fitted)
if n == 0:
    sys.exit("no trained runs to fit (set FIT_ALL=1 to fit every run)")
_, C, rss_fixed, fit = fits(fitted)
print(f"{'L':>4s} {'seed':>4s} {'steps':>6s} {'loss':>9s} {'acc':>6s} {'l*':>4s} {'A_l*':>8s} {'init l*':>7s}   A_l / max (first 10 layers)")
for r in runs:
    m = max(r["A"])
    print(f"{r['L']:4d} {r['seed']:4d} {r['steps'] or 0:6d} {r['loss'] or float('nan'):9.4f} {r['accuracy'] or float('nan'):6.3f} {r['peak']:4d} {m:8.4f} {r['init_peak'] or 0:7d}   "
          + " ".join(f"{v / m:.2f}" for v in r["A"][:10]))
left_out = [f"L={r['L']} seed {r['seed']} (loss {r['loss']:.3g} after {r['steps']} steps)" for r in runs if r not in fitted]
print(f"fitted: {n} runs" + (f"; not fitted (did not reach the target loss): {', '.join(left_out)}" if left_out else ""))
print(f"fixed slope 3/5: log l* = 0.6 log L + C, C = {C:.4f} (l* = {math.exp(C):.3f} L^0.6), residual sum of squares {rss_fixed:.4f}")
if fit:
    a, b, se_a, rss = fit
    print(f"free fit:        log l* = a log L + b, a = {a:.3f} ± {se_a:.3f} (standard error, {n} points), b = {b:.3f}, residual sum of squares {rss:.4f}")
if left_out and everything and everything[3]:
    print(f"every run:       C = {everything[1]:.4f}; a = {everything[3][0]:.3f} ± {everything[3][2]:.3f}, b = {everything[3][1]:.3f} ({everything[0]} points)")
summary = {"points": n, "left_out": left_out, "C_fixed_slope": C, "rss_fixed_slope": rss_fixed}
if fit:
    summary.update({"a": fit[0], "a_standard_error": fit[2], "b": fit[1], "rss_free": fit[3]})
if everything and everything[3]:
    summary.update({"every_run": {"points": everything[0], "C_fixed_slope": everything[1], "a": everything[3][0],
                                  "a_standard_error": everything[3][2], "b": everything[3][1]}})
json.dump(summary, open(f"{out}/fit.json", "w"), indent=1)

# SVG: left, the heat map of A_l / max_l A_l over (L, l) with one column per run (seeds side by
# side within a depth), peaks marked, and the fitted curves l = e^C L^0.6 and e^b L^a; right,
# log l* against log L with both fits.
depths = sorted({r["L"] for r in runs})
Lmax = max(depths)
W, H, pad = 1000, 480, 60
pw = 560
STOPS = [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)]  # viridis
def color(t):
    # dark violet (low) → bright yellow (high), like the paper's colour map.
    t = max(0.0, min(1.0, t)) * (len(STOPS) - 1)
    i = min(int(t), len(STOPS) - 2)
    f = t - i
    return "#%02x%02x%02x" % tuple(int(a + (b - a) * f) for a, b in zip(STOPS[i], STOPS[i + 1]))
g = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="11">',
     '<rect width="100%" height="100%" fill="white"/>',
     f'<text x="{W / 2}" y="20" text-anchor="middle" font-size="{14 if len(dataset_label) < 30 else 12}">Lou et al. Fig. 3 on {dataset_label}: A_l / max_l A_l after training (ReLU, He init, no biases, width {runs[0]["width"]})</text>']
x0, y0, x1, y1 = pad, 40, pw - 20, H - pad
slot = (x1 - x0) / len(depths)
Y = lambda l: y1 - (l - 0.5) / Lmax * (y1 - y0)
XL = lambda L: x0 + (depths.index(L) + 0.5) * slot if L in depths else None
for di, L in enumerate(depths):
    rs = [r for r in runs if r["L"] == L]
    cw = slot * 0.8 / len(rs)
    for si, r in enumerate(rs):
        cx = x0 + di * slot + slot * 0.1 + si * cw
        m = max(r["A"])
        for i, v in enumerate(r["A"]):
            l = i + 1
            g.append(f'<rect x="{cx:.2f}" y="{Y(l + 0.5):.2f}" width="{cw:.2f}" height="{(y1 - y0) / Lmax + 0.3:.2f}" fill="{color(v / m)}"/>')
        g.append(f'<text x="{cx + cw / 2:.2f}" y="{Y(r["peak"]) + 4:.2f}" text-anchor="middle" font-size="12" fill="#d00" font-weight="bold">×</text>')
        if not r["trained"]:
            g.append(f'<text x="{cx + cw / 2:.2f}" y="{Y(L + 0.5) - 4:.2f}" text-anchor="middle" font-size="9" fill="#900">loss {r["loss"]:.2g}</text>')
    g.append(f'<text x="{x0 + (di + 0.5) * slot:.2f}" y="{y1 + 16}" text-anchor="middle">{L}</text>')
for l in range(0, Lmax + 1, 10 if Lmax > 20 else 5):
    if l:
        g.append(f'<text x="{x0 - 6}" y="{Y(l) + 4:.2f}" text-anchor="end">{l}</text>')
g.append(f'<text x="{x0}" y="{H - 20}">depth L (one column per seed; × = peak layer l*)</text>')
g.append(f'<text transform="translate(18 {(y0 + y1) / 2}) rotate(-90)" text-anchor="middle">layer l</text>')
for i in range(11):
    g.append(f'<rect x="{x1 - 110 + 10 * i}" y="{H - 30}" width="10" height="10" fill="{color(i / 10)}"/>')
g.append(f'<text x="{x1 - 116}" y="{H - 21}" text-anchor="end">A_l / max A_l: 0</text><text x="{x1 + 4}" y="{H - 21}">1</text>')
def curve(f, stroke, dash):
    pts = []
    for L in depths:
        pts.append(f"{XL(L):.2f},{Y(f(L)):.2f}")
    return f'<polyline fill="none" stroke="{stroke}" stroke-width="2" {dash} points="{" ".join(pts)}"/>'
g.append(curve(lambda L: math.exp(C) * L ** 0.6, "#0bf", ""))
if fit:
    g.append(curve(lambda L: math.exp(fit[1]) * L ** fit[0], "#f0f", 'stroke-dasharray="6 3"'))
# Right panel: log-log.
rx0, rx1 = pw + 60, W - 30
lx = [math.log(L) for L in depths]
ly = ys + [0.6 * x + C for x in lx] + ([fit[0] * x + fit[1] for x in lx] if fit else [])
lx0, lx1 = min(lx) - 0.1, max(lx) + 0.1
ly0, ly1 = min(ly) - 0.2, max(ly) + 0.2
PX = lambda x: rx0 + (x - lx0) / (lx1 - lx0) * (rx1 - rx0)
PY = lambda y: y1 - (y - ly0) / (ly1 - ly0) * (y1 - y0)
g += [f'<line x1="{rx0}" y1="{y1}" x2="{rx1}" y2="{y1}" stroke="black"/>', f'<line x1="{rx0}" y1="{y0}" x2="{rx0}" y2="{y1}" stroke="black"/>',
      f'<text x="{(rx0 + rx1) / 2}" y="{H - 20}" text-anchor="middle">depth L (log scale)</text>',
      f'<text transform="translate({rx0 - 40} {(y0 + y1) / 2}) rotate(-90)" text-anchor="middle">peak layer l* (log scale)</text>']
for L in depths:
    g.append(f'<text x="{PX(math.log(L)):.2f}" y="{y1 + 16}" text-anchor="middle">{L}</text>')
for l in [1, 2, 3, 5, 7, 10, 15, 20, 30, 40, 60, 80]:
    if ly0 <= math.log(l) <= ly1:
        g.append(f'<text x="{rx0 - 6}" y="{PY(math.log(l)) + 4:.2f}" text-anchor="end">{l}</text>')
for r, x, y in zip(runs, xs, ys):
    g.append(f'<circle cx="{PX(x):.2f}" cy="{PY(y):.2f}" r="4" fill="none" stroke="{"#333" if r in fitted else "#bbb"}"/>')
if left_out:
    g.append(f'<text x="{rx0 + 8}" y="{y0 + 44}" fill="#999">grey: not trained to the target loss, not fitted</text>')
g.append(f'<line x1="{PX(lx0):.2f}" y1="{PY(0.6 * lx0 + C):.2f}" x2="{PX(lx1):.2f}" y2="{PY(0.6 * lx1 + C):.2f}" stroke="#0bf" stroke-width="2"/>')
g.append(f'<text x="{rx0 + 8}" y="{y0 + 12}" fill="#0a8">log l* = 3/5 log L + C, C = {C:.3f}</text>')
if fit:
    a, b, se_a, _ = fit
    g.append(f'<line x1="{PX(lx0):.2f}" y1="{PY(a * lx0 + b):.2f}" x2="{PX(lx1):.2f}" y2="{PY(a * lx1 + b):.2f}" stroke="#f0f" stroke-width="2" stroke-dasharray="6 3"/>')
    g.append(f'<text x="{rx0 + 8}" y="{y0 + 28}" fill="#c0c">best fit: a = {a:.2f} ± {se_a:.2f}, b = {b:.2f}</text>')
g.append("</svg>")
open(f"{out}/fig3.svg", "w").write("\n".join(g) + "\n")

# Other definitions of the peak, from the same A_l.
def smooth3(A):
    m = [sum(A[max(0, i - 1):i + 2]) / len(A[max(0, i - 1):i + 2]) for i in range(len(A))]
    return float(max(range(len(A)), key=lambda i: m[i]) + 1)
def halfmax(A):
    top = [(i + 1, v) for i, v in enumerate(A) if v >= max(A) / 2]
    return sum(l * v for l, v in top) / sum(v for _, v in top)
def excess(A):
    lo = min(A)
    w = [v - lo for v in A]
    return sum((i + 1) * v for i, v in enumerate(w)) / sum(w) if sum(w) > 0 else (len(A) + 1) / 2
DEFINITIONS = {"argmax": lambda A: float(max(range(len(A)), key=lambda i: A[i]) + 1), "smooth3": smooth3,
               "halfmax": halfmax, "excess": excess}
def loglog(points):
    xs = [math.log(L) for L, _ in points]; ys = [math.log(v) for _, v in points]
    n = len(xs); xm, ym = sum(xs) / n, sum(ys) / n
    C = sum(y - 0.6 * x for x, y in zip(xs, ys)) / n
    res = {"points": n, "C_fixed_slope": C, "rss_fixed_slope": sum((y - 0.6 * x - C) ** 2 for x, y in zip(xs, ys))}
    sxx = sum((x - xm) ** 2 for x in xs)
    if n >= 3 and sxx > 0:
        a = sum((x - xm) * (y - ym) for x, y in zip(xs, ys)) / sxx
        b = ym - a * xm
        rss = sum((y - a * x - b) ** 2 for x, y in zip(xs, ys))
        res.update({"a": a, "a_standard_error": math.sqrt(rss / (n - 2) / sxx), "b": b, "rss_free": rss,
                    "t_vs_three_fifths": (a - 0.6) / math.sqrt(rss / (n - 2) / sxx) if rss > 0 else None})
    return res
with open(f"{out}/peak-definitions.csv", "w") as f:
    f.write("L,seed,fitted," + ",".join(DEFINITIONS) + "," + ",".join(f"{d}_over_L" for d in DEFINITIONS) + "\n")
    for r in runs:
        v = [DEFINITIONS[d](r["A"]) for d in DEFINITIONS]
        f.write(f"{r['L']},{r['seed']},{int(r in fitted)}," + ",".join(f"{x:.4f}" for x in v) + "," + ",".join(f"{x / r['L']:.4f}" for x in v) + "\n")
definitions = {d: loglog([(r["L"], DEFINITIONS[d](r["A"])) for r in fitted]) for d in DEFINITIONS}
print("peak definitions (fitted runs): slope a ± SE of log(peak) = a log L + b, (a − 3/5)/SE, mean peak / L per depth")
for d, res in definitions.items():
    frac = {L: [DEFINITIONS[d](r["A"]) / L for r in fitted if r["L"] == L] for L in depths}
    fr = " ".join(f"{L}:{sum(v) / len(v):.2f}" for L, v in frac.items() if v)
    if "a" in res:
        t = res["t_vs_three_fifths"]
        print(f"  {d:8s} a = {res['a']:.3f} ± {res['a_standard_error']:.3f}  ({'%.1f' % t if t is not None else '—'} SE from 3/5)   peak/L: {fr}")
    else:
        print(f"  {d:8s} (too few points for a free fit)   peak/L: {fr}")
summary["definitions"] = definitions

# Earlier checkpoints (bench/lou-fig3.sh ALIGN_STEPS): the same fits on the alignments at step k,
# over the (L, seed) runs that have both that checkpoint and a final alignment, next to the final
# alignments of the same runs.
early = {}
for path in sorted(glob.glob(f"{out}/runs/align-step*-L*-s*.json")):
    k, L, seed = map(int, re.search(r"align-step(\d+)-L(\d+)-s(\d+)\.json$", path).groups())
    early.setdefault(k, {})[(L, seed)] = [l["alignment"] for l in json.load(open(path))["layers"]]
final = {(r["L"], r["seed"]): r for r in runs}
by_step = {}
if early:
    with open(f"{out}/peaks-by-step.csv", "w") as f:
        f.write("step,L,seed,train_loss_at_step," + ",".join(DEFINITIONS) + "\n")
        for k in sorted(early):
            for (L, seed), A in sorted(early[k].items()):
                t = json.load(open(f"{out}/runs/train-L{L}-s{seed}.json"))
                loss = next((c["loss"] for c in t["series"] if c["step"] == k), float("nan"))
                f.write(f"{k},{L},{seed},{loss}," + ",".join(f"{DEFINITIONS[d](A):.4f}" for d in DEFINITIONS) + "\n")
    print("earlier checkpoints: slope a ± SE at step k, against the final alignments of the same runs")
    for k in sorted(early):
        keys = [key for key in sorted(early[k]) if key in final]
        by_step[k] = {}
        for d in ("argmax", "excess"):
            at_k = loglog([(L, DEFINITIONS[d](early[k][(L, s_)])) for L, s_ in keys])
            at_end = loglog([(L, DEFINITIONS[d](final[(L, s_)]["A"])) for L, s_ in keys])
            by_step[k][d] = {"at_step": at_k, "final": at_end}
            if "a" in at_k and "a" in at_end:
                print(f"  step {k:5d}, {d:7s}: a = {at_k['a']:.3f} ± {at_k['a_standard_error']:.3f}   final: a = {at_end['a']:.3f} ± {at_end['a_standard_error']:.3f}   ({len(keys)} runs)")
    summary["by_step"] = {str(k): v for k, v in by_step.items()}
json.dump(summary, open(f"{out}/fit.json", "w"), indent=1)

# profiles.svg: A_l / max_l A_l against l / L, the mean over seeds per depth, one line per depth:
# if the curves collapse, the peak sits at a fixed fraction of the depth (slope 1, not 3/5).
PW, PH, m0 = 640, 400, 60
px0, py0, px1, py1 = m0, 40, PW - 150, PH - 50
p = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{PW}" height="{PH}" viewBox="0 0 {PW} {PH}" font-family="sans-serif" font-size="11">',
     '<rect width="100%" height="100%" fill="white"/>',
     f'<text x="{PW / 2}" y="20" text-anchor="middle" font-size="{13 if len(dataset_label) < 30 else 11}">{dataset_label}: A_l / max A_l against l / L (mean over seeds)</text>',
     f'<line x1="{px0}" y1="{py1}" x2="{px1}" y2="{py1}" stroke="black"/>', f'<line x1="{px0}" y1="{py0}" x2="{px0}" y2="{py1}" stroke="black"/>']
for i in range(6):
    v = i / 5
    p.append(f'<text x="{px0 + v * (px1 - px0):.1f}" y="{py1 + 16}" text-anchor="middle">{v:.1f}</text>')
    p.append(f'<text x="{px0 - 6}" y="{py1 - v * (py1 - py0) + 4:.1f}" text-anchor="end">{v:.1f}</text>')
p.append(f'<text x="{(px0 + px1) / 2}" y="{PH - 14}" text-anchor="middle">l / L</text>')
p.append(f'<text transform="translate(18 {(py0 + py1) / 2}) rotate(-90)" text-anchor="middle">A_l / max_l A_l</text>')
for k, L in enumerate(depths):
    rs = [r for r in runs if r["L"] == L]
    prof = [sum(r["A"][i] / max(r["A"]) for r in rs) / len(rs) for i in range(L)]
    col = color(k / max(1, len(depths) - 1) * 0.9)
    pts = " ".join(f"{px0 + (i + 1) / L * (px1 - px0):.1f},{py1 - v * (py1 - py0):.1f}" for i, v in enumerate(prof))
    p.append(f'<polyline fill="none" stroke="{col}" stroke-width="2" points="{pts}"/>')
    p.append(f'<line x1="{px1 + 16}" y1="{py0 + 10 + 16 * k}" x2="{px1 + 36}" y2="{py0 + 10 + 16 * k}" stroke="{col}" stroke-width="2"/>')
    p.append(f'<text x="{px1 + 42}" y="{py0 + 14 + 16 * k}">L = {L} ({len(rs)} seed{"s" if len(rs) > 1 else ""})</text>')
p.append("</svg>")
open(f"{out}/profiles.svg", "w").write("\n".join(p) + "\n")
print(f"wrote {out}/alignments.csv, {out}/peaks.csv, {out}/peak-definitions.csv, {out}/fit.json, {out}/fig3.svg, {out}/profiles.svg")
