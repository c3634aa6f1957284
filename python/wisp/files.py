"""Wisp's input files from numpy arrays and models.

* inputs, targets and labels: ``.npy`` (``numpy.save``; Wisp reads .npy, IDX and CSV, README "Data");
* an MLP: a safetensors file of PyTorch ``nn.Linear`` state-dict arrays (``<layer>.weight``
  [out, in], optional ``<layer>.bias`` [out]); hyperparameters the arrays do not hold
  (activation, σ_w², σ_b², parametrization, normalization) go into the metadata when given,
  else Wisp takes them from the command's flags (README "Model files");
* a layer network: ``NAME.json`` (the architecture) and ``NAME.safetensors`` (the weights, with
  the architecture in the metadata), from layer specs and arrays or a ``torch.nn.Sequential``
  (``wisp.export``).

Every file is written to a temporary name and renamed, so no reader sees half of it.
"""
import os

import numpy as np

from . import export as _export

_METADATA = ("activation", "parametrization", "sigma_w2", "sigma_b2", "normalization")


def write_npy(path, array, integer=False):
    """Writes ``array`` as ``path`` (.npy, C order): float64, or int64 when ``integer`` (labels).
    A non-finite value is a ``ValueError`` naming the file. Returns ``path``."""
    a = np.asarray(array)
    if integer:
        if a.dtype.kind not in "iub":
            if not np.all(np.isfinite(a)) or not np.all(a == np.round(a)):
                raise ValueError(f"{path}: labels must be integers")
        a = a.astype(np.int64)
    else:
        a = a.astype(np.float64)
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{path}: non-finite values")
    a = np.ascontiguousarray(a)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        np.save(f, a)
    os.replace(tmp, path)
    return path


def _is_torch_module(model):
    return hasattr(model, "state_dict") and hasattr(model, "__iter__") and not isinstance(model, dict)


def write_model(path, model, layers=None, input_shape=None, dtype="F64", **hyperparameters):
    """Writes a model for ``wisp --model`` and returns the safetensors path.

    ``model`` is one of

    * a ``torch.nn.Sequential`` (needs ``input_shape``, one sample's shape, e.g. ``[1, 28, 28]``):
      ``path.json`` and ``path.safetensors`` (``wisp.export.export_torch``);
    * a dict of numpy arrays keyed by state-dict name with ``layers`` (layer specs, or an
      architecture dict ``{"input": [...], "layers": [...]}``): ``path.json`` and
      ``path.safetensors`` (``wisp.export.export``);
    * a dict of numpy arrays without ``layers``: an MLP's ``nn.Linear`` weights, written to
      ``path.safetensors`` with the given ``hyperparameters`` (``activation``,
      ``parametrization``, ``sigma_w2``, ``sigma_b2``, ``normalization``) as metadata.

    ``path`` may end in ``.safetensors`` or not. ``dtype`` is ``"F64"`` or ``"F32"``.
    """
    stem = path[: -len(".safetensors")] if path.endswith(".safetensors") else path
    if _is_torch_module(model):
        if input_shape is None:
            raise ValueError("write_model: a torch module needs input_shape (one sample's shape, e.g. [1, 28, 28])")
        _export.export_torch(model, input_shape, stem, dtype=dtype)
        return stem + ".safetensors"
    if not isinstance(model, dict):
        raise TypeError(f"write_model: model must be a dict of arrays or a torch nn.Sequential, got {type(model).__name__}")
    arrays = {str(k): _numpy(v) for k, v in model.items()}
    if layers is not None:
        if isinstance(layers, dict):
            input_shape = layers["input"] if input_shape is None else input_shape
            layers = layers["layers"]
        if input_shape is None:
            raise ValueError("write_model: layer specs need input_shape (one sample's shape)")
        _export.export(layers, input_shape, arrays, stem, dtype=dtype)
        return stem + ".safetensors"
    unknown = [k for k in hyperparameters if k not in _METADATA]
    if unknown:
        raise TypeError(f"write_model: unknown hyperparameter {unknown[0]!r} (known: {', '.join(_METADATA)})")
    metadata = {k: _metadata_text(v) for k, v in hyperparameters.items() if v is not None}
    _export.write_safetensors(stem + ".safetensors", arrays, metadata, dtype=dtype)
    return stem + ".safetensors"


def _metadata_text(v):
    # Wisp parses σ² with Double(String): repr gives Python's shortest round-trip text.
    return repr(float(v)) if isinstance(v, float) else str(v)


def _numpy(v):
    if hasattr(v, "detach"):  # a torch tensor
        v = v.detach().cpu().double().numpy()
    return np.asarray(v, dtype=np.float64)
