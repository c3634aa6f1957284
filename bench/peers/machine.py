#!/usr/bin/env python3
"""The machine a benchmark ran on, as JSON: CPU, cores, load average, the OpenBLAS environment,
the OpenBLAS that `wisp` links and the kernel it picks in this environment (openblas_get_corename
through ctypes) and its dgemm rate, and numpy's BLAS (kernel and dgemm rate) in the environment the numpy peer runs in (OPENBLAS_CORETYPE and
OPENBLAS_L2_SIZE unset; threadpoolctl's report, or numpy.show_config's when it is missing).

    machine.py --wisp .build-bench/release/wisp
"""
import argparse, ctypes, json, math, os, platform, re, subprocess, sys

NUMPY_PROBE = r"""
import json, numpy
try:
    import threadpoolctl
    info = [{k: d.get(k) for k in ("internal_api", "version", "architecture", "num_threads", "filepath")}
            for d in threadpoolctl.threadpool_info()]
except ImportError:
    info = "threadpoolctl missing: " + str(numpy.show_config(mode="dicts").get("Build Dependencies", {}).get("blas"))
import time
n = 2048
a, b = numpy.random.rand(n, n), numpy.random.rand(n, n)
a @ b
best = min((lambda t0: (a @ b, time.perf_counter() - t0)[1])(time.perf_counter()) for _ in range(2))
print(json.dumps({"numpy": numpy.__version__, "blas": info, "dgemm_gflops": 2 * n ** 3 / best / 1e9}))
"""


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def wisp_openblas(wisp):
    """(library path, core name, threads) of the OpenBLAS `wisp` loads, probed in this environment."""
    try:
        ldd = subprocess.run(["ldd", wisp], capture_output=True, text=True, check=True).stdout
        path = next(m.group(1) for m in re.finditer(r"=> (\S*(?:openblas|blas)\S*)", ldd))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        return {"library": "not found by ldd"}
    out = {"library": os.path.realpath(path)}
    try:
        lib = ctypes.CDLL(path)
        lib.openblas_get_corename.restype = ctypes.c_char_p
        out["kernel"] = lib.openblas_get_corename().decode()
        out["threads"] = lib.openblas_get_num_threads()
        lib.openblas_get_config.restype = ctypes.c_char_p
        out["config"] = lib.openblas_get_config().decode().strip()
        out["dgemm_gflops"] = dgemm_rate(lib)
    except (OSError, AttributeError) as e:
        out["kernel"] = f"unknown ({e})"
    return out


def dgemm_rate(lib, n=2048):
    """GFLOP/s of one n × n × n cblas_dgemm of this library (best of 2 after a warm-up)."""
    import time
    import numpy as np
    a, b, c = np.random.rand(n, n), np.random.rand(n, n), np.zeros((n, n))
    ptr = ctypes.POINTER(ctypes.c_double)
    args = (101, 111, 111, n, n, n, ctypes.c_double(1.0), a.ctypes.data_as(ptr), n, b.ctypes.data_as(ptr), n,
            ctypes.c_double(0.0), c.ctypes.data_as(ptr), n)
    lib.cblas_dgemm(*args)
    best = math.inf
    for _ in range(2):
        t0 = time.perf_counter()
        lib.cblas_dgemm(*args)
        best = min(best, time.perf_counter() - t0)
    return 2 * n ** 3 / best / 1e9


def wisp_run_kernel(wisp):
    """The kernel Wisp's own runs use (its JSON's machine.blas_kernel): Wisp relaunches itself with
    OPENBLAS_CORETYPE set when OpenBLAS falls back to generic kernels on a CPU it does not know."""
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "probe.json")
        r = subprocess.run([wisp, "theory", "--depth", "2", "--width", "2", "--samples", "1", "--quiet", "--output", out],
                           capture_output=True, text=True)
        if r.returncode != 0:
            return None
        with open(out) as f:
            return json.load(f).get("machine", {}).get("blas_kernel")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--wisp", required=True)
    p.add_argument("--probe-only", action="store_true", help="print only Wisp's OpenBLAS as loaded in this environment")
    a = p.parse_args()
    if a.probe_only:
        print(json.dumps(wisp_openblas(a.wisp)))
        return
    env = {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    numpy_env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    probe = subprocess.run([sys.executable, "-c", NUMPY_PROBE], capture_output=True, text=True, env=numpy_env)
    numpy_blas = json.loads(probe.stdout) if probe.returncode == 0 else {"error": probe.stderr.strip()[-300:]}
    try:
        import jax, jaxlib  # noqa: F401
        jax_version = f"jax {jax.__version__}, jaxlib {jaxlib.__version__}"
    except ImportError:
        jax_version = None
    try:
        import scipy
        scipy_version = scipy.__version__
    except ImportError:
        scipy_version = None
    wisp_blas = wisp_openblas(a.wisp)
    run_kernel = wisp_run_kernel(a.wisp)
    wisp_blas["kernel_of_wisp_runs"] = run_kernel
    chosen = re.search(r"OPENBLAS_CORETYPE=(\S+) set by Wisp", run_kernel or "")
    if chosen and not os.environ.get("OPENBLAS_CORETYPE"):
        # Wisp's runs use another kernel than this environment loads: measure that one.
        probe_env = dict(os.environ, OPENBLAS_CORETYPE=chosen.group(1))
        r = subprocess.run([sys.executable, __file__, "--wisp", a.wisp, "--probe-only"], capture_output=True, text=True, env=probe_env)
        if r.returncode == 0:
            wisp_blas["environment_default"] = {k: wisp_blas[k] for k in ("kernel", "dgemm_gflops") if k in wisp_blas}
            wisp_blas.update({k: v for k, v in json.loads(r.stdout).items() if k in ("kernel", "dgemm_gflops")})
    print(json.dumps({"cpu": cpu_model(), "cores": os.cpu_count(), "load_average": list(os.getloadavg()),
                      "environment": env, "wisp_blas": wisp_blas, "numpy_environment_unset":
                      ["OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"], "numpy_blas": numpy_blas, "jax": jax_version,
                      "scipy": scipy_version, "python": platform.python_version()}, indent=1))


if __name__ == "__main__":
    main()
