"""Data parallelism over two virtual CPU devices (JAX, in a subprocess): same trajectory as
one device for the same global batch, metrics still per example."""

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

from tests.helpers import BACKEND, xla_flags

ROOT = pathlib.Path(__file__).resolve().parents[3]

TRAIN = textwrap.dedent("""
    import json
    import numpy as np, keras
    import zoo
    from zoo.training.distribution import data_parallel
    from tests.zoo.common import digits
    runs = {}
    for mode in ("single", "parallel"):  # one process: a model keeps the setting it was built under
        devices = data_parallel() if mode == "parallel" else 1
        keras.utils.set_random_seed(0)
        model = zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=3, hidden=(32,), likelihood="bernoulli", seed=0)
        model.compile(optimizer=keras.optimizers.Adam(1e-2))
        history = model.fit(digits(256), epochs=3, batch_size=64, shuffle=False, verbose=0).history
        runs[mode] = {"devices": devices, "history": history}
    print(json.dumps(runs))
""")


def run_script(script, *arguments, backend="jax", devices=None, timeout=600):
    """Run ``script`` in a fresh process (on ``devices`` virtual XLA CPU devices if given) and
    return the JSON its last line prints."""
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    if devices is not None:
        env["XLA_FLAGS"] = xla_flags(f"--xla_force_host_platform_device_count={devices}")
    result = subprocess.run([sys.executable, "-c", script, *arguments], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(BACKEND != "jax", reason="keras.distribution's DataParallel is JAX-only; "
                                             "this runs once, in the jax pass")
def test_two_devices_follow_the_one_device_trajectory():
    runs = run_script(TRAIN, devices=2, timeout=300)
    single, parallel = runs["single"], runs["parallel"]
    assert parallel["devices"] == 2
    for name in ("loss", "elbo", "kl", "bits_per_dim"):
        a, b = single["history"][name], parallel["history"][name]
        assert all(abs(x - y) <= 1e-3 * abs(x) + 1e-3 for x, y in zip(a, b)), (name, a, b)
    # Per example (64 binary pixels): −elbo/(64 ln 2) bits/dim, not a per-device sum.
    h = parallel["history"]
    assert abs(h["bits_per_dim"][-1] + h["elbo"][-1] / (64 * 0.6931471805599453)) < 1e-3


ODD_SIZES = textwrap.dedent("""
    import json
    import numpy as np, keras
    import zoo
    from zoo.training.distribution import data_parallel, single_device
    from tests.zoo.common import digits
    runs = {}
    for kind in ("iwae", "dequantized"):
        for mode in ("1", "2", "3"):  # one process: a model keeps the setting it was built under
            if mode == "1":
                single_device()
                devices = 1
            else:
                devices = data_parallel(keras.distribution.list_devices()[:int(mode)])
            keras.utils.set_random_seed(0)
            x = digits(97)
            if kind == "iwae":
                model = zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=3, hidden=(16,), k=3, seed=0)
            else:  # 17 grey levels under a continuous likelihood: dequantization noise as well
                model = zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=3, hidden=(16,), likelihood="gaussian",
                                   data_levels=17, seed=0)
                x = digits(97, binary=False)
            model.compile(optimizer=keras.optimizers.Adam(1e-2))
            # 37 training images in batches of 10, 23 validation images in batches of 8: no size divides.
            history = model.fit(x[:37], epochs=2, batch_size=10, shuffle=False, verbose=0,
                                validation_data=(x[37:60],), validation_batch_size=8).history
            scores = model.evaluate(x[60:83], batch_size=7, verbose=0, return_dict=True)
            reconstruction = keras.ops.convert_to_numpy(model.predict(x[83:], batch_size=5, verbose=0))
            keras.utils.set_random_seed(1)
            log_px = zoo.log_likelihood(model, x[83:], num_samples=7, batch_size=5)
            runs.setdefault(kind, {})[mode] = {"devices": devices, "history": history, "scores": scores,
                                               "reconstruction": reconstruction.tolist(), "log_px": log_px.tolist()}
    print(json.dumps(runs))
""")


@pytest.mark.skipif(BACKEND != "jax", reason="keras.distribution's DataParallel is JAX-only; "
                                             "this runs once, in the jax pass")
def test_any_data_and_batch_size_on_two_and_three_devices_matches_one():
    import numpy as np

    runs = run_script(ODD_SIZES, devices=3)
    for kind in ("iwae", "dequantized"):
        single = runs[kind]["1"]
        for devices in ("2", "3"):
            parallel = runs[kind][devices]
            where = f"{kind} on {devices} devices"
            assert parallel["devices"] == int(devices)
            for name, values in single["history"].items():
                np.testing.assert_allclose(parallel["history"][name], values, rtol=2e-4, atol=2e-4,
                                           err_msg=f"{where}: {name}")
            for name, value in single["scores"].items():
                np.testing.assert_allclose(parallel["scores"][name], value, rtol=2e-4, atol=2e-4,
                                           err_msg=f"{where}: {name}")
            np.testing.assert_allclose(parallel["reconstruction"], single["reconstruction"], rtol=1e-4, atol=1e-5,
                                       err_msg=where)
            np.testing.assert_allclose(parallel["log_px"], single["log_px"], rtol=1e-4, atol=1e-3, err_msg=where)


@pytest.mark.skipif(BACKEND != "jax", reason="needs keras.distribution (JAX)")
def test_a_batch_smaller_than_the_device_count_is_named():
    from zoo.training.distribution import check_batch_size

    with pytest.raises(ValueError, match="--batch-size 2 is smaller than the 3 devices"):
        check_batch_size(2, 3)
    check_batch_size(3, 3)
    check_batch_size(7, 3)  # any size from there: batches are padded


def test_single_device_undoes_data_parallel_and_a_second_call_replaces_the_first():
    if BACKEND == "torch":
        pytest.skip("JAX and TensorFlow have a data-parallel path")
    import keras
    from zoo.training.distribution import data_parallel, single_device

    def active():
        if BACKEND == "jax":
            return keras.distribution.distribution() is not None
        import tensorflow as tf

        return tf.distribute.has_strategy()

    try:
        assert data_parallel() == 1 and active()  # this process has one device
        assert data_parallel() == 1 and active()  # not nested: TensorFlow refuses a second strategy inside one
        if BACKEND == "tensorflow":
            with pytest.raises(ValueError, match="already ran data parallel over 1 devices, and TensorFlow "
                                                 "cannot then mirror over 2: use 1 again, or a new process"):
                data_parallel(["/CPU:0", "/CPU:0"])
            assert active()  # the refused call changed nothing
    finally:
        single_device()
    assert not active()
    single_device()  # nothing to undo
    assert not active()


def test_pytorch_gets_a_clear_error():
    if BACKEND != "torch":
        pytest.skip("JAX and TensorFlow have a data-parallel path")
    from zoo.training.distribution import data_parallel

    with pytest.raises(ValueError, match="KERAS_BACKEND=jax or tensorflow"):
        data_parallel()


MIRRORED = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 3)
    import numpy as np, keras
    import zoo
    from zoo.training.distribution import data_parallel, single_device
    from tests.zoo.common import digits
    weights, runs = sys.argv[1], {}
    # Several runs in one process (a model keeps the strategy it was built under), but one
    # device count above 1 per process: TensorFlow's collectives remember a group's size.
    for replicas in map(int, sys.argv[2].split(",")):
        if replicas > 1:
            data_parallel([d.name for d in tf.config.list_logical_devices("CPU")][:replicas])
        else:
            single_device()
        keras.utils.set_random_seed(0)
        model = zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=3, hidden=(32,), seed=0, kl_warmup_steps=5)
        model.compile(optimizer=keras.optimizers.Adam(1e-2))
        x = digits(97)
        # Odd sizes everywhere: 37 images in batches of 10, validation 23 in batches of 7.
        history = model.fit(x[:37], epochs=2, batch_size=10, verbose=0, validation_data=(x[37:60],),
                            validation_batch_size=7).history
        steps = float(keras.ops.convert_to_numpy(model.training_steps))
        model.load_weights(weights)  # the same weights on 1, 2 and 3 replicas from here
        # 20 draws of the ELBO on 23 images, as 5 calls on 4 copies (a call costs ~0.5 s mirrored).
        repeated = np.concatenate([x[60:83]] * 4)
        scores = [model.evaluate(repeated, batch_size=7, verbose=0, return_dict=True)["elbo"] for _ in range(5)]
        reconstruction = keras.ops.convert_to_numpy(model.predict(x[83:], batch_size=5, verbose=0))
        log_px = zoo.log_likelihood(model, x[60:], num_samples=200, batch_size=5)
        runs[replicas] = {"replicas": model.distribute_strategy.num_replicas_in_sync, "history": history,
                          "steps": steps, "elbo": scores,
                          "reconstruction": reconstruction.tolist(), "log_px": float(log_px.mean())}
    print(json.dumps(runs))
