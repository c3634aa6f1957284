#!/usr/bin/env python3
"""Aggregates bench/cowlagi-fig2a-cnn.sh: the SLQ densities of the FIM (G, cross-entropy's
classification Fisher) of the 9-layer CNN at the start, middle and end of training, normalized by
λ_max (the largest Ritz value), against the exact data correlation spectrum; the stiff fraction
(λ > 10⁻³ λ_max, the threshold bench/cowlagi-fig2 uses: the paper says "less than 5 % stiff
eigenvalues" without a number) per checkpoint with its standard error over the probes. Writes
spectra.csv, summary.txt and fig2a.svg (the MLP report's histogram and panel code).

    python3 bench/cowlagi-fig2a-cnn-report.py bench/results/cowlagi-fig2a-cnn
"""
import importlib.util, json, math, os, sys
out = sys.argv[1]
here = os.path.dirname(os.path.abspath(__file__))
# Reuse panel() and svg() of the MLP report without running it (its module code reads its results).
src = open(os.path.join(here, "cowlagi-fig2-report.py")).read()
helpers = src[src.index("# ---- SVG helpers"):src.index("PW, PH = 400, 300")]
STIFF = 1e-3          # stiff: λ > STIFF · λ_max
LO, BIN = -10.0, 0.25  # log10 grid of λ/λ_max: [1e-10, 1] (train's zero cutoff is 1e-10 λ_max)
NBINS = int(-LO / BIN)
ns = {"math": math, "BIN": BIN}
exec(helpers, ns)
panel, svg = ns["panel"], ns["svg"]
COLORS = ["#c0392b", "#27ae60", "#1f5fa8"]

def histogram(pairs):
    """pairs (λ/λ_max, weight) → density per decade on the grid, and the mass below 10^LO."""
    counts, low = [0.0] * NBINS, 0.0
    for r, w in pairs:
        if r <= 10 ** LO:
            low += w; continue
        counts[min(NBINS - 1, int((math.log10(r) - LO) / BIN))] += w
    total = sum(w for _, w in pairs)
    return [c / total / BIN for c in counts], low / total

train = json.load(open(f"{out}/train.json"))
P, T = train["parameters"], train["samples"]
data = json.load(open(f"{out}/data-spectrum.json"))["correlation"]["eigenvalues"]
dmax = max(data)
d_hist, d_low = histogram([(max(v, 0.0) / dmax, 1.0) for v in data])
d_stiff = sum(1 for v in data if v > STIFF * dmax) / len(data)
rows, summary, curves, sorted_curves = [], [], [], []
def floor(h):   # empty bins drawn at the axis floor, between the first and last nonempty bin
    nz = [j for j, v in enumerate(h) if v > 0]
    return [(LO + j * BIN, h[j] if h[j] > 0 else 1e-9) for j in range(nz[0], nz[-1] + 1)]
summary.append(f"9-layer CNN on Fashion-MNIST (T = {T}, 14×14 pooled), P = {P}; FIM = {train['series'][0]['spectrum']['matrix']} "
               f"(SLQ: {train['series'][0]['spectrum']['probes']} probes × {train['series'][0]['spectrum']['steps']} Lanczos steps)")
summary.append(f"data (1/T) XᵀX: d = {len(data)}, λ_max = {dmax:.4g}, decades to λ_min = {math.log10(dmax / min(v for v in data if v > 0)):.1f}, "
               f"stiff (> 1e-3 λ_max) {100 * d_stiff:.1f} % of d")
for i, c in enumerate(train["series"]):
    s = c["spectrum"]
    k, m = s["probes"], s["steps"]
    nodes, weights = s["nodes"], s["weights"]
    lmax = max(nodes)
    pairs = [(max(x, 0.0) / lmax, w) for x, w in zip(nodes, weights)]
    h, low = histogram(pairs)
    per_probe = []   # nodes come probe by probe, each probe's weights summing to 1/probes
    n = len(nodes) // k
    for p in range(k):
        per_probe.append(k * sum(w for x, w in zip(nodes[p * n:(p + 1) * n], weights[p * n:(p + 1) * n]) if x > STIFF * lmax))
    stiff = sum(per_probe) / k
    se = math.sqrt(sum((v - stiff) ** 2 for v in per_probe) / (k - 1) / k) if k > 1 else float("nan")
    tr = s["moments"][0]["estimate"] * P
    ritz_lo = min(x for x in nodes if x > 0) / lmax
    summary.append(f"step {c['step']:4d}: loss {c['loss']:.4f}, accuracy {c['accuracy']:.3f}, validation {c['validation_loss']:.4f} / {c['validation_accuracy']:.3f}; "
                   f"λ_max ≈ {lmax:.4g}, tr G ≈ {tr:.4g} (± {s['moments'][0]['standard_error'] * P:.2g}); "
                   f"stiff {100 * stiff:.2f} % ± {100 * se:.2f} % of P (probes: {', '.join(f'{100 * v:.2f}' for v in per_probe)}); "
                   f"mass below 1e-10 λ_max {100 * low:.1f} %; smallest positive Ritz value {ritz_lo:.2g} λ_max")
    for j, v in enumerate(h):
        rows.append(f"fim,{c['step']},{LO + j * BIN},{LO + (j + 1) * BIN},{v}")
    rows.append(f"fim,{c['step']},below,{LO},{low}")
    curves.append((f"FIM step {c['step']} (stiff {100 * stiff:.1f} %)", COLORS[i % 3], False, floor(h), True))
    ranked = sorted(pairs, reverse=True)   # counting function: fraction of P at or above each Ritz value
    acc, pts = 0.0, []
    for r, w in ranked:
        pts += [(min(acc, 1.0), r), (min(acc + w, 1.0), r)]; acc += w   # rounding: Σ w may exceed 1 by ulps
    sorted_curves.append((f"FIM step {c['step']} (SLQ nodes)", COLORS[i % 3], False, pts, False))
