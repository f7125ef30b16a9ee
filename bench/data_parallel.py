#!/usr/bin/env python
"""Data parallelism: `model.fit` speed and the numbers it gives on 1, 2 and 3 devices.

    python bench/data_parallel.py                              # JAX, 1,2,3 virtual CPU devices
    python bench/data_parallel.py --backend tensorflow         # tf.distribute.MirroredStrategy
    python bench/data_parallel.py --devices 1,2 --examples 4999

Each device count runs in its own process (the device count is fixed when the backend starts):
the same seed, model and data; `zoo.training.distribution.data_parallel()` splits each batch
over the devices, as `train.py --data-parallel` does. The data sizes are odd on purpose
(the training set, the test set and the batch divide by neither 2 nor 3): the zoo pads each
batch to a multiple of the devices with zero-weight copies, so every count should train and
score alike. The data are not shuffled (`shuffle=False`), so every count sees the same batches
in the same order: a shuffled multi-device fit draws its order from another generator than
Keras' single-device one, and would train to other (equally good) weights. Reported per count: training examples/s (median of the timed epochs, after a
warm-up epoch), the test ELBO (`evaluate`) and the importance-sampled log-likelihood
(`zoo.log_likelihood`) in bits/dim, of the weights that count trained.

On a CPU the "devices" are virtual ones sharing the same cores (XLA's host devices on JAX,
logical CPU devices on TensorFlow): this measures what the mechanism costs and shows that the
numbers agree, not a speed-up, which needs real accelerators. Model: the 784-200-200-50 MLP VAE
of throughput.py, Bernoulli, on binarized MNIST from ../shared/data.
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import textwrap

ROOT = pathlib.Path(__file__).resolve().parents[1]

RUN = textwrap.dedent("""
    import json, sys, time
    root, backend, devices, examples, batch_size, epochs, test_examples, k = sys.argv[1:9]
    devices, examples, batch_size, epochs, test_examples, k = map(int, (devices, examples, batch_size, epochs,
                                                                      test_examples, k))
    sys.path.insert(0, root); sys.path.insert(0, root + "/bench")
    if backend == "tensorflow":
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * devices)
    import numpy as np, keras, throughput, zoo
    from zoo.training.distribution import data_parallel
    count = data_parallel() if devices > 1 else 1
    x, valid = throughput.load_mnist(None)
    x, test = x[:examples], valid[:test_examples]
    keras.utils.set_random_seed(0)
    model = zoo.MLPVAE(input_shape=(784,), latent_dim=50, hidden=(200, 200), activation="tanh",
                       likelihood="bernoulli")
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    times = []

    class Clock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.start)

    model.fit(x, batch_size=batch_size, epochs=1 + epochs, shuffle=False, verbose=0, callbacks=[Clock()])
    elbo_bits = model.evaluate(test, batch_size=batch_size, verbose=0, return_dict=True)["bits_per_dim"]
    log_px = zoo.log_likelihood(model, test, num_samples=k)
    print(json.dumps({"devices": count, "examples_per_s": round(len(x) / float(np.median(times[1:]))),
                      "elbo_bits_per_dim": float(elbo_bits), "is_bits_per_dim": zoo.bits_per_dim(model, log_px)}))
""")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("jax", "tensorflow"), default="jax")
    parser.add_argument("--devices", default="1,2,3")
    parser.add_argument("--examples", type=int, default=19_999, help="training images (odd on purpose)")
    parser.add_argument("--batch-size", type=int, default=127)
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs, after one warm-up epoch")
    parser.add_argument("--test-examples", type=int, default=4_999)
    parser.add_argument("--k", type=int, default=100, help="importance samples for the log-likelihood")
    parser.add_argument("--results-dir", default=str(ROOT / "bench" / "results"))
    args = parser.parse_args()
    rows = []
    # The caller's own XLA flags are kept; only the virtual device count is this run's.
    own_flags = [flag for flag in os.environ.get("XLA_FLAGS", "").split()
                 if not flag.startswith("--xla_force_host_platform_device_count")]
    for count in args.devices.split(","):
        env = {**os.environ, "KERAS_BACKEND": args.backend, "TF_CPP_MIN_LOG_LEVEL": "3",
               "XLA_FLAGS": " ".join([*own_flags, f"--xla_force_host_platform_device_count={count}"])}
        run = subprocess.run([sys.executable, "-c", RUN, str(ROOT), args.backend, count, str(args.examples),
                              str(args.batch_size), str(args.epochs), str(args.test_examples), str(args.k)],
                             env=env, capture_output=True, text=True)
        if run.returncode:
            sys.exit(f"data_parallel.py: the {count}-device run failed:\n{run.stderr[-3000:]}")
        rows.append(json.loads(run.stdout.strip().splitlines()[-1]))
        print(f"{args.backend}, {count} device(s): {rows[-1]}", flush=True)
    out = pathlib.Path(args.results_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"data-parallel-{args.backend}.json").write_text(json.dumps({"arguments": vars(args), "rows": rows},
                                                                       indent=2))
    print(f"\n| devices | fit (examples/s) | test ELBO (bits/dim) | test IS log-likelihood, k = {args.k} (bits/dim) |")
    print("|---|---|---|---|")
    for row in rows:
        print(f"| {row['devices']} | {row['examples_per_s']:,} | {row['elbo_bits_per_dim']:.6f} "
              f"| {row['is_bits_per_dim']:.6f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
