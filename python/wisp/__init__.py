"""Wisp from Python: write numpy arrays and models to Wisp's files, run the ``wisp`` binary
(optionally under ``mpirun``), get its results as numpy arrays with the JSON record attached.

    import numpy as np, wisp
    X = np.random.default_rng(0).standard_normal((64, 16))
    r = wisp.top(inputs=X, width=32, k=3)          # wisp top --inputs X.npy --width 32 --k 3
    r["eigenvalues"], r["residuals"], r.record["method"]

Errors: a non-zero exit raises ``wisp.WispError`` (``.message`` is Wisp's ``wisp: error: …``
line, ``.returncode`` the exit code).
"""
from . import export
from .export import export as export_layers, export_torch, parameter_names, write_safetensors
from .files import write_model, write_npy
from .run import Result, WispError, density, find_binary, moments, record_schema, run, top

__version__ = "0.1.0"
__all__ = ["WispError", "Result", "run", "top", "density", "moments", "find_binary", "record_schema", "write_npy", "write_model",
           "write_safetensors", "export_layers", "export_torch", "parameter_names", "export"]