def slq_stiff(nodes, weights, k):
    """Stiff fraction (weight of the Ritz nodes above STIFF × the largest) and its standard error over the k probes."""
    top, n = max(nodes), len(nodes) // k
    per = [k * sum(w for x, w in zip(nodes[p * n:(p + 1) * n], weights[p * n:(p + 1) * n]) if x > STIFF * top) for p in range(k)]
    mean = sum(per) / k
    return mean, math.sqrt(sum((v - mean) ** 2 for v in per) / (k - 1) / k)
fisher_slq = {}
if os.path.exists(f"{out}/train-fisher-slq.json"):
    for c in json.load(open(f"{out}/train-fisher-slq.json"))["series"]:
        fisher_slq[c["step"]] = (c["loss"],) + slq_stiff(c["nodes"], c["weights"], c["probes"])
exact_curves = []
for i, c in enumerate(train["series"]):
    e = json.load(open(f"{out}/exact-fisher-{c['step']}.json"))
    ev = sorted((max(v, 0.0) for v in e["eigenvalues"]), reverse=True) + [0.0] * max(0, P - len(e["eigenvalues"]))
    top = ev[0]
    nz = [v for v in ev if v > 1e-13 * top]
    st = sum(1 for v in ev if v > STIFF * top)
    summary.append(f"exact F step {c['step']:4d}: λ_max = {top:.4g}, tr F = {sum(ev):.4g}, nonzero (> 1e-13 λ_max) {len(nz)} of P = {P} "
                   f"spanning {math.log10(top / nz[-1]):.1f} decades, median nonzero λ/λ_max {nz[len(nz) // 2] / top:.2g}; "
                   f"stiff {st} = {100 * st / P:.2f} % of P ({100 * st / len(nz):.2f} % of the nonzero)"
                   + ("" if c["step"] not in fisher_slq else
                      f"; SLQ of F on the same weights (loss {fisher_slq[c['step']][0]:.4f}): stiff {100 * fisher_slq[c['step']][1]:.2f} % ± {100 * fisher_slq[c['step']][2]:.2f} %"))
    h, low = histogram([(v / top, 1.0) for v in ev])
    for j, v in enumerate(h):
        rows.append(f"exact-fisher,{c['step']},{LO + j * BIN},{LO + (j + 1) * BIN},{v}")
    rows.append(f"exact-fisher,{c['step']},below,{LO},{low}")
    exact_curves.append((f"F step {c['step']}: {100 * st / P:.1f} % stiff", COLORS[i % 3], False,
                         [((j + 0.5) / P, max(v, 1e-300) / top) for j, v in enumerate(ev)], False))
for j, v in enumerate(d_hist):
    rows.append(f"data,,{LO + j * BIN},{LO + (j + 1) * BIN},{v}")
rows.append(f"data,,below,{LO},{d_low}")
curves.append((f"data XXᵀ (stiff {100 * d_stiff:.1f} %)", "black", True, floor(d_hist), True))
dv = sorted(data, reverse=True)
sorted_curves.append(("data XXᵀ (exact)", "black", True, [((j + 0.5) / len(dv), max(v, 1e-300) / dmax) for j, v in enumerate(dv)], False))
open(f"{out}/spectra.csv", "w").write("spectrum,step,log10_low,log10_high,fraction_per_decade\n" + "\n".join(rows) + "\n")
open(f"{out}/summary.txt", "w").write("\n".join(summary) + "\n")
print("\n".join(summary))
PW, PH = 520, 380
body = panel(0, 30, PW, PH, f"density: 9-layer CNN (P = {P}), Fashion-MNIST T = {T}", curves,
             "log10 λ/λ_max", "fraction of eigenvalues per decade", logy=True, xr=(LO, 0), yr=(-4.5, 1))
body += panel(PW, 30, PW, PH, "sorted eigenvalues (SLQ counting function)", sorted_curves,
              "fraction i/N at or above", "λ / λ_max", logy=True, xr=(0, 1), yr=(LO, 0.2))
exact_curves.append(sorted_curves[-1])
body += panel(2 * PW, 30, PW, PH, "exact F = (1/T) JᵀJ (all P eigenvalues)", exact_curves,
              "fraction i/N at or above", "λ / λ_max", logy=True, xr=(0, 1), yr=(-16, 0.2))
open(f"{out}/fig2a.svg", "w").write(svg(3 * PW, PH + 40, "Cowlagi & Chaudhari Fig. 2a with a CNN: FIM at start (red), middle (green), end (blue); data XXᵀ black dashed", body))
