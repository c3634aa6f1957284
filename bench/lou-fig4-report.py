#!/usr/bin/env python3
"""Aggregates bench/lou-fig4.sh runs: per architecture and seed the layer alignments A_l (with the
layer names, state-dict prefixes) and the peak layer; writes alignments.csv (one row per run and
layer), peaks.csv (per architecture: the peak's relative depth per seed) and fig4.svg (A_l /
max_l A_l against the relative depth l/L, one panel per architecture, a line per seed, like the
columns of Lou et al. Fig. 4 at initialization).

    python3 bench/lou-fig4-report.py bench/results/lou-fig4

With --trained DIR, runs bench/lou-fig4-trained-report.py DIR (the runs of `bench/lou-fig4.sh --trained`).
"""
import glob, json, os, re, runpy, sys
if len(sys.argv) == 3 and sys.argv[1] == "--trained":
    sys.argv = [sys.argv[0], sys.argv[2]]
    runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), "lou-fig4-trained-report.py"), run_name="__main__")
    sys.exit(0)
if len(sys.argv) != 2:
    sys.exit("usage: lou-fig4-report.py [--trained] DIR")
out = sys.argv[1]
runs = {}
for path in sorted(glob.glob(f"{out}/runs/*-s*.json")):
    m = re.search(r"/([a-z0-9]+)-s(\d+)\.json$", path)
    if not m:
        continue
    r = json.load(open(path))
    runs.setdefault(m.group(1), []).append({"seed": int(m.group(2)), "layers": r["layers"], "peak": r["peak_layer"],
                                             "method": r["method"], "samples": r["samples"], "parameters": r["parameters"],
                                             "seconds": r["timings"]["total_seconds"]})
if not runs:
    sys.exit(f"no runs in {out}/runs")
order = [a for a in ("ffnn", "resnet", "vgg") if a in runs] + sorted(a for a in runs if a not in ("ffnn", "resnet", "vgg"))
with open(f"{out}/alignments.csv", "w") as f:
    f.write("architecture,seed,layer,name,parameters,alignment,alignment_over_max,stable_rank,is_peak\n")
    for a in order:
        for r in runs[a]:
            top = max(l["alignment"] for l in r["layers"])
            for l in r["layers"]:
                f.write(f"{a},{r['seed']},{l['layer']},{l.get('name', '')},{l['parameters']},{l['alignment']},{l['alignment'] / top},"
                        f"{l['stable_rank']},{int(l['layer'] == r['peak'])}\n")
with open(f"{out}/peaks.csv", "w") as f:
    f.write("architecture,seed,layers,peak_layer,peak_name,peak_relative_depth,peak_alignment,method,samples,parameters,seconds\n")
    for a in order:
        for r in runs[a]:
            L = len(r["layers"])
            p = r["layers"][r["peak"] - 1]
            f.write(f"{a},{r['seed']},{L},{r['peak']},{p.get('name', '')},{r['peak'] / L},{p['alignment']},{r['method']},{r['samples']},"
                    f"{r['parameters']},{r['seconds']}\n")
            print(f"{a:7s} seed {r['seed']}: L = {L:2d}, peak layer {r['peak']:2d} ({p.get('name', '')}, l/L = {r['peak'] / L:.2f}), "
                  f"A = {p['alignment']:.4f}, {r['method']}, {r['seconds']:.1f} s")

# fig4.svg: one panel per architecture.
pw, ph, gap, left, bottom, top = 260, 220, 30, 50, 40, 40
W = left + len(order) * (pw + gap)
H = top + ph + bottom
colors = ["#1f5fa8", "#c0392b", "#27ae60", "#8e44ad", "#d35400"]
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="11">',
       f'<text x="{W / 2}" y="16" text-anchor="middle" font-size="13">Layerwise alignment A_l / max A_l at initialization, '
       f'Fashion-MNIST ({runs[order[0]][0]["samples"]} images, 14×14)</text>']
for i, a in enumerate(order):
    x0 = left + i * (pw + gap)
    svg.append(f'<rect x="{x0}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>')
    svg.append(f'<text x="{x0 + pw / 2}" y="{top - 6}" text-anchor="middle">{a}</text>')
    for t in (0, 0.5, 1):
        svg.append(f'<text x="{x0 + t * pw}" y="{top + ph + 14}" text-anchor="middle">{t:g}</text>')
        svg.append(f'<text x="{x0 - 4}" y="{top + ph - t * ph + 4}" text-anchor="end">{t:g}</text>')
    for k, r in enumerate(runs[a]):
        L = len(r["layers"])
        m = max(l["alignment"] for l in r["layers"])
        pts = " ".join(f'{x0 + l["layer"] / L * pw:.1f},{top + ph - l["alignment"] / m * ph:.1f}' for l in r["layers"])
        c = colors[k % len(colors)]
        svg.append(f'<polyline fill="none" stroke="{c}" stroke-width="1.5" points="{pts}"/>')
        svg.append(f'<text x="{x0 + pw - 4}" y="{top + 14 + 12 * k}" text-anchor="end" fill="{c}">seed {r["seed"]}</text>')
svg.append(f'<text x="{W / 2}" y="{H - 6}" text-anchor="middle">relative depth l / L (layers = modules with parameters)</text>')
svg.append("</svg>")
open(f"{out}/fig4.svg", "w").write("\n".join(svg) + "\n")
print(f"wrote {out}/alignments.csv, {out}/peaks.csv, {out}/fig4.svg")
