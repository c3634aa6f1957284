#!/usr/bin/env python3
"""Aggregates `bench/lou-fig4.sh --trained` (Lou et al. Fig. 4: the alignment hierarchy after
training over batch sizes × learning rates). Per run (network, seed, batch B, η): the final
training loss and accuracy, the test loss and accuracy (the held-out images), the generalization
loss gap (test loss − training loss, the paper's number in each panel), how training ended
(target loss reached, epoch cap, diverged), and the layer alignments A_l (their eq. 7) of the
final model with the peak layer l* = argmax_l A_l; also A_l at initialization (step 0, the same
for every B and η of a seed: checked through the step-0 loss).

Writes runs.csv (one row per run; also the excess centroid Σ l (A_l − min A) / Σ (A_l − min A)),
correlations.csv (per network, of max_l A_l with the test accuracy, test loss, loss gap and
training loss over the runs), alignments.csv (one row per run and layer, with the
initial A_l), settings.csv (per network, B, η: means over seeds) and fig4.svg: per network a
grid of panels, rows B and columns η as in the paper's Fig. 4, each with A_l against the layer
(bars: mean over seeds, dots: seeds, grey line: at initialization, peak bar dark), the panel's
background coloured by the test loss (colour bar below the grid) and the loss gap in its top left
corner; runs that stopped at the epoch cap say so, diverged runs are marked.

    python3 bench/lou-fig4-trained-report.py bench/results/lou-fig4/trained
"""
import glob, json, os, re, sys
from statistics import mean

out = sys.argv[1]
runs, diverged, init = [], [], {}
for path in sorted(glob.glob(f"{out}/runs/align-init-*.json")):
    arch, seed = re.search(r"align-init-([a-z0-9]+)-s(\d+)\.json$", path).groups()
    init[(arch, int(seed))] = json.load(open(path))
pattern = r"-([a-z0-9]+)-s(\d+)-b(\d+)-lr([0-9.e-]+)\.(json|txt)$"
for path in sorted(glob.glob(f"{out}/runs/diverged-*.txt")):
    arch, seed, B, lr, _ = re.search(pattern, path).groups()
    diverged.append({"arch": arch, "seed": int(seed), "B": int(B), "lr": float(lr), "message": open(path).read().strip()})
for path in sorted(glob.glob(f"{out}/runs/align-*-b*-lr*.json")):
    arch, seed, B, lr, _ = re.search(pattern, path).groups()
    seed, B, lr = int(seed), int(B), float(lr)
    a = json.load(open(path))
    t = json.load(open(path.replace("/align-", "/train-")))
    first, last = t["series"][0], t["series"][-1]
    ini = init.get((arch, seed))
    runs.append({"arch": arch, "seed": seed, "B": B, "lr": lr, "A": [l["alignment"] for l in a["layers"]],
                 "names": [l.get("name", str(l["layer"])) for l in a["layers"]], "peak": a["peak_layer"],
                 "A0": [l["alignment"] for l in ini["layers"]] if ini else None, "init_peak": ini["peak_layer"] if ini else None,
                 "loss0": first["loss"], "loss": last["loss"], "accuracy": last.get("accuracy"),
                 "test_loss": last["validation_loss"], "test_accuracy": last["validation_accuracy"],
                 "steps": t["steps_taken"], "epochs": t["steps_taken"] * B / t["samples"], "stopped": t["stopped_because"],
                 "samples": t["samples"], "validation_samples": t.get("validation_samples"), "align_samples": a["samples"],
                 "method": a["method"], "train_seconds": t["timings"]["total_seconds"], "align_seconds": a["timings"]["total_seconds"]})
if not runs:
    sys.exit(f"no runs in {out}/runs")
order = [x for x in ("ffnn", "resnet", "vgg") if any(r["arch"] == x for r in runs)]
batches = sorted({r["B"] for r in runs} | {d["B"] for d in diverged})
lrs = sorted({r["lr"] for r in runs} | {d["lr"] for d in diverged})

# The initialization does not depend on B or η: the step-0 loss of one network and seed is one number.
for arch in order:
    for seed in sorted({r["seed"] for r in runs if r["arch"] == arch}):
        l0 = {r["loss0"] for r in runs if r["arch"] == arch and r["seed"] == seed}
        if len(l0) != 1:
            sys.exit(f"{arch} seed {seed}: step-0 losses differ across settings ({sorted(l0)}): the initial A_l is not shared")

def centroid(A):
    """The excess centroid Σ l (A_l − min A) / Σ (A_l − min A) (as bench/lou-fig3-report.py): where the profile's mass above its floor sits."""
    m = min(A)
    w = [a - m for a in A]
    return sum((i + 1) * x for i, x in enumerate(w)) / sum(w) if sum(w) > 0 else (len(A) + 1) / 2


