"""Every example in examples/ runs with --quick (each on one backend: they are about the API,
which the rest of the suite checks on all three)."""

import os
import pathlib
import subprocess
import sys

import pytest

from tests.helpers import BACKEND

# The examples as scripts (their backend paths are tested in tests/zoo): `python -m tests` runs this module on one backend (tests/conftest.py).
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
    backend, expected = EXAMPLES[script]
    if BACKEND != backend:
        pytest.skip(f"{script} runs on {backend} only")
    env = {**os.environ, "KERAS_BACKEND": BACKEND, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, str(ROOT / "examples" / script), "--quick"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert expected in result.stdout, result.stdout[-3000:]
