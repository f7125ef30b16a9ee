#!/usr/bin/env python
"""Training throughput: the zoo's `model.fit` against a hand-written loop of the same math.

    python bench/throughput.py                       # every backend, batch 128 and 20
    python bench/throughput.py --backends jax --batch-sizes 128 --epochs 2
    python bench/throughput.py --input-shape 784     # the same model on flat vectors

Model: the IWAE paper's 784-200-200-50 tanh MLP VAE, Bernoulli likelihood, analytic KL, Adam
(lr 1e-3), on static binarized MNIST (50,000 images from ../shared/data), built as users build
it: ``zoo.MLPVAE(input_shape=(28, 28, 1))``, the presets' and train.py's shape, at compile()'s
defaults (``--input-shape 784`` times the flat-vector model instead). The hand-written
loops use each framework natively: JAX a jit'd step with a hand-written Adam, TensorFlow
tf.function + GradientTape + tf.data, PyTorch a plain loop with torch.optim.Adam (with
--jit-compile true, its loss and Adam step through torch.compile, as the fit's step is).

Paired, interleaved epochs: one ``model.fit`` call (as users train) runs 1 + --epochs epochs,
and after each fit epoch a callback runs and times one hand-written epoch. The first pair is
the warm-up (compilation) and is excluded; the ratio reported is the median of the per-pair
ratios, so the VM's slow drifts in speed (up to 2× here) hit both sides of each pair alike.
Also: importance-sampled log-likelihood speed (k samples per image) and peak memory (max
RSS). Each backend runs in its own process; results go to
bench/results/throughput-<backend>.json and a markdown table on stdout.
"""

import argparse
import functools
import json
import math
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
    """Static binarized MNIST's training and validation images, flat float32 (the official files,
    as zoo.datasets.load("binarized-mnist") reads them: --data-dir, else local, else downloaded)."""
    import zoo

    try:
        data = zoo.datasets.load("binarized-mnist", data_dir=data_dir)
    except zoo.datasets.DataLoadError as error:
        sys.exit(f"throughput.py: {error}")
    return data.x_train.reshape(-1, 784), data.x_valid.reshape(-1, 784)


def training_flops_per_example():
    """Matrix-multiply FLOPs of one training step per example: the forward pass's six dense maps
    (encoder 784-200-200-2·50, decoder 50-200-200-784), and twice that backward (gradients of
    the weights and of the inputs), less the input gradient of the first layer, which no one
    needs. Elementwise work (tanh, softplus, Adam) is not counted: this is the matmul bound."""
    maps = [(784, 200), (200, 200), (200, 100), (50, 200), (200, 200), (200, 784)]
    forward = sum(2 * a * b for a, b in maps)
    return 3 * forward - 2 * 784 * 200


def matmul_limit():
    """The machine's float32 matmul rate under JAX (GFLOP/s): a 2048³ product, best of 5."""
    import jax
    import jax.numpy as jnp

    a = jnp.ones((2048, 2048), "float32")
    return 2 * 2048**3 / best_seconds(jax.jit(lambda a: a @ a), (a,), calls=1, tries=5) / 1e9


def best_seconds(compiled, args, calls, tries):
    """Seconds a call of the jitted ``compiled(*args)`` takes: ``calls`` in a row, best of ``tries``."""
    compiled(*args).block_until_ready()
    best = float("inf")
    for _ in range(tries):
        start = time.perf_counter()
        for _ in range(calls):
            out = compiled(*args)
        out.block_until_ready()
        best = min(best, time.perf_counter() - start)
    return best / calls


def decoder_matmul_seconds(rows, steps):
    """Seconds JAX takes for the decoder's three matmuls alone (50-200-200-784, no bias or
    tanh) over ``steps`` steps of ``rows`` samples: the floor under the IS evaluation on this
    machine at this moment, timed beside it so the VM's drifts in speed show in both."""
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(0)
    dims = LAYERS[::-1]
    kernels = [jnp.asarray(rng.normal(size=(a, b)) / np.sqrt(a), "float32") for a, b in zip(dims, dims[1:])]
    z = jnp.asarray(rng.normal(size=(rows, dims[0])), "float32")

    @jax.jit
    def decode(z, kernels):
        for kernel in kernels:
            z = z @ kernel
        return z

    return best_seconds(decode, (z, kernels), calls=min(steps, 200), tries=3) * steps


