#!/usr/bin/env python
"""Throughput of `model.fit` with keras.distribution.DataParallel over 1 vs 2 devices (JAX).

    python bench/data_parallel.py                  # 2 virtual CPU devices vs 1
    python bench/data_parallel.py --devices 1,2,4

On a CPU the "devices" are XLA's virtual host devices (XLA_FLAGS=
--xla_force_host_platform_device_count=N) sharing the same cores: this measures the mechanism's
overhead, not a speed-up, which needs real accelerators. Model and data as in throughput.py
(784-200-200-50 MLP VAE, Bernoulli, binarized MNIST), batch 128, one warm-up epoch excluded.
"""

import argparse
import json
import os
import subprocess
import sys
import textwrap

RUN = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, sys.argv[1]); sys.path.insert(0, sys.argv[1] + "/bench")
    import keras, throughput, zoo
    from zoo.training.distribution import data_parallel
    devices = data_parallel()
    x, _ = throughput.load_mnist(None)
    (rate, _), _ = throughput.bench_fit(x, int(sys.argv[2]), 1)
    print(json.dumps({"devices": devices, "examples_per_s": round(rate)}))
""")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", default="1,2")
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    print("| devices | fit (examples/s) |\n|---|---|")
    for count in args.devices.split(","):
        env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3",
               "XLA_FLAGS": f"--xla_force_host_platform_device_count={count}"}
        out = subprocess.run([sys.executable, "-c", RUN, root, str(args.batch_size)], env=env,
                             capture_output=True, text=True, check=True).stdout
        row = json.loads(out.strip().splitlines()[-1])
        print(f"| {row['devices']} | {row['examples_per_s']:,} |", flush=True)


if __name__ == "__main__":
    main()
