"""Run the test suite once per Keras backend, each in its own process: `python -m tests`.

KERAS_BACKEND is read once, when keras is imported, so one process tests one backend.
Extra arguments go to pytest (`python -m tests -k huber -x`); `--backends jax,torch`
picks backends. Any failing backend, and a backend that collects no tests (pytest's
exit code 5), fails the run.

Tests marked ``once`` (their subject is not the backend: argument checks, docs, CLI parsing,
plots, bookkeeping) run in one backend's process only (``once_backend``); plain ``pytest``
runs them on the backend it has.

More things keep the run short (CI runs all three backends on 2 cores):
- pytest-xdist spreads each backend's tests over one worker per core (at most
  MAX_WORKERS: a JAX worker holds ~4 GB). Most of the slow tests wait on a train.py or
  tune.py subprocess, so one process alone leaves a core idle. `-n 0` (or any `-n`)
  given to `python -m tests` wins.
- One OpenMP thread per worker (OMP_NUM_THREADS=1, unless set): PyTorch's threads spin
  while waiting, and two workers' threads on two cores slowed PyTorch's tests threefold.
- JAX's persistent compilation cache, in a folder that lives for the run only, shared by
  the workers and their subprocesses on every pass (JAX runs first, so the other passes' JAX
  subprocesses find their programs compiled): the tests build many models of the same shapes, and
  every new model is a new `jax.jit`, so without it XLA compiles the same program again
  (a repeated tiny train.py run: 57 s -> 27 s). Entries are compressed, so an entry read
  while another worker still writes it fails to decompress, and JAX warns and compiles.
  (Bounding the cache would add a lock, but then every write reads every entry's time.)
- XLA's CPU code generator at LLVM -O0 on every pass, for JAX and TensorFlow (Keras compiles
  TensorFlow's steps with XLA too): the tests' programs are tiny and each is compiled for a few
  calls, so LLVM's optimizer was most of their compile time (JAX's family tests: 86 s -> 61 s,
  TensorFlow's: 56 s -> 46 s). The programs are the same; only machine code is less optimized.
  The known-answer check of XLA's reductions (tests/zoo/training/test_jax_cpu_check.py) also
  runs at the default level, where users are. `XLA_FLAGS` set by the caller wins.
"""

import importlib.util
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

BACKENDS = ("jax", "tensorflow", "torch")  # JAX first: it fills the compilation cache
MAX_WORKERS = 4


def workers(pytest_args):
    """pytest-xdist options: one worker per core up to MAX_WORKERS, unless the caller chose."""
    if importlib.util.find_spec("xdist") is None:
        print("pytest-xdist is not installed (pip install -e '.[dev]'): running in one process.")
        return []
    if any(a == "-n" or a.startswith(("-n=", "--numprocesses")) or (a.startswith("-n") and a[2:].isdigit())
           for a in pytest_args):
        return []
    return ["-n", str(min(os.cpu_count() or 1, MAX_WORKERS)), "--dist", "worksteal"]


def one_thread_per_worker(worker_options, environ):
    """OMP_NUM_THREADS=1 when pytest-xdist runs one worker per core (the user's own setting wins).

    PyTorch's OpenMP threads, as many as cores in each worker, spin while they wait for each
    other; two workers on two cores then spend much of their time spinning (the PyTorch model
    tests: 132 s -> 43 s with one thread each). NumPy's BLAS reads it too. TensorFlow's and
    XLA's own pools were measured unaffected either way and are left alone.
    """
    if "OMP_NUM_THREADS" in environ or "-n" not in worker_options:
        return {}
    return {"OMP_NUM_THREADS": "1"} if int(worker_options[worker_options.index("-n") + 1]) > 1 else {}


def jax_compilation_cache(folder):
    """Environment for JAX's persistent compilation cache in `folder` (the user's own setting wins)."""
    settings = {"JAX_COMPILATION_CACHE_DIR": folder,
                "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}  # the tests' programs are small
    return {key: value for key, value in settings.items() if key not in os.environ}


#: LLVM's optimization level for XLA:CPU under `python -m tests` (the default is 2).
XLA_TEST_FLAG = "--xla_backend_optimization_level=0"


def xla_test_flags(environ):
    """Environment for compiling the tests' XLA programs fast (the user's own setting wins)."""
    flags = environ.get("XLA_FLAGS", "")
    if "xla_backend_optimization_level" in flags:
        return {}
    return {"XLA_FLAGS": f"{flags} {XLA_TEST_FLAG}".strip()}


def once_backend(backends):
    """The backend whose run takes the tests marked ``once`` (PyTorch's run is the shortest)."""
    return "torch" if "torch" in backends else backends[0]


def run_backend(backend, pytest_args, report_dir, once_on=None):
    report = os.path.join(report_dir, f"{backend}.xml")
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3",
           "VAE_ZOO_ONCE_BACKEND": once_on or backend}
    # On every pass: the other passes start JAX and TensorFlow subprocesses too (loading models
    # saved on their backend), which compile the same programs as the JAX pass.
    env.update(jax_compilation_cache(os.path.join(report_dir, "jax-compilation-cache")))
    env.update(xla_test_flags(os.environ))
    worker_options = workers(pytest_args)
    env.update(one_thread_per_worker(worker_options, os.environ))
    command = [sys.executable, "-m", "pytest", f"--junitxml={report}", "-p", "no:cacheprovider",
               *worker_options, *pytest_args]
    print(f"\n===== KERAS_BACKEND={backend}: {' '.join(command[1:])}", flush=True)
    start = time.time()
    code = subprocess.call(command, env=env)
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    if os.path.exists(report):
        suite = ET.parse(report).getroot()
        suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
        total = int(suite.get("tests", 0))
        failed = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        skipped = int(suite.get("skipped", 0))
        counts = {"passed": total - failed - skipped, "failed": failed, "skipped": skipped}
    if code == 5 and once_on and once_on != backend:
        # Everything selected is marked once (e.g. `-k docs`): it runs on the once backend, whose
        # own run fails if it collects nothing.
        print(f"{backend}: nothing selected here (tests marked once run on {once_on}).")
        code = 0
    elif code == 5:
        print(f"{backend}: pytest collected no tests; that is a failure, not a pass.")
        code = 1
    if code != 0 and counts["failed"] == 0:
        counts["failed"] = 1  # crashed or collected nothing: still a failure in the totals
    return code, counts, time.time() - start


def main(argv):
    backends = BACKENDS
    if argv[:1] == ["--backends"]:
        backends, argv = tuple(argv[1].split(",")), argv[2:]
    results = {}
    with tempfile.TemporaryDirectory() as report_dir:
        for backend in backends:
            results[backend] = run_backend(backend, argv, report_dir, once_backend(backends))
    print("\n===== summary")
    total = {"passed": 0, "failed": 0, "skipped": 0}
    for backend, (code, counts, seconds) in results.items():
        status = "ok" if code == 0 else f"FAILED (exit {code})"
        print(f"{backend:>10}: {counts['passed']} passed, {counts['failed']} failed, "
              f"{counts['skipped']} skipped in {seconds:.0f} s — {status}")
        for key in total:
            total[key] += counts[key]
    print(f"all: {total['passed']} passed, {total['failed']} failed, {total['skipped']} skipped")
    return 1 if any(code != 0 for code, _, _ in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
