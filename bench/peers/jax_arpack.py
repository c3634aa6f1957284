#!/usr/bin/env python3
"""The JAX + ARPACK peer of `wisp top --matrix ntk`: the top k eigenvalues of the NTK Gram matrix
K = (1/T) J Jᵀ (whose nonzero eigenvalues are F's) of a network Wisp saved with `--save-model`,
on the inputs Wisp read with `--inputs x.npy`, matrix-free: K·u = (1/T) J (Jᵀ u) by `jax.vjp`
then `jax.jvp` (float64, jitted), wrapped in a `scipy.sparse.linalg.LinearOperator` and solved by
`eigsh` (ARPACK's implicitly restarted Lanczos), which='LA'.

    jax_arpack.py net.safetensors x.npy [--k 5] [--tol 1e-8] [--json out.json]

`--tol` is ARPACK's relative Ritz accuracy ‖K y − θ y‖ ≤ tol·|θ|, the meaning of Wisp's `--tol`.
Prints one JSON line: compile time (the first, jit-compiling product, not counted in the solve),
solve time, products, the eigenvalues and their residuals ‖K y − θ y‖ (one more product each).
"""
import argparse, json, os, sys, time
import numpy as np
import jax
import jax.numpy as jnp
from jax.scipy.special import erf
from scipy.sparse.linalg import LinearOperator, eigsh

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from numpy_gram import read_safetensors  # noqa: E402  (the same few-line reader)

jax.config.update("jax_enable_x64", True)

PHI = {"tanh": jnp.tanh, "relu": jax.nn.relu, "leaky-relu": lambda u: jnp.where(u > 0, u, 0.01 * u),
       "sigmoid": jax.nn.sigmoid, "erf": erf, "softplus": jax.nn.softplus,
       "normalized-softplus": lambda u: (jax.nn.softplus(u) - 0.806059183347419) / 0.5210705343814246,
       "linear": lambda u: u}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("model"); p.add_argument("inputs")
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--tol", type=float, default=1e-8)
    p.add_argument("--json", help="also write the JSON line to this file")
    a = p.parse_args()
    tensors, meta = read_safetensors(a.model)
    names = sorted({k.rsplit(".", 1)[0] for k in tensors}, key=lambda s: [int(c) if c.isdigit() else c for c in s.split(".")])
    params = [(jnp.asarray(tensors[n + ".weight"]), jnp.asarray(tensors[n + ".bias"]) if n + ".bias" in tensors else None)
              for n in names]
    x = jnp.asarray(np.load(a.inputs).astype(np.float64).reshape(-1, params[0][0].shape[1]))
    phi = PHI[meta.get("activation", "relu")]
    ntk = meta.get("parametrization", "standard") == "ntk"
    sw, sb = float(meta.get("sigma_w2", 1)) ** 0.5, float(meta.get("sigma_b2", 0)) ** 0.5
    T, C = x.shape[0], params[-1][0].shape[0]

    def f(params, x):                                  # u_l = c_l W_l h + c_b b_l, h = φ(u), linear outputs
        h = x
        for l, (W, b) in enumerate(params):
            u = (sw / W.shape[1] ** 0.5 if ntk else 1.0) * (h @ W.T)
            if b is not None:
                u = u + (sb if ntk else 1.0) * b
            h = phi(u) if l < len(params) - 1 else u
        return h                                       # T × C, row t, column k: index t·C + k

    # params and x are arguments, not closed-over constants: as constants XLA constant-folds the
    # forward GEMMs at compile time (18 min at M = 2048, T = 1024).
    @jax.jit
    def K_mv(params, x, u):                            # (1/T) J Jᵀ u
        _, pullback = jax.vjp(lambda p: f(p, x), params)
        g, = pullback(u.reshape(T, C))
        _, Jg = jax.jvp(lambda p: f(p, x), (params,), (g,))
        return Jg.reshape(-1) / T

    products = 0
    def matvec(u):
        nonlocal products
        products += 1
        return np.asarray(K_mv(params, x, jnp.asarray(u.reshape(-1))))

    t0 = time.perf_counter()
    K_mv(params, x, jnp.ones(T * C)).block_until_ready()
    t1 = time.perf_counter()
    op = LinearOperator((T * C, T * C), matvec=matvec, dtype=np.float64)
    v0 = np.random.default_rng(0).standard_normal(T * C)
    theta, Y = eigsh(op, k=a.k, which="LA", tol=a.tol, v0=v0)
    t2 = time.perf_counter()
    solve_products = products
    order = np.argsort(theta)[::-1]
    theta, Y = theta[order], Y[:, order]
    residuals = [float(np.linalg.norm(matvec(Y[:, i]) - theta[i] * Y[:, i])) for i in range(a.k)]
    out = {"peer": "JAX vjp+jvp, scipy eigsh (ARPACK)", "jax": jax.__version__, "T": T, "C": C,
           "parameters": int(sum(W.size + (b.size if b is not None else 0) for W, b in params)),
           "compile_seconds": t1 - t0, "solve_seconds": t2 - t1, "products": solve_products,
           "seconds_per_product": (t2 - t1) / max(solve_products, 1), "tol": a.tol,
           "eigenvalues": theta.tolist(), "residuals": residuals}
    line = json.dumps(out)
    print(line)
    if a.json:
        with open(a.json, "w") as fh:
            fh.write(line + "\n")


if __name__ == "__main__":
    sys.exit(main())
