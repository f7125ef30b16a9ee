"""Every example in examples/ runs with --quick, each in a process of its own backend (they are
about the API, which the rest of the suite checks on all three)."""

import os
import pathlib
import subprocess
import sys

import pytest


# The examples as scripts (their backend paths are tested in tests/zoo): `python -m tests` runs
# this module in one backend's pass (tests/conftest.py), and each example starts its own backend.
pytestmark = pytest.mark.once

ROOT = pathlib.Path(__file__).resolve().parents[1]

#: example → (the backend it runs on, text its output must show)
EXAMPLES = {
    "fit_your_own_data.py": ("tensorflow", "reloaded with identical reconstructions: True"),
    "mse_is_a_gaussian.py": ("torch", "| continuous Bernoulli |"),
    "search_in_code.py": ("jax", "test"),
    "custom_likelihood.py": ("torch", "saved and reloaded"),
}


def test_every_example_is_tested():
    assert set(EXAMPLES) == {p.name for p in (ROOT / "examples").glob("*.py")}


@pytest.mark.parametrize("script", sorted(EXAMPLES))
def test_example_runs_quick(script, tmp_path):
    # Not skipped where the pass's backend differs: the once tests run in one pass only, so a
    # skip there left two of the four examples untested.
    backend, expected = EXAMPLES[script]
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, str(ROOT / "examples" / script), "--quick"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert expected in result.stdout, result.stdout[-3000:]