def time_importance_sampling(model, images, k, repeats, backend):
    """``zoo.log_likelihood`` on ``images`` with k samples, ``repeats`` times; on JAX each
    run is followed by the decoder's matmul floor for the same number of samples per step."""
    with_floor = backend == "jax"
    import zoo
    from zoo.evaluation import importance_sampling_steps

    zoo.log_likelihood(model, images[:100], num_samples=k)  # compile
    batch, chunk = importance_sampling_steps(model, len(images), k)  # images × samples of each a step
    steps = math.ceil(len(images) / batch) * math.ceil(k / chunk)
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        zoo.log_likelihood(model, images, num_samples=k)
        seconds = time.perf_counter() - start
        run = {"seconds": float(f"{seconds:.3g}")}
        if with_floor:
            floor = decoder_matmul_seconds(batch * chunk, steps)
            run["decoder_matmul_seconds"] = float(f"{floor:.3g}")
            run["over_floor"] = round(seconds / floor, 2)
        runs.append(run)
        floor = (f" (the decoder's matmuls alone: {run['decoder_matmul_seconds']} s, so "
                 f"{run['over_floor']}× that)") if with_floor else ""
        print(f"{backend} IS log-likelihood, {len(images)} images × k={k}: {run['seconds']} s{floor}",
              flush=True)
    median = sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]
    return {"images": len(images), "k": k, "samples_per_step": batch * chunk, **median, "runs": runs}


def clocks():
    """(wall, process CPU) seconds. CPU time is reported beside wall time because this VM's
    wall-clock throughput varies by up to 2× between identical runs (other tenants)."""
    return time.perf_counter(), time.process_time()


def since(start):
    return tuple(now - then for now, then in zip(clocks(), start))


