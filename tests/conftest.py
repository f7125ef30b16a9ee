"""Test setup shared by every backend's run (KERAS_BACKEND is read once, at import)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import pytest  # noqa: E402


def pytest_report_header(config):
    return f"keras {keras.__version__}, backend {keras.backend.backend()}"


@pytest.fixture(autouse=True)
def _seeded():
    """Every test starts from the same global seed (bit-identical runs per backend on CPU)."""
    keras.utils.set_random_seed(1234)
    yield
