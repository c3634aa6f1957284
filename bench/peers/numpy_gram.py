#!/usr/bin/env python3
"""The numpy peer of `wisp density --method exact`: every eigenvalue of the NTK Gram matrix
K = (1/T) J Jᵀ (TC × TC; its nonzero eigenvalues are F's) of a network Wisp saved with
`--save-model net.safetensors`, on the inputs Wisp read with `--inputs x.npy`.

K = (1/T) Σ_l (D_l D_lᵀ) ∘ (c_l² H_(l−1) H_(l−1)ᵀ + c_b² 11ᵀ) ⊗ 1_C1_Cᵀ, D_l the backward signals
(row t·C + k: ∂f_k(x_t)/∂u_l), H_(l−1) the forward activations; c_l = 1, c_b = 1 in the standard
parametrization (u = W h + b), c_l = σ_w/√fan_in, c_b = σ_b in the NTK one (u = c_l W h + c_b b).
The network's weight layout is Wisp's (README "Conventions"): W_l [M_l, M_(l−1)], PyTorch's Linear.

    numpy_gram.py net.safetensors x.npy [--eigenvalues out.csv] [--json out.json]

Prints one JSON line: the timings (load, assemble, eigvalsh, total) and the top eigenvalues.
Only numpy; the safetensors file is read by hand (8-byte header length, JSON header, raw buffers).
"""
import argparse, json, math, struct, sys, time
import numpy as np

PHI = {  # φ and φ' of the hidden layers (Sources/Wisp/Model/Activation.swift)
    "tanh": (np.tanh, lambda u: 1 - np.tanh(u) ** 2),
    "relu": (lambda u: np.maximum(u, 0), lambda u: (u > 0).astype(u.dtype)),
    "leaky-relu": (lambda u: np.where(u > 0, u, 0.01 * u), lambda u: np.where(u > 0, 1.0, 0.01)),
    "sigmoid": (lambda u: 1 / (1 + np.exp(-u)), lambda u: np.exp(-u) / (1 + np.exp(-u)) ** 2),
    "erf": (lambda u: np.vectorize(math.erf)(u), lambda u: 2 / math.sqrt(math.pi) * np.exp(-u * u)),
    "softplus": (lambda u: np.logaddexp(0, u), lambda u: 1 / (1 + np.exp(-u))),
    "normalized-softplus": (lambda u: (np.logaddexp(0, u) - 0.806059183347419) / 0.5210705343814246,
                            lambda u: 1 / (1 + np.exp(-u)) / 0.5210705343814246),
    "linear": (lambda u: u, lambda u: np.ones_like(u)),
}


def read_safetensors(path):
    """{name: array}, metadata — the format: u64 header length, JSON header, little-endian data."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    dtypes = {"F64": "<f8", "F32": "<f4"}
    tensors = {k: np.frombuffer(data[v["data_offsets"][0]:v["data_offsets"][1]], dtype=dtypes[v["dtype"]])
               .reshape(v["shape"]).astype(np.float64) for k, v in header.items() if k != "__metadata__"}
    return tensors, header.get("__metadata__", {})


def ntk_gram(layers, x, activation, parametrization="standard", sigma_w2=1.0, sigma_b2=0.0):
    """K = (1/T) J Jᵀ (TC × TC, index t·C + k) from the per-layer factors; layers = [(W, b or None)]."""
    phi, dphi = PHI[activation]
    T, L = x.shape[0], len(layers)
    cw = [math.sqrt(sigma_w2 / W.shape[1]) if parametrization == "ntk" else 1.0 for W, _ in layers]
    cb = math.sqrt(sigma_b2) if parametrization == "ntk" else 1.0
    H, dU = [x], []                                    # forward: H_l = φ(u_l), u_l = c_l H_(l−1) W_lᵀ + c_b b_l
    for l, (W, b) in enumerate(layers):
        u = cw[l] * (H[-1] @ W.T) + (cb * b if b is not None else 0)
        if l < L - 1:
            H.append(phi(u)); dU.append(dphi(u))
    C = layers[-1][0].shape[0]
    D = np.tile(np.eye(C), (T, 1))                     # backward, row t·C + k: D_L = e_k (linear outputs)
    K = np.zeros((T * C, T * C))
    for l in reversed(range(L)):                       # D_l[t·C + k, :] = ∂f_k(x_t)/∂u_l
        G = cw[l] ** 2 * (H[l] @ H[l].T) + (cb ** 2 if layers[l][1] is not None else 0)
        K += (D @ D.T) * (G if C == 1 else np.kron(G, np.ones((C, C))))
        if l > 0:
            D = cw[l] * (D @ layers[l][0]) * (dU[l - 1] if C == 1 else np.repeat(dU[l - 1], C, axis=0))
    K /= T
    return K


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("model"); p.add_argument("inputs")
    p.add_argument("--eigenvalues", help="write all TC eigenvalues, descending, one per line")
    p.add_argument("--json", help="also write the JSON line to this file")
    p.add_argument("--top", type=int, default=5)
    a = p.parse_args()
    t0 = time.perf_counter()
    tensors, meta = read_safetensors(a.model)
    names = sorted({k.rsplit(".", 1)[0] for k in tensors}, key=lambda s: [int(c) if c.isdigit() else c for c in s.split(".")])
    layers = [(tensors[n + ".weight"], tensors.get(n + ".bias")) for n in names]
    x = np.load(a.inputs).astype(np.float64).reshape(-1, layers[0][0].shape[1])
    t1 = time.perf_counter()
    K = ntk_gram(layers, x, meta.get("activation", "relu"), meta.get("parametrization", "standard"),
                 float(meta.get("sigma_w2", 1)), float(meta.get("sigma_b2", 0)))
    t2 = time.perf_counter()
    lam = np.linalg.eigvalsh(K)[::-1]
    t3 = time.perf_counter()
    if a.eigenvalues:
        np.savetxt(a.eigenvalues, lam, fmt="%.17g")
    out = {"peer": "numpy eigvalsh on the formed K", "T": x.shape[0], "C": layers[-1][0].shape[0], "TC": K.shape[0],
           "widths": [layers[0][0].shape[1]] + [W.shape[0] for W, _ in layers], "activation": meta.get("activation"),
           "load_seconds": t1 - t0, "assemble_seconds": t2 - t1, "eigvalsh_seconds": t3 - t2,
           "compute_seconds": t3 - t1, "total_seconds": t3 - t0, "top": lam[:a.top].tolist(),
           "trace": float(np.trace(K)), "numpy": np.__version__}
    line = json.dumps(out)
    print(line)
    if a.json:
        with open(a.json, "w") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    sys.exit(main())
