import importlib.metadata
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.helpers import BACKEND
from zoo.training import jax_cpu_check

pytestmark = pytest.mark.skipif(BACKEND != "jax", reason="the miscompile is XLA:CPU's, under JAX")


def test_installed_jax_computes_the_known_answer():
    p, x, expected = jax_cpu_check._known_answer()
    assert p.shape[0] * p.shape[1] > 32768  # past the size where jaxlib 0.10.2 went wrong
    jax_cpu_check._VERIFIED.clear()
    jax_cpu_check.check_reductions()
    assert jax_cpu_check._VERIFIED
    flags = os.environ.get("XLA_FLAGS", "").split()
    if any(flag.startswith("--xla_backend_optimization_level") for flag in flags):
        # `python -m tests` compiles at LLVM -O0 (tests/__main__.py); users compile at the
        # default level, so the known answer is checked there too, in a fresh process.
        env = {**os.environ, "XLA_FLAGS": " ".join(
            flag for flag in flags if not flag.startswith("--xla_backend_optimization_level"))}
        result = subprocess.run([sys.executable, "-c", "import zoo.training.jax_cpu_check as c; c.check_reductions(); "
                                 "assert c._VERIFIED; print('verified')"],
                                env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0 and "verified" in result.stdout, result.stderr[-3000:]


def test_a_wrong_answer_stops_with_the_fix(monkeypatch):
    p, x, expected = jax_cpu_check._known_answer()
    monkeypatch.setattr(jax_cpu_check, "_known_answer", lambda: (p, x, expected + 1.0))
    monkeypatch.setattr(jax_cpu_check, "_VERIFIED", [])
    monkeypatch.setenv("XLA_FLAGS", "")
    with pytest.raises(jax_cpu_check.MiscompileError) as error:
        jax_cpu_check.check_reductions()
    message = str(error.value)
    assert "jax-ml/jax#39103" in message and "jaxlib==0.10.1" in message
    assert "XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type=" in message
    assert "before `import zoo`" not in message
    assert not jax_cpu_check._VERIFIED  # checked again next time, not passed
    monkeypatch.setenv("XLA_FLAGS", jax_cpu_check.FIX_FLAG)  # set, but too late to take effect
    with pytest.raises(jax_cpu_check.MiscompileError, match="before `import zoo`: import zoo first"):
        jax_cpu_check.check_reductions()


@pytest.mark.parametrize("version, flags, expected", [
    ("0.10.2", None, jax_cpu_check.FIX_FLAG),
    ("0.11.1", "--xla_force_host_platform_device_count=2",
     "--xla_force_host_platform_device_count=2 " + jax_cpu_check.FIX_FLAG),
    ("0.10.1", None, None),  # no YNN fusion to switch off
    ("0.12.0", None, None),  # not known to take the flag: an unknown flag aborts JAX
    ("0.10.2", "--xla_cpu_experimental_ynn_fusion_type=reduce", "--xla_cpu_experimental_ynn_fusion_type=reduce"),
])
def test_import_switches_the_fusion_off_where_it_is_known(monkeypatch, version, flags, expected):
    monkeypatch.setattr(importlib.metadata, "version", lambda name: version)
    environ = {} if flags is None else {"XLA_FLAGS": flags}
    changed = jax_cpu_check.disable_ynn_fusion(environ)
    assert environ.get("XLA_FLAGS") == expected
    assert changed == (expected is not None and expected != flags)


def test_this_process_has_the_fusion_off_if_its_jaxlib_has_it():
    release = jax_cpu_check._release(importlib.metadata.version("jaxlib"))
    affected = jax_cpu_check.FUSION_RELEASES[0] <= release < jax_cpu_check.FUSION_RELEASES[1]
    assert (jax_cpu_check.FIX_FLAG in os.environ.get("XLA_FLAGS", "")) == affected


def test_the_zoo_checks_before_it_compiles(monkeypatch):
    import zoo

    calls = []
    monkeypatch.setattr(jax_cpu_check, "_VERIFIED", [])
    monkeypatch.setattr(jax_cpu_check, "_known_answer",
                        lambda: calls.append(1) or (np.ones((1, 1)), np.ones(1), np.full((1,), 9.0)))
    model = zoo.MLPVAE(input_shape=(4,), latent_dim=2, hidden=(4,))
    model.compile(optimizer="adam")
    x = np.ones((8, 4), "float32")
    assert zoo.MiscompileError is jax_cpu_check.MiscompileError
    for run in (lambda: model.fit(x, verbose=0), lambda: model.evaluate(x, verbose=0),
                lambda: model.predict(x, verbose=0), lambda: zoo.log_likelihood(model, x, num_samples=2)):
        with pytest.raises(zoo.MiscompileError):
            run()
    assert len(calls) == 4
