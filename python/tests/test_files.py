"""The files the package writes, read back without the binary."""
import json
import os
import struct
import subprocess
import sys

import numpy as np
import pytest

import wisp
from wisp.run import _flag_arguments, _error_line

HERE = os.path.dirname(os.path.abspath(__file__))


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    metadata = header.pop("__metadata__", {})
    arrays = {}
    for name, entry in header.items():
        start, end = entry["data_offsets"]
        dtype = {"F32": "<f4", "F64": "<f8"}[entry["dtype"]]
        arrays[name] = np.frombuffer(data[start:end], dtype=dtype).reshape(entry["shape"])
    return arrays, metadata


def test_write_npy_round_trip_and_refusals(tmp_path):
    x = np.arange(12, dtype=np.float32).reshape(3, 4) / 7
    p = wisp.write_npy(str(tmp_path / "x.npy"), x)
    back = np.load(p)
    assert back.dtype == np.float64 and back.flags.c_contiguous
    np.testing.assert_array_equal(back, x.astype(np.float64))
    labels = wisp.write_npy(str(tmp_path / "y.npy"), np.array([0.0, 2.0, 1.0]), integer=True)
    assert np.load(labels).dtype == np.int64
    with pytest.raises(ValueError, match="labels must be integers"):
        wisp.write_npy(str(tmp_path / "bad.npy"), np.array([0.5]), integer=True)
    with pytest.raises(ValueError, match="non-finite"):
        wisp.write_npy(str(tmp_path / "nan.npy"), np.array([1.0, np.nan]))
    assert not os.path.exists(tmp_path / "nan.npy") and not os.path.exists(tmp_path / "nan.npy.tmp")


def test_write_model_mlp_state_dict_with_metadata(tmp_path):
    rng = np.random.default_rng(3)
    sd = {"0.weight": rng.standard_normal((5, 3)), "0.bias": rng.standard_normal(5), "2.weight": rng.standard_normal((2, 5))}
    p = wisp.write_model(str(tmp_path / "mlp"), sd, activation="tanh", sigma_w2=1.5)
    assert p.endswith("mlp.safetensors")
    arrays, metadata = read_safetensors(p)
    assert metadata == {"activation": "tanh", "sigma_w2": "1.5"}
    for k, v in sd.items():
        np.testing.assert_array_equal(arrays[k], v)  # F64: exact
    with pytest.raises(TypeError, match="unknown hyperparameter 'width'"):
        wisp.write_model(str(tmp_path / "bad"), sd, width=3)


def test_flags_become_arguments():
    assert _flag_arguments({"k": 5, "sigma_w2": 0.1, "scale_pixels": True, "no_bias": False, "seed": None,
                            "sweep": [1, 5]}) == ["--k", "5", "--sigma-w2", "0.1", "--scale-pixels", "--sweep", "1,5"]
    assert _error_line("progress\nrank 1: wisp: error: --width must be ...\n") == "wisp: error: --width must be ..."


def test_missing_binary_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("WISP", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match=r"\$WISP names"):
        wisp.top(width=4)


def test_wisp_export_shim_cli_still_works(tmp_path):
    """python/wisp_export.py (the old entry point) writes the same file as wisp.export_layers."""
    arch = {"input": [3], "layers": [{"kind": "dense", "out_features": 2}]}
    (tmp_path / "a.json").write_text(json.dumps(arch))
    arrays = {"0.weight": np.arange(6.0).reshape(2, 3) / 3, "0.bias": np.array([0.5, -1.0])}
    np.savez(tmp_path / "w.npz", **arrays)
    shim = os.path.join(HERE, "..", "wisp_export.py")
    done = subprocess.run([sys.executable, shim, "a.json", "w.npz", "cli", "--dtype", "F64"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    wisp.export_layers(arch["layers"], arch["input"], arrays, str(tmp_path / "py"), dtype="F64")
    assert (tmp_path / "cli.safetensors").read_bytes() == (tmp_path / "py.safetensors").read_bytes()
    np.savez(tmp_path / "short.npz", **{"0.weight": arrays["0.weight"]})
    done = subprocess.run([sys.executable, shim, "a.json", "short.npz", "bad"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 1 and "wisp_export: error: missing array '0.bias'" in done.stderr
