"""Every command's JSON record against the documented schema (wisp/record.schema.json).

Runs each command of the real binary ($WISP) on tiny sizes, MLPs and layer networks, every
density method, then validates each record with the jsonschema library (Draft 2020-12). The
schema holds every command's settings with their types (numbers as numbers), the common blocks
(machine, parallel, timings, memory, wisp_commit, schema_version) and each result's fields.
"""
import copy
import json
import os
import subprocess

import jsonschema  # Debian python3-jsonschema (.ci/install-deps): a missing validator fails the run
import pytest

import wisp

DIGITS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "Data", "digits")
CNN = {"input": [1, 8, 8], "layers": [
    {"kind": "conv2d", "out_channels": 2, "kernel_size": 3, "padding": 1}, {"kind": "relu"},
    {"kind": "flatten"}, {"kind": "dense", "out_features": 3}]}


@pytest.fixture(scope="module")
def validator():
    schema = wisp.record_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.fixture(scope="module")
def records(wisp_binary, tmp_path_factory):
    """name → (command line, record) for every command and method."""
    d = tmp_path_factory.mktemp("records")
    (d / "cnn.json").write_text(json.dumps(CNN))
    images = os.path.join(DIGITS, "digits-images.idx3-ubyte")
    labels = os.path.join(DIGITS, "digits-labels.idx1-ubyte")
    digits = ["--inputs", images, "--labels", labels, "--scale-pixels", "--samples", "40"]
    mlp = ["--width", "16", "--samples", "12"]
    cnn = ["--architecture", "cnn.json", "--samples", "6"]
    runs = {
        "top-exact": ["top", *mlp, "--k", "2", "--method", "exact"],
        "top-lanczos": ["top", *mlp, "--k", "2", "--method", "lanczos", "--basis", "8", "--max-applications", "400"],
        "top-hessian": ["top", *mlp, "--k", "1", "--matrix", "hessian", "--which", "largest-magnitude"],
        "density-exact": ["density", *mlp, "--method", "exact"],
        "density-slq": ["density", *mlp, "--method", "slq", "--probes", "2", "--steps", "8", "--compare-exact"],
        "density-kpm": ["density", *mlp, "--method", "kpm", "--probes", "2", "--moments", "32", "--deflate", "1"],
        "moments": ["moments", *mlp],
        "theory": ["theory", *mlp],
        "data-spectrum": ["data-spectrum", "--inputs", images, "--scale-pixels"],
        "align": ["align", *digits, "--width", "16"],
        "train": ["train", *digits, "--width", "16", "--loss", "cross-entropy", "--steps", "4", "--every", "2",
                  "--optimizer", "momentum", "--lr", "0.01", "--batch-size", "8", "--output-dir", "trained"],
        "layers-top": ["top", *cnn, "--k", "2"],
        "layers-top-hessian": ["top", *cnn, "--k", "1", "--matrix", "hessian", "--loss", "cross-entropy"],
        "layers-density": ["density", *cnn, "--method", "slq", "--probes", "2", "--steps", "6"],
        "layers-density-kpm": ["density", *cnn, "--method", "kpm", "--probes", "2", "--moments", "16", "--compare-exact"],
        "layers-density-exact": ["density", *cnn, "--method", "exact"],
        "layers-moments": ["moments", *cnn],
        "layers-align": ["align", *cnn],
        "layers-reduce": ["reduce", *cnn, "--loss", "cross-entropy", "--keep", "3", "--sweep", "0,10", "--inpca",
                          "--save-reduced", "layers-reduced.safetensors"],
        "layers-top-eigenvectors": ["top", *cnn, "--k", "2", "--method", "lanczos", "--save-eigenvectors", "layers-ev.safetensors"],
        "layers-align-hutchinson": ["align", *cnn, "--exact-limit", "0", "--probes", "2"],
        "layers-moments-hessian": ["moments", *cnn, "--matrix", "hessian", "--loss", "cross-entropy", "--probes", "4"],
        "layers-train": ["train", *cnn, "--loss", "cross-entropy", "--steps", "4", "--every", "2", "--batch-size", "3",
                         "--optimizer", "adam", "--lr", "0.01", "--measure", "moments,top,density", "--top", "2", "--probes", "2",
                         "--slq-steps", "4", "--output-dir", "layers-trained"],
    }
    out = {}

    def run(name, args):
        path = d / f"{name}.json"
        done = subprocess.run([wisp_binary, *args, "--output", str(path), "--quiet"], cwd=d, capture_output=True, text=True)
        assert done.returncode == 0, f"{name}: {done.stderr}"
        out[name] = (args, json.loads(path.read_text()))

    for name, args in runs.items():
        run(name, args)
    model = d / "trained" / "models" / "step-000000004.safetensors"
    run("reduce", ["reduce", *digits, "--loss", "cross-entropy", "--model", str(model), "--keep", "5", "--sweep", "1,5%"])
    # The default job writes three records into wisp-output/.
    done = subprocess.run([wisp_binary, "run", *mlp, "--quiet"], cwd=d, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    for f in ["run", "density", "density-slq"]:
        out[f"run/{f}"] = (["run"], json.loads((d / "wisp-output" / f"{f}.json").read_text()))
    return out


def test_every_record_matches_the_schema(records, validator):
    commands = set()
    for name, (args, record) in records.items():
        errors = sorted(validator.iter_errors(record), key=lambda e: list(e.absolute_path))
        assert not errors, f"{name} ({' '.join(args)}): " + "; ".join(f"{list(e.absolute_path)}: {e.message[:200]}" for e in errors[:5])
        commands.add(record["command"])
    # Every subcommand that writes a record was run (the schema's command enum).
    assert commands == set(wisp.record_schema()["properties"]["command"]["enum"])


def test_settings_are_typed(records):
    _, top = records["top-lanczos"]
    s = top["settings"]
    assert s["k"] == 2 and s["basis"] == 8 and s["max_applications"] == 400 and isinstance(s["tolerance"], float)
    assert records["density-kpm"][1]["settings"]["kpm"]["moments"] == 32
    assert records["train"][1]["settings"]["training"]["batch_size"] == 8
    assert records["layers-train"][1]["settings"]["training"]["batch_size"] == 3
    assert records["reduce"][1]["settings"]["sweep"] == [1, {"percent": 5.0}]


def test_one_spelling_of_operator_applications(records):
    for name, (_, record) in records.items():
        keys = set(record)
        assert not any(k.endswith("_operator_applications") and k.split("_")[0] in ("lanczos", "slq", "kpm") for k in keys), name
    kpm = records["density-kpm"][1]
    assert kpm["operator_applications"] == (kpm["moment_operator_applications"] + kpm["bound_operator_applications"]
                                            + kpm["deflation_operator_applications"])


def test_layer_records_have_the_common_blocks(records):
    _, mlp = records["top-exact"]
    _, layers = records["layers-top"]
    common = {"schema_version", "wisp_version", "wisp_commit", "machine", "parallel", "timings", "memory", "peak_memory_bytes",
              "parameters", "samples", "configuration", "settings", "created", "arguments"}
    assert common <= set(mlp) and common <= set(layers)
    assert layers["architecture"]["layers"][0]["kind"] == "conv2d"
    assert layers["memory"]["weights_bytes"] == 8 * layers["parameters"]


@pytest.mark.parametrize("mutate, where", [
    (lambda r: r["settings"].__setitem__("k", "2"), "settings.k as a string"),
    (lambda r: r.__setitem__("lanczos_operator_applications", r.pop("operator_applications")), "the old spelling"),
    (lambda r: r.pop("wisp_commit"), "no commit"),
    (lambda r: r["machine"].pop("host"), "no host"),
    (lambda r: r.__setitem__("schema_version", 0), "another schema version"),
])
def test_the_schema_rejects(records, validator, mutate, where):
    record = copy.deepcopy(records["top-lanczos"][1])
    assert validator.is_valid(record)
    mutate(record)
    assert not validator.is_valid(record), where


def test_align_layers_are_named_on_layer_networks(records, validator):
    _, mlp = records["align"]
    _, layers = records["layers-align"]
    assert all("name" not in l for l in mlp["layers"]) and all("forward_alignment" in l for l in mlp["layers"])
    assert [l["name"] for l in layers["layers"]] == ["0", "3"]
    assert [l["layer"] for l in layers["layers"]] == [1, 2] and layers["method"] == "exact"
    assert all("forward_alignment" not in l for l in layers["layers"])
    assert records["layers-align-hutchinson"][1]["method"] == "hutchinson"
    record = copy.deepcopy(layers)
    record["layers"][0]["name"] = 0
    assert not validator.is_valid(record), "a numeric layer name"
