#!/usr/bin/env python
"""Training throughput: the zoo's `model.fit` against a hand-written loop of the same math.

    python bench/throughput.py                       # every backend, batch 128 and 20
    python bench/throughput.py --backends jax --batch-sizes 128 --epochs 2

Model: the IWAE paper's 784-200-200-50 tanh MLP VAE, Bernoulli likelihood, analytic KL, Adam
(lr 1e-3), on static binarized MNIST (50,000 images from ../shared/data). One warm-up epoch is
excluded from every timing. The hand-written loops use each framework natively: JAX a jit'd
step with a hand-written Adam, TensorFlow tf.function + GradientTape + tf.data, PyTorch a
plain loop with torch.optim.Adam. Also: importance-sampled log-likelihood speed (k samples per
image) and peak memory (max RSS). Each backend runs in its own process; results go to
bench/results/throughput-<backend>.json and a markdown table on stdout.
"""

import argparse
import json
import os
import pathlib
import resource
import subprocess
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
LAYERS = (784, 200, 200, 50)


def load_mnist(data_dir):
    from zoo.datasets import default_data_dir

    folder = pathlib.Path(data_dir) if data_dir else default_data_dir()
    path = folder / "binarized_mnist_train.npz"
    if not path.exists():
        sys.exit(f"throughput.py: {path} not found; pass --data-dir to the folder with binarized MNIST.")
    x = np.load(path)["x"].reshape(-1, 784).astype("float32")
    valid = np.load(folder / "binarized_mnist_valid.npz")["x"].reshape(-1, 784).astype("float32")
    return x, valid


def time_epochs(run_epoch, epochs):
    """(wall seconds, process CPU seconds) of ``epochs`` epochs after a warm-up one.

    CPU time is reported beside wall time because this VM's wall-clock throughput varies by
    up to 2× between identical runs (other tenants); CPU time per example varies far less."""
    run_epoch()  # warm-up: compilation, caches
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in range(epochs):
        run_epoch()
    return time.perf_counter() - start, time.process_time() - cpu_start


def rates(examples, timing):
    """Examples per wall second and per CPU second."""
    wall, cpu = timing
    return examples / wall, examples / cpu


def bench_fit(x, batch_size, epochs):
    import keras

    import zoo

    model = zoo.MLPVAE(input_shape=(784,), latent_dim=50, hidden=(200, 200), activation="tanh",
                       likelihood="bernoulli")
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    timing = time_epochs(lambda: model.fit(x, batch_size=batch_size, epochs=1, verbose=0), epochs)
    return rates(len(x) * epochs, timing), model


# -- hand-written loops, one per backend -------------------------------------------------------
def init_params(rng):
    """Glorot-uniform weights, zero biases: encoder 784-200-200-(2·50), decoder 50-200-200-784."""
    sizes = [(784, 200), (200, 200), (200, 100), (50, 200), (200, 200), (200, 784)]
    params = []
    for fan_in, fan_out in sizes:
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        params += [rng.uniform(-limit, limit, (fan_in, fan_out)).astype("float32"),
                   np.zeros(fan_out, "float32")]
    return params


