"""Data parallelism over two virtual CPU devices (JAX, in a subprocess): same trajectory as
one device for the same global batch, metrics still per example."""

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

from tests.helpers import BACKEND

ROOT = pathlib.Path(__file__).resolve().parents[3]

TRAIN = textwrap.dedent("""
    import json, sys
    import numpy as np, keras
    import zoo
    from zoo.training.distribution import data_parallel
    from tests.zoo.common import digits
    devices = data_parallel() if sys.argv[1] == "parallel" else 1
    keras.utils.set_random_seed(0)
    model = zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=3, hidden=(32,), likelihood="bernoulli", seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    history = model.fit(digits(256), epochs=3, batch_size=64, shuffle=False, verbose=0).history
    print(json.dumps({"devices": devices, "history": history}))
""")


def run(mode):
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3",
           "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    result = subprocess.run([sys.executable, "-c", TRAIN, mode], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(BACKEND != "jax", reason="keras.distribution's DataParallel is JAX-only; "
                                             "this runs once, in the jax pass")
def test_two_devices_follow_the_one_device_trajectory():
    single, parallel = run("single"), run("parallel")
    assert parallel["devices"] == 2
    for name in ("loss", "elbo", "kl", "bits_per_dim"):
        a, b = single["history"][name], parallel["history"][name]
        assert all(abs(x - y) <= 1e-3 * abs(x) + 1e-3 for x, y in zip(a, b)), (name, a, b)
    # Per example (64 binary pixels): −elbo/(64 ln 2) bits/dim, not a per-device sum.
    h = parallel["history"]
    assert abs(h["bits_per_dim"][-1] + h["elbo"][-1] / (64 * 0.6931471805599453)) < 1e-3


def test_other_backends_get_a_clear_error():
    if BACKEND == "jax":
        pytest.skip("the jax pass tests the mechanism itself")
    from zoo.training.distribution import data_parallel

    with pytest.raises(ValueError, match="KERAS_BACKEND=jax"):
        data_parallel()