def bench_pairs(x, batch_size, epochs, hand_written, compile_options=None, input_shape=(784,)):
    """Fit epochs and hand-written epochs, interleaved: [(fit (wall, cpu), hand (wall, cpu))].

    ``hand_written(x, batch_size)`` returns (run_one_epoch, examples_per_epoch); a dict of
    them ({name: loop}) runs one epoch of each after every fit epoch, and each pair then holds
    {name: (wall, cpu)} (see ``bench_loops``). ``x`` is flat (N, 784); the fit sees it with
    ``input_shape``, the hand-written loops flat."""
    if isinstance(hand_written, dict):
        loops = {name: loop(x, batch_size) for name, loop in hand_written.items()}
        hand_examples = {name: examples for name, (_, examples) in loops.items()}

        def all_loops(x, batch_size):
            def epoch():
                times = {}
                for name, (run, _) in loops.items():
                    start = clocks()
                    run()
                    times[name] = since(start)
                return times
            return epoch, hand_examples
        pairs, fit_examples, _, model = bench_pairs(x, batch_size, epochs, all_loops, compile_options,
                                                    input_shape)
        return pairs, fit_examples, hand_examples, model
    import keras

    import zoo

    model = zoo.MLPVAE(input_shape=input_shape, latent_dim=50, hidden=(200, 200), activation="tanh",
                       likelihood="bernoulli")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), **(compile_options or {}))
    hand_epoch, hand_examples = hand_written(x, batch_size)
    pairs = []

    class Interleave(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = clocks()

        def on_epoch_end(self, epoch, logs=None):
            fit = since(self.start)
            start = clocks()
            times = hand_epoch()
            pairs.append((fit, since(start) if times is None else times))

    # First in the list, so a fit epoch's time ends before any other callback's epoch end.
    model.fit(x.reshape((-1,) + tuple(input_shape)), batch_size=batch_size, epochs=1 + epochs, verbose=0,
              callbacks=[Interleave()])
    return pairs[1:], len(x), hand_examples, model


def summarize(pairs, fit_examples, hand_examples):
    """Median rates (examples/s) and the median of the per-pair ratios, by wall and CPU time."""
    result = {}
    for prefix, clock in (("", 0), ("cpu_", 1)):
        fit = [fit_examples / f[clock] for f, _ in pairs]
        hand = [hand_examples / h[clock] for _, h in pairs]
        ratios = [a / b for a, b in zip(fit, hand)]
        per = "per_cpu_s" if prefix else "per_s"
        result.update({f"fit_examples_{per}": round(float(np.median(fit))),
                       f"loop_examples_{per}": round(float(np.median(hand))),
                       f"{prefix}ratio": round(float(np.median(ratios)), 3),
                       f"{prefix}ratios": [round(r, 3) for r in ratios]})
    return result


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


def _jax_step():
    """One training step of the hand-written JAX loops: the negative ELBO, its gradient and a
    hand-written Adam, (params, m, v, t, batch, key) -> (params, m, v, t, loss)."""
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
        log_px = jnp.sum(batch * logits, axis=-1) - jnp.sum(jax.nn.softplus(logits), axis=-1)
        kl = 0.5 * jnp.sum(mean**2 + jnp.exp(log_var) - 1 - log_var, axis=-1)
        return jnp.mean(kl - log_px)

    def step(params, m, v, t, batch, key):
        loss, grads = jax.value_and_grad(negative_elbo)(params, batch, key)
        t = t + 1
        m = [0.9 * a + 0.1 * g for a, g in zip(m, grads)]
        v = [0.999 * a + 0.001 * g * g for a, g in zip(v, grads)]
        lr = 1e-3 * jnp.sqrt(1 - 0.999**t) / (1 - 0.9**t)
        params = [p - lr * a / (jnp.sqrt(b) + 1e-7) for p, a, b in zip(params, m, v)]
        return params, m, v, t, loss

    return step


def loop_jax(x, batch_size):
    """A jitted step per batch, called from Python (the usual JAX loop)."""
    import jax
    import jax.numpy as jnp

    step = jax.jit(_jax_step())
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

    return epoch, len(x) // batch_size * batch_size


def loop_jax_scan(x, batch_size):
    """The whole epoch as one jitted ``lax.scan`` over its batches (data on the device, shuffled
    by an index permutation): no Python between steps at all, the fastest way JAX trains."""
    import jax
    import jax.numpy as jnp

    step = _jax_step()
    data = jnp.asarray(x)
    steps = len(x) // batch_size

    @functools.partial(jax.jit, donate_argnums=0)
    def run_epoch(state, order, key):
        batches = order[: steps * batch_size].reshape(steps, batch_size)

        def body(carry, indices):
            (params, m, v, t), key = carry
            key, sub = jax.random.split(key)
            params, m, v, t, loss = step(params, m, v, t, data[indices], sub)
            return ((params, m, v, t), key), loss

        (state, _), losses = jax.lax.scan(body, (state, key), batches)
        return state, losses[-1]

    params = [jnp.asarray(p) for p in init_params(np.random.default_rng(0))]
    state = [(params, [jnp.zeros_like(p) for p in params], [jnp.zeros_like(p) for p in params], jnp.float32(0))]
    keys = [jax.random.PRNGKey(0)]
    rng = np.random.default_rng(0)

    def epoch():
        keys[0], sub = jax.random.split(keys[0])
        state[0], loss = run_epoch(state[0], jnp.asarray(rng.permutation(len(x))), sub)
        loss.block_until_ready()

    return epoch, steps * batch_size


def loop_tensorflow(x, batch_size):
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
            log_px = tf.reduce_sum(batch * logits, axis=-1) - tf.reduce_sum(tf.nn.softplus(logits), axis=-1)
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

    return epoch, len(x) // batch_size * batch_size


def loop_torch(x, batch_size, compiled=False):
    """``compiled``: the loss and Adam's step through ``torch.compile`` (the loop that
    ``model.fit`` with ``jit_compile=True`` is measured against; the backward pass stays
    autograd's, as in Keras' compiled step)."""
    import torch

    torch.manual_seed(0)
    w = [torch.tensor(p, requires_grad=True) for p in init_params(np.random.default_rng(0))]
    optimizer = torch.optim.Adam(w, lr=1e-3, eps=1e-7)
    data = torch.from_numpy(x)

    def negative_elbo(batch):
        h = torch.tanh(batch @ w[0] + w[1])
        h = torch.tanh(h @ w[2] + w[3])
        mean, log_var = torch.chunk(h @ w[4] + w[5], 2, dim=-1)
        z = mean + torch.exp(0.5 * log_var) * torch.randn_like(mean)
        h = torch.tanh(z @ w[6] + w[7])
        h = torch.tanh(h @ w[8] + w[9])
        logits = h @ w[10] + w[11]
        log_px = torch.sum(batch * logits, dim=-1) - torch.sum(torch.nn.functional.softplus(logits), dim=-1)
        kl = 0.5 * torch.sum(mean**2 + torch.exp(log_var) - 1 - log_var, dim=-1)
        return torch.mean(kl - log_px)

    loss_of = torch.compile(negative_elbo) if compiled else negative_elbo
    update = torch.compile(optimizer.step) if compiled else optimizer.step

    def epoch():
        order = torch.randperm(len(data))
        for start in range(0, len(data) - batch_size + 1, batch_size):
            loss = loss_of(data[order[start:start + batch_size]])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            update()

    return epoch, len(data) // batch_size * batch_size


#: The hand-written loops per backend; the first is the one the ratio is to. JAX: the whole
#: epoch as one lax.scan (no Python between steps), and the usual jitted step per batch.
LOOPS = {"jax": {"scan": loop_jax_scan, "step": loop_jax}, "tensorflow": {"tf.function": loop_tensorflow},
         "torch": {"eager": loop_torch}}


def compile_options(args):
    """``model.compile`` options to try (defaults: the zoo's, i.e. Keras' except
    ``zoo.vae.DEFAULT_STEPS_PER_EXECUTION``)."""
    options = {}
    if args.steps_per_execution is not None:
        options["steps_per_execution"] = args.steps_per_execution
    if args.jit_compile != "auto":
        options["jit_compile"] = args.jit_compile == "true"
    return options


def run_backend(args):
    import keras

    import zoo

    backend = keras.backend.backend()
    x, valid = load_mnist(args.data_dir)
    x = x[: args.max_examples] if args.max_examples else x
    options = compile_options(args)
    result = {"backend": backend, "keras": keras.__version__, "input_shape": list(args.input_shape),
              "compile_options": options, "batches": {}}
    for batch_size in args.batch_sizes:
        hand_written = LOOPS[backend]
        if backend == "torch" and options.get("jit_compile"):
            hand_written = {"torch.compile": functools.partial(loop_torch, compiled=True)}
        pairs, fit_examples, hand_examples, model = bench_pairs(x, batch_size, args.epochs, hand_written,
                                                                 options, args.input_shape)
        loops = {name: summarize([(fit, hand[name]) for fit, hand in pairs], fit_examples, hand_examples[name])
                 for name in hand_written}
        first = next(iter(hand_written))
        numbers = {**loops[first], "loop": first, "loops": loops,
                   "steps_per_execution": model.steps_per_execution}
        result["batches"][batch_size] = numbers
        for name, loop in loops.items():
            print(f"{backend} batch {batch_size} (steps_per_execution {model.steps_per_execution}): "
                  f"fit {loop['fit_examples_per_s']:,}/s, hand-written ({name}) "
                  f"{loop['loop_examples_per_s']:,}/s, median ratio {loop['ratio']:.2f} of "
                  f"{loop['ratios']} (per CPU second: {loop['cpu_ratio']:.2f})", flush=True)
    if backend == "jax":
        limit = matmul_limit()
        bound = limit * 1e9 / training_flops_per_example()
        result["matmul_limit"] = {"gflops": round(limit), "examples_per_s_at_limit": round(bound)}
        for batch_size, numbers in result["batches"].items():
            numbers["fraction_of_matmul_limit"] = round(numbers["fit_examples_per_s"] / bound, 3)
        print(f"jax: matmul limit {limit:.0f} GFLOP/s, so at most {bound:,.0f} examples/s for this model "
              f"({training_flops_per_example() / 1e6:.2f} MFLOP per example); fit reaches "
              + ", ".join(f"{n['fraction_of_matmul_limit']:.2f} at batch {b}" for b, n in result["batches"].items()),
              flush=True)
    if args.is_images:
        images = valid[: args.is_images].reshape((-1,) + tuple(args.input_shape))
        result["is_eval"] = time_importance_sampling(model, images, args.is_samples, args.is_repeats, backend)
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    out = pathlib.Path(args.results_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"throughput-{backend}.json").write_text(json.dumps(result, indent=2))
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="tensorflow,jax,torch")
    parser.add_argument("--batch-sizes", default="128,20")
    parser.add_argument("--epochs", type=int, default=3, help="timed pairs of epochs (after a warm-up pair)")
    parser.add_argument("--steps-per-execution", type=int, default=None,
                        help="model.compile option to try (default: the zoo's, 10 on TensorFlow and JAX, else 1)")
    parser.add_argument("--jit-compile", choices=("auto", "true", "false"), default="auto",
                        help="model.compile option to try (on PyTorch, true compiles the hand-written loop too)")
    parser.add_argument("--is-images", type=int, default=10000, help="images for the IS timing (0: skip)")
    parser.add_argument("--is-samples", type=int, default=1000)
    parser.add_argument("--is-repeats", type=int, default=1,
                        help="IS timings in a row (the median is reported; each run's are kept)")
    parser.add_argument("--input-shape", default="28,28,1",
                        help="the model's input_shape: 28,28,1 as the presets and train.py build it, or 784")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--max-examples", type=int, default=None, help="cap the training images (smoke runs)")
    parser.add_argument("--results-dir", default=str(ROOT / "bench" / "results"))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    args.input_shape = tuple(int(d) for d in args.input_shape.split(","))
    if math.prod(args.input_shape) != 784:
        parser.error(f"--input-shape {args.input_shape} does not hold a 28×28 image (784 values)")
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
    print(f"\ninput_shape {args.input_shape}, compile() defaults unless given")
    print("\n| backend | batch | steps per execution | fit (examples/s) | hand-written loop | its examples/s "
          "| fit / hand-written, median (range) | same, per CPU second |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        for batch, numbers in row["batches"].items():
            for name, r in numbers["loops"].items():
                spread = f"{min(r['ratios']):.2f}–{max(r['ratios']):.2f}"
                print(f"| {row['backend']} | {batch} | {numbers['steps_per_execution']} | {r['fit_examples_per_s']:,} "
                      f"| {name} | {r['loop_examples_per_s']:,} | {r['ratio']:.2f} ({spread}) | {r['cpu_ratio']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
