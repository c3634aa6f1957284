"""Running the ``wisp`` binary and reading its results.

``run(command, **flags)`` writes the array and model arguments to files in a temporary
directory, runs ``wisp COMMAND --flag value … --output DIR/result.json --quiet`` (under
``mpirun -np N`` when ``ranks`` is given), reads the JSON record and the CSV files beside it,
and returns a ``Result``: a dict of the record's fields with every list of numbers a numpy
array, the record itself as ``.record``. A non-zero exit raises ``WispError`` with Wisp's
one-line message (``wisp: error: …``) and the exit code.
"""
import json
import os
import shutil
import subprocess
import tempfile

import numpy as np

from .files import write_model, write_npy, _is_torch_module


class WispError(RuntimeError):
    """A ``wisp`` run that exited non-zero.

    ``message``: Wisp's one error line (``wisp: error: …``), or the last line of stderr;
    ``returncode``: the exit code; ``stderr``: all of it; ``command``: the argument list;
    ``record``: the JSON record when the run wrote one (``wisp top`` writes it and exits
    non-zero when a pair did not converge), else ``None``.
    """

    def __init__(self, message, returncode, stderr="", command=None, record=None):
        super().__init__(message)
        self.message = message
        self.returncode = returncode
        self.stderr = stderr
        self.command = command
        self.record = record

    def __str__(self):
        return f"{self.message} (exit code {self.returncode})"


class Result(dict):
    """A run's JSON record as a dict, every list of numbers a numpy array (eigenvalues,
    residuals, grid, density, …); ``.record`` is the record exactly as parsed, ``.stderr`` the
    run's summary, and for an exact density ``result["all_eigenvalues"]`` holds every eigenvalue
    from the ``.eigenvalues.csv`` file beside the JSON. Every command's record has the same
    layout (``record.schema.json`` beside this module, ``record_schema()``): the result's fields at the top level, so
    ``r["eigenvalues"]`` reads the same for an MLP and a layer network."""

    def __init__(self, record, stderr=""):
        super().__init__({k: _arrays(v) for k, v in record.items()})
        self.record = record
        self.stderr = stderr


def _arrays(v):
    if isinstance(v, dict):
        return {k: _arrays(x) for k, x in v.items()}
    if isinstance(v, list):
        if v and all(isinstance(x, bool) for x in v):
            return np.asarray(v, dtype=bool)
        if v and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
            return np.asarray(v, dtype=np.float64 if any(isinstance(x, float) for x in v) else np.int64)
        return [_arrays(x) for x in v]
    return v


def record_schema():
    """The JSON Schema (Draft 2020-12) of every wisp command's JSON record, as a dict: validate a
    record with ``jsonschema.validate(record, wisp.record_schema())``."""
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "record.schema.json"), encoding="utf-8") as f:
        return json.load(f)


def find_binary(wisp=None):
    """The ``wisp`` executable: the argument, else ``$WISP``, else ``wisp`` on PATH."""
    candidate = wisp or os.environ.get("WISP")
    if candidate:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return os.path.abspath(candidate)
        found = shutil.which(candidate)
        if found:
            return found
        source = "the wisp argument" if wisp else "$WISP"
        raise FileNotFoundError(f"{source} names {candidate!r}, which is not an executable file")
    found = shutil.which("wisp")
    if not found:
        raise FileNotFoundError("no wisp binary: pass wisp=PATH, set $WISP, or put wisp on PATH "
                                "(build it with `swift build -c release --product wisp`)")
    return found