""")


@pytest.mark.skipif(BACKEND != "tensorflow", reason="tf.distribute's MirroredStrategy; runs in the tensorflow pass")
def test_tensorflow_mirrored_strategy_on_odd_sizes(tmp_path):
    import numpy as np
    import zoo
    from tests.zoo.common import digits

    weights = tmp_path / "trained.weights.h5"
    trained = zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=3, hidden=(32,), seed=0, kl_warmup_steps=5)
    trained.compile(optimizer="adam")
    trained.fit(digits(64), epochs=3, verbose=0)
    trained.save_weights(weights)

    runs = {}
    for replicas in ("1,2", "3"):
        runs.update(run_script(MIRRORED, str(weights), replicas, backend="tensorflow"))
    single = runs["1"]
    assert single["replicas"] == 1
    for replicas in (2, 3):
        mirrored = runs[str(replicas)]
        assert mirrored["replicas"] == replicas
        assert mirrored["steps"] == single["steps"] == 8  # the warm-up counts steps, not replicas' steps
        assert mirrored["history"]["loss"][1] < mirrored["history"]["loss"][0]
        # Deterministic outputs are equal; each replica draws its own noise, so the ELBO and the
        # IS estimate agree within their sampling noise.
        np.testing.assert_allclose(mirrored["reconstruction"], single["reconstruction"], rtol=1e-5, atol=1e-6)
        a, b = np.array(single["elbo"]), np.array(mirrored["elbo"])
        assert abs(a.mean() - b.mean()) < 4 * np.sqrt(a.var() / len(a) + b.var() / len(b)) + 0.05
        assert abs(single["log_px"] - mirrored["log_px"]) < 0.1


TWO_PROCESSES = textwrap.dedent("""
    import json, sys
    import jax
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    import keras
    import zoo  # before JAX starts: zoo sets XLA_FLAGS (zoo/training/jax_cpu_check.py)
    process, port = int(sys.argv[1]), sys.argv[2]
    if process >= 0:
        keras.distribution.initialize(job_addresses=f"127.0.0.1:{port}", num_processes=2, process_id=process)
        keras.distribution.set_distribution(keras.distribution.DataParallel(
            devices=keras.distribution.list_devices(), auto_shard_dataset=False))
    import numpy as np
    from tests.zoo.common import digits
    keras.utils.set_random_seed(0)
    model = zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=3, hidden=(32,), seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    x = digits(128)
    shards = [x[0::2], x[1::2]]  # each process holds half of every global batch of 32
    if process >= 0:
        data, batch = shards[process], 16
    else:  # one process, the same global batches in the same order
        data = np.concatenate([np.concatenate([s[i:i + 16] for s in shards]) for i in range(0, 64, 16)])
        batch = 32
    history = model.fit(data, epochs=2, batch_size=batch, shuffle=False, verbose=0).history
    print(json.dumps(history))
""")


@pytest.mark.skipif(BACKEND != "jax", reason="jax.distributed with CPU collectives (gloo): the JAX pass")
def test_two_processes_over_loopback_train_as_one():
    import socket

    import numpy as np

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3", "XLA_FLAGS": xla_flags()}
    workers = [subprocess.Popen([sys.executable, "-c", TWO_PROCESSES, str(i), port], env=env, cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in (0, 1)]
    outputs = [worker.communicate(timeout=600) for worker in workers]
    for worker, (_, stderr) in zip(workers, outputs):
        assert worker.returncode == 0, stderr[-3000:]
    single = subprocess.run([sys.executable, "-c", TWO_PROCESSES, "-1", port], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    assert single.returncode == 0, single.stderr[-3000:]
    expected = json.loads(single.stdout.strip().splitlines()[-1])
    for stdout, _ in outputs:
        history = json.loads(stdout.strip().splitlines()[-1])
        for name, values in expected.items():
            np.testing.assert_allclose(history[name], values, rtol=2e-4, atol=2e-4, err_msg=name)
