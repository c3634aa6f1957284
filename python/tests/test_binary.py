"""The package against the real binary ($WISP), on tiny sizes."""
import json
import shutil
import subprocess

import numpy as np
import pytest

import wisp


def test_top_returns_the_json_record_as_arrays(wisp_binary):
    r = wisp.top(wisp=wisp_binary, width=16, samples=8, k=3, seed=1, method="lanczos")
    assert isinstance(r["eigenvalues"], np.ndarray) and r["eigenvalues"].dtype == np.float64
    assert r["eigenvalues"].shape == (3,) and r["residuals"].shape == (3,)
    # The arrays are the record's numbers exactly (the JSON holds shortest round-trip doubles).
    assert r["eigenvalues"].tolist() == r.record["eigenvalues"]
    assert r["residuals"].tolist() == r.record["residuals"]
    assert r.record["command"] == "top" and "Lanczos" in r["method"]
    # ... and the same as the CLI writes to stdout with --output - for the same flags.
    cli = subprocess.run([wisp_binary, "top", "--width", "16", "--samples", "8", "--k", "3", "--seed", "1",
                          "--method", "lanczos", "--output", "-", "--quiet"], capture_output=True, text=True, check=True)
    assert json.loads(cli.stdout)["eigenvalues"] == r.record["eigenvalues"]
    assert np.all(np.diff(r["eigenvalues"]) <= 0)


def test_exact_density_reads_every_eigenvalue(wisp_binary):
    common = dict(wisp=wisp_binary, width=12, samples=10, outputs=2, seed=4)
    d = wisp.density(method="exact", **common)
    # Every nonzero eigenvalue of K (T·C = 20 of them) from the .eigenvalues.csv beside the JSON.
    assert d["all_eigenvalues"].shape == (d.record["eigenvalue_count"],) == (20,)
    assert d["grid"].shape == d["density"].shape and d["grid"].size > 1
    # Independent checks of those eigenvalues: their sum is Wisp's exact tr F (= tr K), and the
    # largest is `top --method exact`'s λ_max. Both are the same K's eigen/trace in float64: 1e-12.
    m = wisp.moments(**common)
    assert np.sum(d["all_eigenvalues"]) == pytest.approx(m["trace"], rel=1e-12)
    t = wisp.top(method="exact", k=1, **common)
    assert np.max(d["all_eigenvalues"]) == pytest.approx(t["eigenvalues"][0], rel=1e-12)


def two_layer(rng, d=4, M=6, C=2):
    return {"0.weight": rng.standard_normal((M, d)) / np.sqrt(d), "0.bias": 0.1 * rng.standard_normal(M),
            "2.weight": rng.standard_normal((C, M)) / np.sqrt(M), "2.bias": 0.1 * rng.standard_normal(C)}


def forward(p, X):
    return np.tanh(X @ p["0.weight"].T + p["0.bias"]) @ p["2.weight"].T + p["2.bias"]


def jacobian(p, X):
    """J of f(x) = W2 tanh(W1 x + b1) + b2: rows (sample, output), columns every parameter."""
    T, C = X.shape[0], p["2.weight"].shape[0]
    u = X @ p["0.weight"].T + p["0.bias"]
    h, dh = np.tanh(u), 1 - np.tanh(u) ** 2
    rows = []
    for t in range(T):
        for c in range(C):
            g = dh[t] * p["2.weight"][c]  # ∂f_c/∂u
            e = np.zeros(C)
            e[c] = 1
            rows.append(np.concatenate([np.outer(g, X[t]).ravel(), g, np.outer(e, h[t]).ravel(), e]))
    return np.array(rows)


def reference_lambda_max(p, X):
    """λ_max of F = (1/T) JᵀJ from the dense K = (1/T) J Jᵀ (same nonzero spectrum), LAPACK via numpy.
    J is checked against central differences first (step 1e-6: error ~1e-10 relative)."""
    J = jacobian(p, X)
    names = ["0.weight", "0.bias", "2.weight", "2.bias"]
    flat = np.concatenate([p[n].ravel() for n in names])
    shapes = [p[n].shape for n in names]

    def unflat(v):
        out, at = {}, 0
        for n, s in zip(names, shapes):
            k = int(np.prod(s))
            out[n] = v[at:at + k].reshape(s)
            at += k
        return out
    h = 1e-6
    for i in range(flat.size):
        e = np.zeros_like(flat)
        e[i] = h
        fd = (forward(unflat(flat + e), X) - forward(unflat(flat - e), X)).ravel() / (2 * h)
        np.testing.assert_allclose(J[:, i], fd, rtol=1e-7, atol=1e-9)
    T = X.shape[0]
    return np.linalg.eigvalsh(J @ J.T / T)[-1]


