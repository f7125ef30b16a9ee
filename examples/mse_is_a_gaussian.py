"""Is MSE a valid ELBO loss? The same VAE under eleven likelihoods, measured on one scale.

    python examples/mse_is_a_gaussian.py                  # bundled digits (17 grey levels)
    python examples/mse_is_a_gaussian.py --write-docs     # and put the table and images in docs/
    python examples/mse_is_a_gaussian.py --data mnist --data-dir DIR   # MNIST / Fashion-MNIST where present
    KERAS_BACKEND=jax python examples/mse_is_a_gaussian.py --quick

Every likelihood is a normalized density, and the continuous ones see dequantized data, so each
row's test bound and importance-sampled log-likelihood are upper bounds on −log P of the same
discrete images, in bits per dimension: the rows compare. MSE is the Gaussian with a fixed σ (the
Keras guide's σ² = D/2, and a sensible 0.1); a learned σ or the σ-VAE's optimal σ makes the same
Gaussian a density that fits. Settings are picked on the validation split; the test split is
scored once per model, at the end.
"""

import argparse
import datetime
import math
import pathlib
import platform
import re
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]


def likelihoods(num_dims, levels):
    """(label, what it is, losses.get arguments) for every row of the table."""
    keras_guide_sigma = math.sqrt(num_dims / 2)
    return [
        ("MSE, σ = √(D/2)", f"Gaussian, fixed σ = {keras_guide_sigma:.2f}: the Keras guide's mean-MSE loss",
         ("gaussian", {"scale": keras_guide_sigma})),
        ("MSE, σ = 0.1", "Gaussian, fixed σ = 0.1", ("gaussian", {"scale": 0.1})),
        ("Gaussian, learned σ", "σ per pixel from the decoder", ("gaussian", {"scale": "learned"})),
        ("σ-VAE", "Gaussian, σ² = the batch's MSE (Rybkin et al. 2021)", ("sigma_vae", {})),
        ("Huber α = 0.5", "p ∝ exp(−H_α), exact Z(α), learned σ", ("huber", {"alpha": 0.5, "scale": "learned"})),
        ("Huber α = 1.345", "the same, α = 1.345", ("huber", {"alpha": 1.345, "scale": "learned"})),
        ("Huber α = 3", "the same, α = 3", ("huber", {"alpha": 3.0, "scale": "learned"})),
        ("Laplace", "MAE as a density, learned scale", ("laplace", {"scale": "learned"})),
        ("logistic", "learned scale", ("logistic", {"scale": "learned"})),
        ("discretized logistic", f"a probability mass on the {levels} levels", ("discretized_logistic", {"levels": levels})),
        ("continuous Bernoulli", "BCE plus its missing log C(λ)", ("continuous_bernoulli", {})),
    ]


def load_data(args):
    import zoo

    data = zoo.datasets.load(args.data, data_dir=args.data_dir, seed=0)
    if args.max_examples:
        data = data.limited(args.max_examples)
    if not data.levels:
        sys.exit("mse_is_a_gaussian.py: this needs discrete data (grey levels), to put every density on one scale.")
    return data


def train_and_score(spec, data, args):
    import keras
    import losses
    import zoo

    name, options = spec
    keras.utils.set_random_seed(0)
    model = zoo.MLPVAE(input_shape=data.shape, latent_dim=args.latent_dim, hidden=(256, 128),
                       likelihood=losses.get(name, **options), data_levels=data.levels, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(args.lr))
    stop = keras.callbacks.EarlyStopping("val_bits_per_dim", mode="min", patience=args.patience,
                                         restore_best_weights=True)
    history = model.fit(data.x_train, validation_data=(data.x_valid,), epochs=args.epochs, batch_size=64,
                        verbose=0, callbacks=[stop])
    test = model.evaluate(data.x_test, batch_size=500, verbose=0, return_dict=True)
    log_px = zoo.log_likelihood(model, data.x_test, num_samples=args.eval_samples)
    samples = keras.ops.convert_to_numpy(model.sample(10, seed=keras.random.SeedGenerator(1)))
    return {"elbo_bits": test["bits_per_dim"], "nll_bits": zoo.bits_per_dim(model, log_px),
            "nll_nats": float(-log_px.mean()), "epochs": len(history.history["loss"]), "samples": samples}