def _mpi_prefix(ranks, mpirun, mpirun_args):
    launcher = shutil.which(mpirun or os.environ.get("WISP_MPIRUN", "mpirun"))
    if launcher is None:
        raise FileNotFoundError(f"ranks={ranks} needs {mpirun or 'mpirun'}, which is not on PATH")
    prefix = [launcher, "-np", str(int(ranks))]
    if mpirun_args is not None:
        return prefix + list(mpirun_args)
    try:
        version = subprocess.run([launcher, "--version"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        version = ""
    if "Open MPI" in version and int(ranks) > (os.cpu_count() or 1):
        prefix.append("--oversubscribe")
    return prefix


def _mpi_environment(env):
    env = dict(os.environ if env is None else env)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    return env


def _flag_arguments(flags):
    args = []
    for name, value in flags.items():
        if value is None or value is False:
            continue
        flag = "--" + name.replace("_", "-")
        if value is True:
            args.append(flag)
        elif isinstance(value, (list, tuple)):
            args += [flag, ",".join(_text(x) for x in value)]
        else:
            args += [flag, _text(value)]
    return args


def _text(value):
    # repr of a float is Python's shortest round-trip text, which Wisp parses to the same double.
    return repr(value) if isinstance(value, float) else str(value)


def _error_line(stderr):
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        at = line.find("wisp: error:")
        if at >= 0:
            return line[at:]
    return lines[-1] if lines else "wisp exited without a message"


def run(command, *, wisp=None, ranks=None, mpirun=None, mpirun_args=None, inputs=None, targets=None,
        labels=None, model=None, architecture=None, input_shape=None, output=None, env=None, timeout=None,
        **flags):
    """Runs ``wisp COMMAND`` with ``flags`` and returns its ``Result``.

    Flags: a keyword ``k=5`` is ``--k 5``, ``sigma_w2=2.0`` is ``--sigma-w2 2.0``, ``True`` is the
    flag alone (``scale_pixels=True``), ``False``/``None`` leave it out, a list is joined by
    commas (``sweep=[1, 5]``). ``inputs``, ``targets``, ``labels``: a path, or a numpy array
    written to a temporary .npy. ``model``: a path, a dict of numpy arrays (an MLP state dict,
    or a layer network's with ``architecture``), or a ``torch.nn.Sequential`` (with
    ``input_shape``). ``architecture``: a path or a dict ``{"input": [...], "layers": [...]}``.
    ``ranks=N`` runs under ``mpirun -np N`` (``mpirun``: another launcher, e.g.
    ``"mpiexec.mpich"``; ``mpirun_args``: its extra arguments, default ``--oversubscribe`` for
    Open MPI when N exceeds the cores; as root the OMPI_ALLOW_RUN_AS_ROOT variables are set).
    ``output``: keep the JSON (and its CSV/SVG siblings) at this path instead of a temporary
    directory. ``wisp``: the binary (default ``$WISP``, then PATH).
    """
    binary = find_binary(wisp)
    flags.pop("quiet", None)  # always passed: progress lines would only fill stderr
    with tempfile.TemporaryDirectory(prefix="wisp-") as tmp:
        args = [binary] + command.split() if isinstance(command, str) else [binary] + list(command)
        for name, value, integer in (("inputs", inputs, False), ("targets", targets, False), ("labels", labels, True)):
            if value is None:
                continue
            if not isinstance(value, (str, os.PathLike)):
                value = write_npy(os.path.join(tmp, name + ".npy"), value, integer=integer)
            args += ["--" + name, os.fspath(value)]
        if isinstance(architecture, dict):
            if model is not None and not isinstance(model, (str, os.PathLike)) and not _is_torch_module(model):
                # The export writes the description and the weights (with it in their metadata).
                model = write_model(os.path.join(tmp, "model"), model, layers=architecture, input_shape=input_shape)
                architecture = os.path.join(tmp, "model.json")
            else:
                path = os.path.join(tmp, "architecture.json")
                with open(path, "w") as f:
                    json.dump(architecture, f)
                architecture = path
        if model is not None and not isinstance(model, (str, os.PathLike)):
            if _is_torch_module(model):
                model = write_model(os.path.join(tmp, "model"), model, input_shape=input_shape)
                if architecture is None:
                    architecture = os.path.join(tmp, "model.json")
            else:
                model = write_model(os.path.join(tmp, "model"), model)
        if architecture is not None:
            args += ["--architecture", os.fspath(architecture)]
        if model is not None:
            args += ["--model", os.fspath(model)]
        out = os.fspath(output) if output is not None else os.path.join(tmp, "result.json")
        args += _flag_arguments(flags) + ["--output", out, "--quiet"]
        run_env = env
        if ranks is not None:
            args = _mpi_prefix(ranks, mpirun, mpirun_args) + args
            run_env = _mpi_environment(env)
        done = subprocess.run(args, capture_output=True, text=True, env=run_env, timeout=timeout)
        record = None
        if out != "-" and os.path.isfile(out):
            with open(out) as f:
                record = json.load(f)
        elif out == "-" and done.returncode == 0:
            record = json.loads(done.stdout)
        if done.returncode != 0:
            raise WispError(_error_line(done.stderr), done.returncode, done.stderr, args, record)
        if record is None:
            raise WispError(f"wisp exited 0 but wrote no JSON record at {out}", 0, done.stderr, args)
        result = Result(record, done.stderr)
        eigenvalues_file = record.get("eigenvalues_file")
        if isinstance(eigenvalues_file, str):
            path = eigenvalues_file if os.path.isabs(eigenvalues_file) else os.path.join(os.path.dirname(out), os.path.basename(eigenvalues_file))
            if os.path.isfile(path):
                result["all_eigenvalues"] = _read_csv_column(path)
        return result


def _read_csv_column(path):
    """The first column of a Wisp CSV (column names on the first line) as float64."""
    table = np.genfromtxt(path, delimiter=",", names=True, dtype=np.float64)
    return np.atleast_1d(table[table.dtype.names[0]]).astype(np.float64)


def top(**flags):
    """``wisp top``: the k extreme eigenpairs (``eigenvalues`` descending, ``residuals``, ``method``)."""
    return run("top", **flags)


def density(**flags):
    """``wisp density``: ``grid`` and ``density`` (and, ``method="exact"``, ``all_eigenvalues``)."""
    return run("density", **flags)


def moments(**flags):
    """``wisp moments``: ``trace``, ``mean_eigenvalue``, ``second_moment``, ``power_moments``."""
    return run("moments", **flags)