def pearson(x, y):
    mx, my = mean(x), mean(y)
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    sxx = sum((a - mx) ** 2 for a in x) ** 0.5
    syy = sum((b - my) ** 2 for b in y) ** 0.5
    return sxy / (sxx * syy) if sxx > 0 and syy > 0 else float("nan")


def ranks(x):
    order = sorted(range(len(x)), key=lambda i: x[i])
    r = [0.0] * len(x)
    for k, i in enumerate(order):
        r[i] = float(k)
    return r


with open(f"{out}/runs.csv", "w") as f:
    f.write("architecture,seed,batch_size,learning_rate,status,steps,epochs,train_loss,train_accuracy,test_loss,test_accuracy,loss_gap,"
            "layers,peak_layer,peak_name,peak_relative_depth,excess_centroid,peak_alignment,min_alignment,mean_alignment,init_peak_layer,init_max_alignment,"
            "train_seconds,align_seconds\n")
    for r in sorted(runs, key=lambda r: (order.index(r["arch"]), r["seed"], r["B"], r["lr"])):
        L = len(r["A"])
        f.write(f"{r['arch']},{r['seed']},{r['B']},{r['lr']},{r['stopped'].replace(' ', '-')},{r['steps']},{r['epochs']:g},{r['loss']},{r['accuracy']},"
                f"{r['test_loss']},{r['test_accuracy']},{r['test_loss'] - r['loss']},{L},{r['peak']},{r['names'][r['peak'] - 1]},{r['peak'] / L},{centroid(r['A'])},"
                f"{max(r['A'])},{min(r['A'])},{mean(r['A'])},{r['init_peak']},{max(r['A0']) if r['A0'] else ''},"
                f"{r['train_seconds']},{r['align_seconds']}\n")
    for d in diverged:
        f.write(f"{d['arch']},{d['seed']},{d['B']},{d['lr']},diverged,,,,,,,,,,,,,,,,,,\n")
with open(f"{out}/alignments.csv", "w") as f:
    f.write("architecture,seed,batch_size,learning_rate,layer,name,alignment,init_alignment,is_peak\n")
    for r in sorted(runs, key=lambda r: (order.index(r["arch"]), r["seed"], r["B"], r["lr"])):
        for i, (A, n) in enumerate(zip(r["A"], r["names"])):
            f.write(f"{r['arch']},{r['seed']},{r['B']},{r['lr']},{i + 1},{n},{A},{r['A0'][i] if r['A0'] else ''},{int(i + 1 == r['peak'])}\n")

# Per setting: means over seeds.
def cell(arch, B, lr):
    rs = [r for r in runs if r["arch"] == arch and r["B"] == B and r["lr"] == lr]
    ds = [d for d in diverged if d["arch"] == arch and d["B"] == B and d["lr"] == lr]
    return rs, ds
with open(f"{out}/settings.csv", "w") as f:
    f.write("architecture,batch_size,learning_rate,seeds,diverged,reached_target,mean_epochs,train_loss,test_loss,test_accuracy,loss_gap,"
            "peak_layers,mean_profile_peak,max_alignment,mean_alignment\n")
    print("| network | B | η | seeds (diverged) | reached 0.1 | epochs | train loss | test loss | test acc | gap | peak l* per seed | max A_l | mean A_l |")
    print("|---|---:|---:|---|---|---:|---:|---:|---:|---:|---|---:|---:|")
    for arch in order:
        for B in batches:
            for lr in lrs:
                rs, ds = cell(arch, B, lr)
                if not rs and not ds:
                    continue
                if not rs:
                    f.write(f"{arch},{B},{lr},{len(ds)},{len(ds)},0,,,,,,,,,\n")
                    print(f"| {arch} | {B} | {lr:g} | {len(ds)} ({len(ds)}) | – | – | diverged | | | | | | |")
                    continue
                prof = [mean(x) for x in zip(*(r["A"] for r in rs))]
                mp = prof.index(max(prof)) + 1
                reached = sum(r["stopped"] == "target loss" for r in rs)
                vals = {k: mean(r[k] for r in rs) for k in ("epochs", "loss", "test_loss", "test_accuracy")}
                gap = vals["test_loss"] - vals["loss"]
                peaks = " ".join(str(r["peak"]) for r in sorted(rs, key=lambda r: r["seed"]))
                f.write(f"{arch},{B},{lr},{len(rs) + len(ds)},{len(ds)},{reached},{vals['epochs']:g},{vals['loss']},{vals['test_loss']},"
                        f"{vals['test_accuracy']},{gap},{peaks},{mp},{mean(max(r['A']) for r in rs)},{mean(mean(r['A']) for r in rs)}\n")
                print(f"| {arch} | {B} | {lr:g} | {len(rs) + len(ds)} ({len(ds)}) | {reached}/{len(rs)} | {vals['epochs']:.0f} | {vals['loss']:.3f} | "
                      f"{vals['test_loss']:.3f} | {vals['test_accuracy']:.3f} | {gap:.3f} | {peaks} / {len(rs[0]['A'])} | "
                      f"{mean(max(r['A']) for r in rs):.3f} | {mean(mean(r['A']) for r in rs):.3f} |")
