"""Test setup shared by every backend's run (KERAS_BACKEND is read once, at import)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import pytest  # noqa: E402


#: Set by ``python -m tests``: the one backend whose run includes the tests marked ``once``.
ONCE_BACKEND = os.environ.get("VAE_ZOO_ONCE_BACKEND")


def pytest_report_header(config):
    return f"keras {keras.__version__}, backend {keras.backend.backend()}"


def pytest_collection_modifyitems(config, items):
    """Under ``python -m tests``, a ``once`` test runs in one backend's process only: its
    subject is not the backend, and running it three times only costs CI time."""
    if not ONCE_BACKEND or ONCE_BACKEND == keras.backend.backend():
        return
    once = [item for item in items if item.get_closest_marker("once")]
    if once:
        config.hook.pytest_deselected(items=once)
        items[:] = [item for item in items if not item.get_closest_marker("once")]


@pytest.fixture(autouse=True)
def _seeded():
    """Every test starts from the same global seed (bit-identical runs per backend on CPU)."""
    keras.utils.set_random_seed(1234)
    yield