def table(rows, data, args, command):
    import keras

    lines = [
        f"Same MLP VAE ({data.shape} → 256 → 128 → {args.latent_dim}, and back) on {data.name} "
        f"({len(data.x_train)} training images, {data.levels} levels), Adam {args.lr:g}, up to {args.epochs} epochs, "
        f"the weights of the best validation bits/dim; test bound and importance-sampled log-likelihood "
        f"(k = {args.eval_samples}) in bits/dim on the discrete data's scale (lower is better).",
        "",
        "| likelihood | what it is | test −ELBO (bits/dim) | test −log p(x), IS (bits/dim) | (nats) | epochs |",
        "|---|---|---|---|---|---|",
    ]
    for (label, what, _), result in rows:
        lines.append(f"| {label} | {what} | {result['elbo_bits']:.4f} | {result['nll_bits']:.4f} | "
                     f"{result['nll_nats']:.2f} | {result['epochs']} |")
    lines += ["", f"`{command}` — {datetime.date.today().isoformat()}, KERAS_BACKEND={keras.backend.backend()}, "
                  f"keras {keras.__version__}, Python {platform.python_version()}, {platform.machine()}, "
                  f"{__import__('os').cpu_count()} CPU cores."]
    return "\n".join(lines)


def save_samples(rows, data, path):
    """One row of 10 samples E[x|z], z ~ p(z), per likelihood."""
    from zoo import plots

    images = np.concatenate([plots.as_images(result["samples"], data.shape) for _, result in rows])
    return plots.image_grid(images, path, 10, "Samples E[x | z] under each likelihood (one row each)",
                            row_labels=[label for (label, _, _), _ in rows])


def write_docs(markdown, image, data):
    """Replace the table between the markers in docs/likelihoods.md with this run's."""
    page = ROOT / "docs" / "likelihoods.md"
    begin, end = f"<!-- mse_is_a_gaussian {data.name}: begin -->", f"<!-- mse_is_a_gaussian {data.name}: end -->"
    block = f"{begin}\n{markdown}\n\n![samples under each likelihood](images/{image.name})\n{end}"
    text = page.read_text()
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.replace("MEASURED_TABLE", block)
    page.write_text(text)
    print(f"wrote the table into {page}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="digits", help="digits, mnist, fashion-mnist or a .npz of grey images")
    parser.add_argument("--data-dir", default=None, help="a folder with mnist.npz / fashion-mnist.npz (offline)")
    parser.add_argument("--max-examples", type=int, default=None, help="cap each split")
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--patience", type=int, default=30)
    parser.add_argument("--latent-dim", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--eval-samples", type=int, default=1000)
    parser.add_argument("--out", default="examples_output/mse_is_a_gaussian")
    parser.add_argument("--write-docs", action="store_true", help="put the table and the image in docs/")
    parser.add_argument("--quick", action="store_true", help="2 epochs on 300 images, k = 20: about two minutes")
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs, args.max_examples, args.eval_samples = 2, args.max_examples or 300, 20
    command = "python examples/mse_is_a_gaussian.py" + ("".join(f" {a}" for a in argv) if argv else
                                                        "".join(f" {a}" for a in sys.argv[1:]))

    data = load_data(args)
    rows = []
    for label, what, spec in likelihoods(int(np.prod(data.shape)), data.levels):
        result = train_and_score(spec, data, args)
        rows.append(((label, what, spec), result))
        print(f"{label:>22}: test {result['nll_bits']:.4f} bits/dim ({result['nll_nats']:.2f} nats), "
              f"−ELBO {result['elbo_bits']:.4f}, {result['epochs']} epochs", flush=True)
    markdown = table(rows, data, args, command.replace(" --write-docs", ""))
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"table-{data.name}.md").write_text(markdown + "\n")
    image = save_samples(rows, data, out / f"samples-{data.name}.png")
    print("\n" + markdown)
    if args.write_docs:
        target = ROOT / "docs" / "images" / f"mse_is_a_gaussian_{data.name}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(pathlib.Path(image).read_bytes())
        write_docs(markdown, target, data)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