for arch in order:
    a0 = [a for (x, _), v in init.items() if x == arch for a in (l["alignment"] for l in v["layers"])]
    a1 = [a for r in runs if r["arch"] == arch for a in r["A"]]
    pk = [init[k]["peak_layer"] for k in sorted(init) if k[0] == arch]
    print(f"{arch}: A_l at init {min(a0):.4f}–{max(a0):.4f} (peaks {pk}), after training {min(a1):.4f}–{max(a1):.4f}")

# The paper's claim: the peak's height correlates with generalization. Per network, over the runs
# (all that did not diverge, and those that reached the target loss), Pearson and Spearman
# correlations of max_l A_l with the test accuracy, the test loss and the loss gap.
with open(f"{out}/correlations.csv", "w") as f:
    f.write("architecture,runs,count,quantity,pearson,spearman\n")
    for arch in order:
        for which, rs in (("all", [r for r in runs if r["arch"] == arch]),
                          ("reached-target", [r for r in runs if r["arch"] == arch and r["stopped"] == "target loss"])):
            if len(rs) < 3:
                continue
            peak = [max(r["A"]) for r in rs]
            line = []
            for q, vals in (("test_accuracy", [r["test_accuracy"] for r in rs]), ("test_loss", [r["test_loss"] for r in rs]),
                            ("loss_gap", [r["test_loss"] - r["loss"] for r in rs]), ("train_loss", [r["loss"] for r in rs])):
                p, sp = pearson(peak, vals), pearson(ranks(peak), ranks(vals))
                f.write(f"{arch},{which},{len(rs)},{q},{p},{sp}\n")
                line.append(f"{q} {p:+.2f}/{sp:+.2f}")
            print(f"{arch} ({which}, {len(rs)} runs): corr(max A_l, ·) Pearson/Spearman: " + ", ".join(line))

# fig4.svg
pw, ph, gx, gy = 132, 96, 8, 8           # panel size and gaps
left, top, blockgap = 70, 84, 50
bw = len(lrs) * pw + (len(lrs) - 1) * gx
bh = len(batches) * ph + (len(batches) - 1) * gy
W = left + len(order) * (bw + blockgap)
H = top + bh + 110
viridis = [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)]
def color(t):
    t = min(max(t, 0.0), 1.0) * (len(viridis) - 1)
    i = min(int(t), len(viridis) - 2)
    c = [round(a + (b - a) * (t - i)) for a, b in zip(viridis[i], viridis[i + 1])]
    return "#%02x%02x%02x" % tuple(c)
samples = runs[0]["samples"]
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="10">',
       f'<rect width="{W}" height="{H}" fill="white"/>',
       f'<text x="{W / 2}" y="16" text-anchor="middle" font-size="13">Layer alignment A_l after training (momentum SGD, cross-entropy, stop at train loss '
       f'0.1 or the epoch cap), Fashion-MNIST {samples} images 14×14</text>',
       f'<text x="{W / 2}" y="31" text-anchor="middle" font-size="11">rows: batch size B; columns: learning rate η; bars: mean A_l over seeds, '
       f'dots: seeds, grey line: initialization, dark bar: peak; background: test loss; top left: loss gap (test − train)</text>']
