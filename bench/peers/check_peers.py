#!/usr/bin/env python3
"""Checks the peers against Wisp's conventions on tiny networks: the numpy peer's K (formed from the
per-layer factors) and the JAX + ARPACK peer's top eigenvalues must equal `wisp top --matrix ntk`'s
(`--method lanczos`: thick-restart Lanczos, --tol 1e-13) for every activation, C = 1 and 3, both parametrizations, with and
without biases; with `wisp density --method exact` (when the binary has it) every eigenvalue too.

    check_peers.py --wisp .build/release/wisp [--no-jax]

Tolerance 1e-10 relative to λ_max: Lanczos stops at ‖K y − θ y‖ ≤ 1e-13 θ, so its Ritz values are
within (1e-13 θ)²/gap + rounding (~ TC · eps · λ_max ≈ 1e-14 λ_max) of K's eigenvalues; 1e-10 leaves
room for ARPACK (tol 1e-12) and yet fails on any convention error (a factor, a missing bias term, the
1/T or a transposed weight all change the eigenvalues at O(1)).
Exit status 1 with the failing case named when any check fails.
"""
import argparse, json, os, subprocess, sys, tempfile
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from numpy_gram import ntk_gram, read_safetensors  # noqa: E402

CASES = [  # activation, C, parametrization, bias, extra flags
    ("tanh", 1, "standard", True, ["--sigma-w2", "3", "--sigma-b2", "0.64"]),
    ("relu", 3, "standard", True, ["--sigma-w2", "2", "--sigma-b2", "0.1"]),
    ("leaky-relu", 1, "ntk", True, ["--sigma-w2", "2", "--sigma-b2", "0.3"]),
    ("sigmoid", 3, "ntk", True, ["--sigma-w2", "1.5", "--sigma-b2", "0.5"]),
    ("erf", 1, "standard", False, ["--sigma-w2", "1.7"]),
    ("softplus", 3, "standard", True, ["--sigma-w2", "1", "--sigma-b2", "0.2"]),
    ("normalized-softplus", 1, "ntk", True, ["--sigma-w2", "1", "--sigma-b2", "0.25"]),
    ("linear", 3, "standard", False, ["--sigma-w2", "1"]),
]


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}\n{r.stderr.strip()}")
    return r.stdout


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--wisp", required=True)
    p.add_argument("--no-jax", action="store_true")
    a = p.parse_args()
    has_exact = "exact" in run([a.wisp, "density", "--help"])
    failures, T, d, M, k = [], 10, 6, 9, 5
    with tempfile.TemporaryDirectory() as tmp:
        x = np.random.default_rng(7).standard_normal((T, d))
        np.save(f"{tmp}/x.npy", x)
        for act, C, param, bias, extra in CASES:
            name = f"{act} C={C} {param}{'' if bias else ' no-bias'}"
            flags = ["--depth", "3", "--width", str(M), "--outputs", str(C), "--activation", act, "--parametrization", param,
                     "--inputs", f"{tmp}/x.npy", "--seed", "3", "--quiet"] + extra + ([] if bias else ["--no-bias"])
            run([a.wisp, "top", *(["--method", "lanczos"] if has_exact else []), "--matrix", "ntk", "--k", str(k), "--tol", "1e-13", *flags,
                 "--save-model", f"{tmp}/net.safetensors", "--output", f"{tmp}/top.json"])
            wisp_top = np.array(json.load(open(f"{tmp}/top.json"))["eigenvalues"])
            tensors, meta = read_safetensors(f"{tmp}/net.safetensors")
            names = sorted({n.rsplit(".", 1)[0] for n in tensors}, key=int)
            layers = [(tensors[n + ".weight"], tensors.get(n + ".bias")) for n in names]
            K = ntk_gram(layers, x, meta["activation"], meta["parametrization"], float(meta["sigma_w2"]), float(meta["sigma_b2"]))
            lam = np.linalg.eigvalsh(K)[::-1]
            scale = lam[0]
            checks = [("numpy vs wisp lanczos", np.max(np.abs(lam[:k] - wisp_top)) / scale)]
            if has_exact:
                run([a.wisp, "density", "--method", "exact", *flags, "--output", f"{tmp}/exact.json"])  # same seed, same net
                ev = json.load(open(f"{tmp}/exact.json"))
                path = ev.get("eigenvalues_file") or f"{tmp}/exact.eigenvalues.csv"
                path = path if os.path.isabs(path) else os.path.join(tmp, os.path.basename(path))
                wisp_all = np.sort(np.loadtxt(path, skiprows=1, ndmin=1))[::-1]  # header `eigenvalue`, one per line
                n = min(len(wisp_all), len(lam))
                checks.append((f"numpy vs wisp exact ({len(wisp_all)} values)", np.max(np.abs(lam[:n] - wisp_all[:n])) / scale))
            if not a.no_jax:
                out = json.loads(run([sys.executable, os.path.join(os.path.dirname(__file__), "jax_arpack.py"),
                                      f"{tmp}/net.safetensors", f"{tmp}/x.npy", "--k", str(k), "--tol", "1e-12"]))
                checks.append(("numpy vs jax+arpack", np.max(np.abs(lam[:k] - np.array(out["eigenvalues"]))) / scale))
            for what, err in checks:
                ok = err <= 1e-10
                print(f"{'ok  ' if ok else 'FAIL'} {name:36s} {what:38s} max |Δλ|/λ_max = {err:.1e}")
                if not ok:
                    failures.append(f"{name}: {what}")
    if failures:
        print("exact-vs-krylov peers: FAILED: " + "; ".join(failures), file=sys.stderr)
        return 1
    print("all peers agree with wisp to 1e-10 relative to λ_max")
    return 0


if __name__ == "__main__":
    sys.exit(main())