def loop_jax(x, batch_size, epochs):
    import jax
    import jax.numpy as jnp

    def negative_elbo(params, batch, key):
        w = params
        h = jnp.tanh(batch @ w[0] + w[1])
        h = jnp.tanh(h @ w[2] + w[3])
        mean, log_var = jnp.split(h @ w[4] + w[5], 2, axis=-1)
        z = mean + jnp.exp(0.5 * log_var) * jax.random.normal(key, mean.shape)
        h = jnp.tanh(z @ w[6] + w[7])
        h = jnp.tanh(h @ w[8] + w[9])
        logits = h @ w[10] + w[11]
        log_px = jnp.sum(batch * logits - jax.nn.softplus(logits), axis=-1)
        kl = 0.5 * jnp.sum(mean**2 + jnp.exp(log_var) - 1 - log_var, axis=-1)
        return jnp.mean(kl - log_px)

    @jax.jit
    def step(params, m, v, t, batch, key):
        loss, grads = jax.value_and_grad(negative_elbo)(params, batch, key)
        t = t + 1
        m = [0.9 * a + 0.1 * g for a, g in zip(m, grads)]
        v = [0.999 * a + 0.001 * g * g for a, g in zip(v, grads)]
        lr = 1e-3 * jnp.sqrt(1 - 0.999**t) / (1 - 0.9**t)
        params = [p - lr * a / (jnp.sqrt(b) + 1e-7) for p, a, b in zip(params, m, v)]
        return params, m, v, t, loss

    state = [[jnp.asarray(p) for p in init_params(np.random.default_rng(0))]]
    state += [[jnp.zeros_like(p) for p in state[0]], [jnp.zeros_like(p) for p in state[0]], 0.0]
    key = [jax.random.PRNGKey(0)]
    rng = np.random.default_rng(0)

    def epoch():
        order = rng.permutation(len(x))
        params, m, v, t = state
        for start in range(0, len(x) - batch_size + 1, batch_size):
            key[0], sub = jax.random.split(key[0])
            params, m, v, t, loss = step(params, m, v, t, x[order[start:start + batch_size]], sub)
        loss.block_until_ready()
        state[:] = [params, m, v, t]

    return rates(len(x) // batch_size * batch_size * epochs, time_epochs(epoch, epochs))


def loop_tensorflow(x, batch_size, epochs):
    import tensorflow as tf

    params = [tf.Variable(p) for p in init_params(np.random.default_rng(0))]
    m = [tf.Variable(tf.zeros_like(p)) for p in params]
    v = [tf.Variable(tf.zeros_like(p)) for p in params]
    t = tf.Variable(0.0)

    @tf.function(jit_compile=True)
    def step(batch):
        with tf.GradientTape() as tape:
            w = params
            h = tf.tanh(batch @ w[0] + w[1])
            h = tf.tanh(h @ w[2] + w[3])
            mean, log_var = tf.split(h @ w[4] + w[5], 2, axis=-1)
            z = mean + tf.exp(0.5 * log_var) * tf.random.normal(tf.shape(mean))
            h = tf.tanh(z @ w[6] + w[7])
            h = tf.tanh(h @ w[8] + w[9])
            logits = h @ w[10] + w[11]
            log_px = tf.reduce_sum(batch * logits - tf.nn.softplus(logits), axis=-1)
            kl = 0.5 * tf.reduce_sum(mean**2 + tf.exp(log_var) - 1 - log_var, axis=-1)
            loss = tf.reduce_mean(kl - log_px)
        grads = tape.gradient(loss, params)
        t.assign_add(1.0)
        lr = 1e-3 * tf.sqrt(1 - 0.999**t) / (1 - 0.9**t)
        for p, a, b, g in zip(params, m, v, grads):
            a.assign(0.9 * a + 0.1 * g)
            b.assign(0.999 * b + 0.001 * g * g)
            p.assign_sub(lr * a / (tf.sqrt(b) + 1e-7))
        return loss

    dataset = tf.data.Dataset.from_tensor_slices(x).shuffle(len(x)).batch(batch_size, drop_remainder=True) \
        .prefetch(tf.data.AUTOTUNE)

    def epoch():
        for batch in dataset:
            loss = step(batch)
        loss.numpy()

    return rates(len(x) // batch_size * batch_size * epochs, time_epochs(epoch, epochs))


def loop_torch(x, batch_size, epochs):
    import torch

    torch.manual_seed(0)
    w = [torch.tensor(p, requires_grad=True) for p in init_params(np.random.default_rng(0))]
    optimizer = torch.optim.Adam(w, lr=1e-3, eps=1e-7)
    data = torch.from_numpy(x)

    def epoch():
        order = torch.randperm(len(data))
        for start in range(0, len(data) - batch_size + 1, batch_size):
            batch = data[order[start:start + batch_size]]
            h = torch.tanh(batch @ w[0] + w[1])
            h = torch.tanh(h @ w[2] + w[3])
            mean, log_var = torch.chunk(h @ w[4] + w[5], 2, dim=-1)
            z = mean + torch.exp(0.5 * log_var) * torch.randn_like(mean)
            h = torch.tanh(z @ w[6] + w[7])
            h = torch.tanh(h @ w[8] + w[9])
            logits = h @ w[10] + w[11]
            log_px = torch.sum(batch * logits - torch.nn.functional.softplus(logits), dim=-1)
            kl = 0.5 * torch.sum(mean**2 + torch.exp(log_var) - 1 - log_var, dim=-1)
            loss = torch.mean(kl - log_px)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    return rates(len(data) // batch_size * batch_size * epochs, time_epochs(epoch, epochs))


LOOPS = {"jax": loop_jax, "tensorflow": loop_tensorflow, "torch": loop_torch}


def run_backend(args):
    import keras

    import zoo

    backend = keras.backend.backend()
    x, valid = load_mnist(args.data_dir)
    x = x[: args.max_examples] if args.max_examples else x
    result = {"backend": backend, "keras": keras.__version__, "batches": {}}
    for batch_size in args.batch_sizes:
        (fit, fit_cpu), model = bench_fit(x, batch_size, args.epochs)
        loop, loop_cpu = LOOPS[backend](x, batch_size, args.epochs)
        result["batches"][batch_size] = {
            "fit_examples_per_s": round(fit), "loop_examples_per_s": round(loop), "ratio": round(fit / loop, 3),
            "fit_examples_per_cpu_s": round(fit_cpu), "loop_examples_per_cpu_s": round(loop_cpu),
            "cpu_ratio": round(fit_cpu / loop_cpu, 3)}
        print(f"{backend} batch {batch_size}: fit {fit:,.0f}/s, hand-written {loop:,.0f}/s, "
              f"ratio {fit / loop:.2f} (per CPU second: {fit_cpu / loop_cpu:.2f})", flush=True)
    if args.is_images:
        images = valid[: args.is_images]
        zoo.log_likelihood(model, images[:100], num_samples=args.is_samples)  # compile
        start = time.perf_counter()
        zoo.log_likelihood(model, images, num_samples=args.is_samples)
        result["is_eval"] = {"images": len(images), "k": args.is_samples,
                             "seconds": round(time.perf_counter() - start, 1)}
        print(f"{backend} IS log-likelihood, {len(images)} images × k={args.is_samples}: "
              f"{result['is_eval']['seconds']} s", flush=True)
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    out = pathlib.Path(args.results_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"throughput-{backend}.json").write_text(json.dumps(result, indent=2))
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="tensorflow,jax,torch")
    parser.add_argument("--batch-sizes", default="128,20")
    parser.add_argument("--epochs", type=int, default=1, help="timed epochs (after one warm-up)")
    parser.add_argument("--is-images", type=int, default=10000, help="images for the IS timing (0: skip)")
    parser.add_argument("--is-samples", type=int, default=1000)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--max-examples", type=int, default=None, help="cap the training images (smoke runs)")
    parser.add_argument("--results-dir", default=str(ROOT / "bench" / "results"))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    if args.worker:
        run_backend(args)
        return 0
    rows = []
    for backend in args.backends.split(","):
        env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
        code = subprocess.call([sys.executable, __file__, "--worker", *sys.argv[1:]], env=env)
        if code:
            return code
        rows.append(json.loads((pathlib.Path(args.results_dir) / f"throughput-{backend}.json").read_text()))
    print("\n| backend | batch | fit (examples/s) | hand-written (examples/s) | fit / hand-written "
          "| same, per CPU second |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        for batch, r in row["batches"].items():
            print(f"| {row['backend']} | {batch} | {r['fit_examples_per_s']:,} | {r['loop_examples_per_s']:,} "
                  f"| {r['ratio']:.2f} | {r['cpu_ratio']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