def test_layer_model_from_numpy_matches_the_dense_reference(wisp_binary):
    rng = np.random.default_rng(7)
    X = rng.standard_normal((9, 4))
    p = two_layer(rng)
    architecture = {"input": [4], "layers": [{"kind": "dense", "out_features": 6}, {"kind": "tanh"},
                                             {"kind": "dense", "out_features": 2}]}
    expected = reference_lambda_max(p, X)
    r = wisp.top(wisp=wisp_binary, architecture=architecture, model=p, inputs=X, k=1, tol=1e-12)
    assert r.record["configuration"]["weights"] is not None
    # Lanczos to a 1e-12 relative residual: the eigenvalue is good to far below that; the F64
    # file holds the arrays exactly. A 1e-12 relative residual bounds |θ − λ| ≤ 1e-12 λ (symmetric
    # matrix); 2e-12 adds room for the rounding of the passes and of the reference (~1e-15, measured 8e-16).
    assert r["eigenvalues"][0] == pytest.approx(expected, rel=2e-12)
    # The same arrays as an MLP state dict (nn.Linear names), activation given as a flag.
    m = wisp.top(wisp=wisp_binary, model=p, activation="tanh", inputs=X, k=1, tol=1e-12)
    assert m["eigenvalues"][0] == pytest.approx(expected, rel=2e-12)


def test_bad_flag_raises_wisp_error_with_the_message(wisp_binary):
    with pytest.raises(wisp.WispError) as caught:
        wisp.top(wisp=wisp_binary, width=0)
    e = caught.value
    assert e.returncode != 0
    assert e.message.startswith("wisp: error: ") and "--width" in e.message
    assert e.message == e.stderr.strip()  # Wisp's one line, carried whole
    assert e.record is None
    with pytest.raises(wisp.WispError, match=r"^wisp: error: .*no-such-flag"):
        wisp.run("top", wisp=wisp_binary, no_such_flag=1)


def test_unconverged_top_raises_with_its_record(wisp_binary):
    """`top` writes its record and exits non-zero when a pair misses --tol: the error carries both."""
    with pytest.raises(wisp.WispError, match="did not reach --tol") as caught:
        wisp.top(wisp=wisp_binary, width=16, samples=8, k=3, seed=1, method="lanczos", max_applications=3)
    assert caught.value.returncode != 0
    assert caught.value.record is not None and caught.value.record["converged"] == [False] * 3
    assert len(caught.value.record["residuals"]) == 3


@pytest.mark.skipif(shutil.which("mpirun") is None, reason="mpirun is not installed (Debian: openmpi-bin)")
def test_two_ranks_equal_one(wisp_binary):
    common = dict(wisp=wisp_binary, width=16, samples=12, outputs=2, seed=3, k=2, method="lanczos")
    one = wisp.top(**common)
    two = wisp.top(ranks=2, **common)
    assert two.record["machine"]["ranks"] == 2 and one.record["machine"]["ranks"] == 1
    # The sharded sums reassociate: agreement to 1e-12 relative, as cluster/compare-ranks.sh asks.
    np.testing.assert_allclose(two["eigenvalues"], one["eigenvalues"], rtol=1e-12)


FAKE_TORCH_NN = '''
import numpy as np
class Tensor:
    def __init__(self, a): self.a = np.asarray(a, dtype=np.float64)
    def detach(self): return self
    def cpu(self): return self
    def double(self): return self
    def numpy(self): return self.a
class Module:
    pass
class Sequential(Module):
    def __init__(self, *m): self.m = list(m)
    def __iter__(self): return iter(self.m)
    def state_dict(self):
        out = {}
        for i, m in enumerate(self.m):
            for name in ("weight", "bias"):
                if getattr(m, name, None) is not None:
                    out[f"{i}.{name}"] = Tensor(getattr(m, name))
        return out
class Linear(Module):
    def __init__(self, weight, bias):
        self.weight, self.bias = weight, bias
        self.out_features, self.in_features = weight.shape
class Tanh(Module):
    pass
class Conv2d(Module): pass
class AvgPool2d(Module): pass
class MaxPool2d(Module): pass
class Flatten(Module): pass
class LeakyReLU(Module): pass
class Softplus(Module): pass
class ReLU(Module): pass
class Sigmoid(Module): pass
class Identity(Module): pass
'''


def test_torch_sequential_without_torch(wisp_binary, tmp_path, monkeypatch):
    """model= an nn.Sequential, through a stand-in torch.nn with PyTorch's attributes (torch is not
    installed here): translated, written and loaded, it gives the dense reference's λ_max."""
    (tmp_path / "torch").mkdir()
    (tmp_path / "torch" / "__init__.py").write_text("")
    (tmp_path / "torch" / "nn.py").write_text(FAKE_TORCH_NN)
    monkeypatch.syspath_prepend(str(tmp_path))
    import torch.nn as nn
    rng = np.random.default_rng(11)
    X = rng.standard_normal((7, 4))
    p = two_layer(rng)
    model = nn.Sequential(nn.Linear(p["0.weight"], p["0.bias"]), nn.Tanh(), nn.Linear(p["2.weight"], p["2.bias"]))
    r = wisp.top(wisp=wisp_binary, model=model, input_shape=[4], inputs=X, k=1, tol=1e-12)
    assert r.record["architecture"]["layers"][1]["kind"] == "tanh"
    assert r["eigenvalues"][0] == pytest.approx(reference_lambda_max(p, X), rel=2e-12)  # as above
