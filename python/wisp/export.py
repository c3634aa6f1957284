"""Write a network for Wisp: its architecture JSON and a safetensors file of its weights.

Wisp reads a network given as layers from two things (README, "Layers"):

* an architecture description, JSON: the shape of one input sample and the list of layers
  of an ``nn.Sequential``, e.g. ``{"input": [1, 28, 28], "layers": [{"kind": "Conv2d",
  "in_channels": 1, "out_channels": 8, "kernel_size": 3, "padding": 1}, {"kind": "ReLU"}, ...]}``;
* a safetensors file with the weights under PyTorch's state-dict names and shapes
  (``0.weight`` [out, in, kh, kw] for a ``Conv2d``, ``4.weight`` [out, in] for a ``Linear``,
  ``3.body.0.weight`` and ``3.projection.weight`` inside a residual block), F32 or F64, with the
  description in its ``__metadata__`` under ``wisp.architecture`` so that
  ``wisp top --model FILE.safetensors`` alone rebuilds the network.

Two ways in, numpy only (torch is optional):

(a) from a ``torch.nn.Sequential`` (when torch is installed)::

        import torch.nn as nn
        from wisp import export as wisp_export
        model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Flatten(), nn.Linear(8 * 14 * 14, 10))
        wisp_export.export_torch(model, input_shape=[1, 28, 28], path="cnn")   # cnn.json, cnn.safetensors

    Supported modules: Linear, Conv2d (groups=1, dilation=1, zero padding), AvgPool2d
    (count_include_pad, no ceil_mode), MaxPool2d (dilation=1, no ceil_mode), Flatten, ReLU,
    LeakyReLU (slope 0.01), Tanh, Sigmoid, Softplus (beta=1), Identity, and a residual block:
    any module with a ``body`` (an nn.Sequential) and an optional ``projection`` (a Conv2d or
    Linear) computing ``projection(x) + body(x)`` (or ``x + body(x)``). Anything else is an
    error naming the module.

(b) from layer specs and numpy arrays::

        specs = [{"kind": "conv2d", "in_channels": 1, "out_channels": 4, "kernel_size": 3, "padding": 1},
                 {"kind": "relu"}, {"kind": "flatten"}, {"kind": "dense", "out_features": 10}]
        arrays = {"0.weight": w0, "0.bias": b0, "3.weight": w3, "3.bias": b3}
        wisp_export.export(specs, [1, 8, 8], arrays, path="small")

    or from the command line, with the arrays in an .npz file keyed by state-dict name::

        wisp-export ARCH.json WEIGHTS.npz OUT [--dtype F32|F64]

    (installed by ``pip install ./python``; ``python3 python/wisp_export.py`` is the same
    command without installing the package).

The names the specs declare must be exactly the arrays' names (a missing or extra array is an
error naming it); Wisp checks every shape again when it loads the file.
"""
import json
import os
import struct
import sys

import numpy as np

ARCHITECTURE_KEY = "wisp.architecture"


def parameter_names(layers, prefix=""):
    """The state-dict names the layers declare, in Wisp's θ order (layer order, weight then bias)."""
    names = []
    for i, spec in enumerate(layers):
        kind = spec["kind"].lower()
        if kind in ("dense", "linear", "conv2d"):
            names.append(f"{prefix}{i}.weight")
            if spec.get("bias", True):
                names.append(f"{prefix}{i}.bias")
        elif kind == "residual":
            names += parameter_names(spec["body"], f"{prefix}{i}.body.")
            projection = spec.get("projection")
            if projection is not None:
                names.append(f"{prefix}{i}.projection.weight")
                if projection.get("bias", True):
                    names.append(f"{prefix}{i}.projection.bias")
    return names


def write_safetensors(path, arrays, metadata=None, dtype="F32"):
    """Writes ``arrays`` (name → numpy array) as a safetensors file, little-endian ``dtype``
    (F32 or F64), C order, with ``metadata`` (str → str) in ``__metadata__``. The file is
    written to ``path + ".tmp"`` and renamed, so no reader sees half of it."""
    if dtype not in ("F32", "F64"):
        raise ValueError(f"dtype must be F32 or F64, got {dtype!r}")
    np_dtype = np.dtype("<f4" if dtype == "F32" else "<f8")
    header, chunks, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name in sorted(arrays):
        a = np.ascontiguousarray(np.asarray(arrays[name], dtype=np.float64))
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name}: non-finite values")
        data = a.astype(np_dtype).tobytes(order="C")
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for c in chunks:
            f.write(c)
    os.replace(tmp, path)


def export(layers, input_shape, arrays, path, dtype="F32"):
    """Writes ``path.json`` (the description) and ``path.safetensors`` (the arrays, with the
    description in the metadata). ``arrays`` maps state-dict names to numpy arrays."""
    architecture = {"input": [int(n) for n in input_shape], "layers": layers}
    declared = parameter_names(layers)
    missing = [n for n in declared if n not in arrays]
    extra = [n for n in arrays if n not in declared]
    if missing:
        raise ValueError(f"missing array {missing[0]!r} (the layers declare {', '.join(declared)})")
    if extra:
        raise ValueError(f"array {extra[0]!r} belongs to no layer (the layers declare {', '.join(declared)})")
    text = json.dumps(architecture)
    write_safetensors(path + ".safetensors", {n: arrays[n] for n in declared}, {ARCHITECTURE_KEY: text}, dtype)
    with open(path + ".json.tmp", "w") as f:
        f.write(text + "\n")
    os.replace(path + ".json.tmp", path + ".json")
    return architecture


