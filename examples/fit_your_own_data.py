"""Train a VAE on your own arrays with model.fit, score it, save it, load it back.

    python examples/fit_your_own_data.py                       # scikit-learn's digits as "your data"
    python examples/fit_your_own_data.py --data my_images.npz  # an array "x": uint8 0-255 or floats in [0, 1]
    KERAS_BACKEND=jax python examples/fit_your_own_data.py --quick

Everything below is plain Keras: compile, fit, evaluate, save, load. The zoo adds the model,
a likelihood that is a normalized density, and an importance-sampled log-likelihood.
"""

import argparse
import pathlib

import numpy as np


def your_data(path):
    """Images in [0, 1] with a channel axis, and how many grey levels they have."""
    if path is None:
        from sklearn.datasets import load_digits

        return (load_digits().images / 16.0).astype("float32")[..., None], 17  # 8×8, levels k/16
    x = np.load(path)["x"]
    levels = 256 if x.dtype == np.uint8 else None  # uint8 pixels: 256 levels; floats: continuous
    x = x.astype("float32") / (255.0 if x.dtype == np.uint8 else 1.0)
    return (x[..., None] if x.ndim == 3 else x), levels


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None, help="a .npz with an array 'x' (default: bundled digits)")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="a few epochs, a few samples: seconds")
    parser.add_argument("--out", default="examples_output/fit_your_own_data")
    args = parser.parse_args(argv)
    epochs, samples = (5, 50) if args.quick else (args.epochs, 1000)

    import keras
    import zoo

    keras.utils.set_random_seed(0)
    x, levels = your_data(args.data)
    order = np.random.default_rng(0).permutation(len(x))
    test, valid, train = np.split(x[order], [len(x) // 10, len(x) // 5])

    # A discretized logistic scores discrete pixels directly; for continuous data (levels None)
    # pick a density such as "gaussian" (σ learned) or "huber".
    likelihood = "discretized_logistic" if levels else "gaussian"
    model = zoo.MLPVAE(input_shape=x.shape[1:], latent_dim=16, hidden=(256, 128),
                       likelihood=zoo.factory.make_likelihood(likelihood, levels), data_levels=levels)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(train, validation_data=(valid,), epochs=epochs, batch_size=64, verbose=2,
              callbacks=[keras.callbacks.EarlyStopping("val_bits_per_dim", mode="min", patience=20,
                                                       restore_best_weights=True)])

    # Scores per example, in nats: the ELBO, then the tighter importance-sampled log p(x).
    scores = model.evaluate(test, verbose=0, return_dict=True)
    log_px = zoo.log_likelihood(model, test, num_samples=samples)
    print(f"test ELBO           {scores['elbo']:.2f} nats  ({scores['bits_per_dim']:.4f} bits/dim)")
    print(f"test log-likelihood {log_px.mean():.2f} nats  ({zoo.bits_per_dim(model, log_px):.4f} bits/dim, "
          f"k={samples})")

    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    zoo.save_model(model, out / "model.keras")          # model.save, but never a half-written file
    reloaded = keras.saving.load_model(out / "model.keras")  # on any backend
    same = np.array_equal(keras.ops.convert_to_numpy(reloaded.predict(test, verbose=0)),
                          keras.ops.convert_to_numpy(model.predict(test, verbose=0)))
    print(f"saved to {out / 'model.keras'}; reloaded with identical reconstructions: {same}")
    zoo.plots.save_samples(keras.ops.convert_to_numpy(model.sample(50)), model.data_shape, out / "samples.png")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