for k, arch in enumerate(order):
    x0 = left + k * (bw + blockgap)
    rs_arch = [r for r in runs if r["arch"] == arch]
    amax = max(max(r["A"]) for r in rs_arch) * 1.08
    tl = [r["test_loss"] for r in rs_arch]
    lo, hi = min(tl), max(tl)
    nseeds = len({r["seed"] for r in rs_arch})
    svg.append(f'<text x="{x0 + bw / 2}" y="{top - 22}" text-anchor="middle" font-size="12" font-weight="bold">'
               f'({"abc"[k]}) {arch}, {len(rs_arch[0]["A"])} layers, {nseeds} seed{"s" if nseeds > 1 else ""}</text>')
    for j, lr in enumerate(lrs):
        svg.append(f'<text x="{x0 + j * (pw + gx) + pw / 2}" y="{top - 6}" text-anchor="middle">η = {lr:g}</text>')
    for i, B in enumerate(batches):
        y0 = top + i * (ph + gy)
        if k == 0:
            svg.append(f'<text x="{left - 30}" y="{y0 + ph / 2}" text-anchor="middle" transform="rotate(-90 {left - 30} {y0 + ph / 2})">B = {B}</text>')
        svg.append(f'<text x="{x0 - 3}" y="{y0 + 8}" text-anchor="end" font-size="8">{amax:.2f}</text>')
        svg.append(f'<text x="{x0 - 3}" y="{y0 + ph}" text-anchor="end" font-size="8">0</text>')
        for j, lr in enumerate(lrs):
            px = x0 + j * (pw + gx)
            rs, ds = cell(arch, B, lr)
            if not rs:
                svg.append(f'<rect x="{px}" y="{y0}" width="{pw}" height="{ph}" fill="#eeeeee" stroke="#999"/>')
                if ds:
                    svg.append(f'<text x="{px + pw / 2}" y="{y0 + ph / 2}" text-anchor="middle" fill="#c0392b">diverged</text>')
                continue
            tlm = mean(r["test_loss"] for r in rs)
            gap = tlm - mean(r["loss"] for r in rs)
            bg = color((tlm - lo) / (hi - lo) if hi > lo else 0.5)
            svg.append(f'<rect x="{px}" y="{y0}" width="{pw}" height="{ph}" fill="{bg}" fill-opacity="0.45" stroke="#999"/>')
            L = len(rs[0]["A"])
            prof = [mean(x) for x in zip(*(r["A"] for r in rs))]
            mp = prof.index(max(prof))
            slot = pw / L
            for l, a in enumerate(prof):
                h = a / amax * ph
                svg.append(f'<rect x="{px + l * slot + 1.5:.1f}" y="{y0 + ph - h:.1f}" width="{slot - 3:.1f}" height="{h:.1f}" '
                           f'fill="{"#1f3b73" if l == mp else "#6f8fc7"}"/>')
                for r in rs:
                    svg.append(f'<circle cx="{px + (l + 0.5) * slot:.1f}" cy="{y0 + ph - r["A"][l] / amax * ph:.1f}" r="1.6" fill="black"/>')
            A0 = [r["A0"] for r in rs if r["A0"]]
            if A0:
                p0 = [mean(x) for x in zip(*A0)]
                pts = " ".join(f'{px + (l + 0.5) * slot:.1f},{y0 + ph - a / amax * ph:.1f}' for l, a in enumerate(p0))
                svg.append(f'<polyline fill="none" stroke="#555" stroke-width="1.2" stroke-dasharray="3,2" points="{pts}"/>')
            svg.append(f'<rect x="{px + 1}" y="{y0 + 1}" width="26" height="13" fill="white" fill-opacity="0.85"/>')
            svg.append(f'<text x="{px + 3}" y="{y0 + 11}" font-weight="bold">{gap:.2f}</text>')
            capped = [r for r in rs if r["stopped"] != "target loss"]
            note = f'{len(ds)} diverged' if ds else ""
            if capped:
                note = (note + "; " if note else "") + f'cap: loss {mean(r["loss"] for r in capped):.2f}'
            if note:
                svg.append(f'<rect x="{px + pw - 4 - 4.6 * len(note):.1f}" y="{y0 + 2}" width="{4.6 * len(note) + 3:.1f}" height="11" fill="white" fill-opacity="0.85"/>')
                svg.append(f'<text x="{px + pw - 3}" y="{y0 + 11}" text-anchor="end" font-size="8">{note}</text>')
    # colour bar of the test loss
    cy = top + bh + 26
    for s in range(50):
        svg.append(f'<rect x="{x0 + s * bw / 50:.1f}" y="{cy}" width="{bw / 50 + 0.5:.1f}" height="10" fill="{color(s / 49)}" fill-opacity="0.45"/>')
    svg.append(f'<text x="{x0}" y="{cy + 22}">{lo:.2f}</text><text x="{x0 + bw}" y="{cy + 22}" text-anchor="end">{hi:.2f}</text>')
    svg.append(f'<text x="{x0 + bw / 2}" y="{cy + 22}" text-anchor="middle">test loss (mean over seeds)</text>')
    svg.append(f'<text x="{x0 + bw / 2}" y="{top + bh + 14}" text-anchor="middle">layer l = 1 … {len(rs_arch[0]["A"])} (modules with parameters)</text>')
svg.append(f'<text x="{left}" y="{H - 12}" font-size="9">A_l = Ỹᵀ K_l Ỹ / (‖C K_l C‖_F ‖Ỹ‖²) (Lou et al. eq. 7), exact on the {runs[0]["align_samples"]} '
           f'training images; test = first {runs[0]["validation_samples"]} test images. bench/lou-fig4.sh --trained</text>')
svg.append("</svg>")
open(f"{out}/fig4.svg", "w").write("\n".join(svg) + "\n")
print(f"wrote {out}/runs.csv, {out}/alignments.csv, {out}/settings.csv, {out}/fig4.svg")