def _pair(v):
    return list(v) if isinstance(v, (tuple, list)) else [int(v), int(v)]


def torch_layers(module, where="model"):
    """The layer specs of an nn.Sequential (or a list of modules)."""
    return [_torch_layer(m, f"{where}[{i}]") for i, m in enumerate(module)]


def _torch_layer(m, where):
    import torch.nn as nn
    if isinstance(m, nn.Linear):
        return {"kind": "dense", "in_features": m.in_features, "out_features": m.out_features, "bias": m.bias is not None}
    if isinstance(m, nn.Conv2d):
        if m.groups != 1 or _pair(m.dilation) != [1, 1] or m.padding_mode != "zeros" or isinstance(m.padding, str):
            raise ValueError(f"{where}: Conv2d with groups, dilation, string padding or non-zero padding mode is not supported")
        return {"kind": "conv2d", "in_channels": m.in_channels, "out_channels": m.out_channels, "kernel_size": _pair(m.kernel_size),
                "stride": _pair(m.stride), "padding": _pair(m.padding), "bias": m.bias is not None}
    if isinstance(m, (nn.AvgPool2d, nn.MaxPool2d)):
        if m.ceil_mode or (isinstance(m, nn.AvgPool2d) and (not m.count_include_pad or m.divisor_override)) \
                or (isinstance(m, nn.MaxPool2d) and _pair(m.dilation) != [1, 1]):
            raise ValueError(f"{where}: {type(m).__name__} with ceil_mode, dilation, count_include_pad=False or divisor_override is not supported")
        kind = "avgpool2d" if isinstance(m, nn.AvgPool2d) else "maxpool2d"
        stride = m.stride if m.stride is not None else m.kernel_size
        return {"kind": kind, "kernel_size": _pair(m.kernel_size), "stride": _pair(stride), "padding": _pair(m.padding)}
    if isinstance(m, nn.Flatten):
        if m.start_dim != 1 or m.end_dim != -1:
            raise ValueError(f"{where}: Flatten(start_dim={m.start_dim}, end_dim={m.end_dim}) (Wisp flattens each sample whole: start_dim=1, end_dim=-1)")
        return {"kind": "flatten"}
    if isinstance(m, nn.LeakyReLU):
        if m.negative_slope != 0.01:
            raise ValueError(f"{where}: LeakyReLU with slope {m.negative_slope} (Wisp's is 0.01)")
        return {"kind": "leaky-relu"}
    if isinstance(m, nn.Softplus):
        if m.beta != 1:
            raise ValueError(f"{where}: Softplus with beta {m.beta} (Wisp's is 1)")
        return {"kind": "softplus"}
    simple = {nn.ReLU: "relu", nn.Tanh: "tanh", nn.Sigmoid: "sigmoid", nn.Identity: "identity"}
    for cls, kind in simple.items():
        if type(m) is cls:
            return {"kind": kind}
    if hasattr(m, "body"):
        spec = {"kind": "residual", "body": torch_layers(m.body, where + ".body")}
        projection = getattr(m, "projection", None)
        if projection is not None:
            spec["projection"] = _torch_layer(projection, where + ".projection")
        return spec
    raise ValueError(f"{where}: {type(m).__name__} is not a layer Wisp knows (README, \"Layers\")")


def export_torch(model, input_shape, path, dtype="F32"):
    """Writes ``path.json`` and ``path.safetensors`` for a torch ``nn.Sequential`` (see the
    module's documentation for the modules it takes)."""
    layers = torch_layers(model)
    arrays = {k: v.detach().cpu().double().numpy() for k, v in model.state_dict().items()}
    return export(layers, input_shape, arrays, path, dtype)


def main(argv):
    import argparse
    parser = argparse.ArgumentParser(description="Write a Wisp model (architecture JSON + safetensors) from an architecture "
                                                 "JSON and an .npz of state-dict arrays.")
    parser.add_argument("architecture", help="JSON: {\"input\": [...], \"layers\": [...]}")
    parser.add_argument("weights", help=".npz keyed by state-dict name (0.weight, 0.bias, ...)")
    parser.add_argument("out", help="output prefix: writes OUT.json and OUT.safetensors")
    parser.add_argument("--dtype", default="F32", choices=["F32", "F64"])
    args = parser.parse_args(argv)
    with open(args.architecture) as f:
        architecture = json.load(f)
    with np.load(args.weights) as npz:
        arrays = {k: npz[k] for k in npz.files}
    try:
        export(architecture["layers"], architecture["input"], arrays, args.out, args.dtype)
    except ValueError as e:
        print(f"wisp_export: error: {e}", file=sys.stderr)
        return 1
    return 0


def console_main():
    """The ``wisp-export`` command (pyproject.toml's ``[project.scripts]``)."""
    sys.exit(main(sys.argv[1:]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
