"""A trained model scored on its data: the numbers and pictures ``train.py`` reports, and a
command line that reproduces a trained preset's row of the tables.

    python -m zoo.evaluate vampprior_mnist                 # a shipped preset, on its card's protocol and k
    python -m zoo.evaluate vampprior_mnist --fingerprint   # the card's quick check: 1,000 images, k = 100
    python -m zoo.evaluate runs/my-preset --k 1000         # a preset folder (zoo.save_preset)

It prints the test −ELBO and the importance-sampled log-likelihood beside the model card's
numbers (and the paper's, where measured alike: zoo.protocols), and writes metrics.json,
samples.png and reconstructions.png to ``--out``. The estimators are zoo.evaluation's.
"""

import argparse
import json
import pathlib
import sys


def model_inputs(data, split, conditional=False):
    """A split as the model takes it: the images as evaluations score them (a grey training split
    of dynamically binarized data binarized once), with the labels for a conditional model."""
    x = data.evaluation_x(split)
    return (x, getattr(data, f"y_{split}")) if conditional else x


def scores(model, data, eval_samples, conditional=False, splits=("train", "valid", "test")):
    """The ELBO of each of ``splits`` (nats per example) and, on the test split, the importance-
    sampled log-likelihood with ``eval_samples`` samples, bits/dim and the active units."""
    import losses
    from zoo import evaluation

    result = {f"{'val' if split == 'valid' else split}_elbo": model.evaluate(
        model_inputs(data, split, conditional), batch_size=500, verbose=0, return_dict=True)["elbo"]
        for split in splits}
    test = model_inputs(data, "test", conditional)
    log_px = evaluation.log_likelihood(model, test, num_samples=eval_samples)
    active = evaluation.active_unit_counts(model, test)  # and the middle layer's, if any
    if "active_units_h1" in active:
        active["hidden_dim"] = model.hidden_dim
    return {
        **result,
        "test_elbo_bits_per_dim": float(losses.bits_per_dim(-result["test_elbo"], model.num_dims)),
        "test_log_likelihood": float(log_px.mean()),
        "test_bits_per_dim": evaluation.bits_per_dim(model, log_px),
        "eval_samples": eval_samples,
        **active,
        "latent_dim": model.latent_dim,
        "num_dims": model.num_dims,
        "data_levels": data.levels,
    }


def save_pictures(model, data, out, conditional=False):
    """samples.png, reconstructions.png of test images, and a latent map (2-D latents) or a
    traversal of the most used dimensions; returns the names of the files written."""
    import numpy as np
    import keras

    from zoo import evaluation, plots

    to_numpy = keras.ops.convert_to_numpy
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    saved = []
    if conditional:
        classes = np.repeat(np.arange(data.num_classes), 10)
        samples = to_numpy(model.sample(classes))
        title = "Samples by class (one row per class)"
    else:
        samples = to_numpy(model.sample(100))
        title = f"Samples: E[x | z], z ~ p(z) = {model.prior.describe()}"
    if plots.save_samples(samples, model.data_shape, out / "samples.png", title):
        saved.append("samples.png")
    # 30 test images spread over the split: static MNIST's test file runs in blocks of one
    # class (its first 30 are all zeros).
    spread = np.linspace(0, len(data.x_test) - 1, min(30, len(data.x_test))).astype(int)
    x = data.x_test[spread]
    recon_inputs = (x, data.y_test[spread]) if conditional else x
    recon = to_numpy(model.predict(recon_inputs, verbose=0))
    if plots.save_reconstructions(x, recon, model.data_shape, out / "reconstructions.png"):
        saved.append("reconstructions.png")
    condition = model._split_inputs(None, np.zeros(1, "int64"))[1] if conditional else None
    if model.latent_dim == 2:
        z = plots.latent_grid(12)
        cond = None if condition is None else keras.ops.repeat(condition, len(z), axis=0)
        images = to_numpy(model.likelihood.mean(model.decode(z, cond)))
        path = plots.save_samples(images, model.data_shape, out / "latent_map.png",
                                  "Latent space: decoded grid of z", columns=12)
        name = "latent_map.png"
    else:
        means = evaluation.posterior_means(model, recon_inputs)
        # The dimensions whose posterior mean varies most over the data, swept around the
        # data's mean code (with a learned prior, 0 need not be a typical z).
        dims = np.argsort(means.var(axis=0))[::-1][: min(8, model.latent_dim)]
        z_center = means.mean(axis=0).astype("float32")
        z = plots.traversal(z_center, dims)
        cond = None if condition is None else keras.ops.repeat(condition, len(z), axis=0)
        images = to_numpy(model.likelihood.mean(model.decode(z, cond)))
        path = plots.save_samples(images, model.data_shape, out / "latent_traversal.png",
                                  "Latent traversal: rows = the 8 most used dims, ±2.5 around the mean code",
                                  columns=9)
        name = "latent_traversal.png"
    if path:
        saved.append(name)
    return saved


def preset_data(metadata, data=None, data_dir=None, key="x", seed=0):
    """The data a preset is scored on: ``data`` (a zoo.datasets name or .npz path, its array
    ``key``, split with ``seed``) if given, else the protocol its metadata records, with the seed
    that binarized its test images."""
    from zoo import datasets, protocols

    if data is not None:
        return datasets.load(data, key=key, data_dir=data_dir, seed=seed)
    protocol = metadata.get("protocol")
    if protocol not in protocols.PROTOCOLS:
        raise ValueError(f"the preset's metadata.json names no known protocol ({protocol!r}; known: "
                         f"{', '.join(protocols.PROTOCOLS)}): pass --data NAME or PATH.npz to say what to score.")
    return protocols.PROTOCOLS[protocol].load(data_dir, seed=metadata.get("seed", 0))


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m zoo.evaluate", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        epilog="Pick the backend with KERAS_BACKEND=tensorflow|jax|torch.")
    parser.add_argument("preset", help="a trained preset's name (zoo.trained.shipped()) or a preset folder")
    parser.add_argument("--k", type=int, default=None,
                        help="importance samples of the test log-likelihood (default: the card's, else 1000)")
    parser.add_argument("--fingerprint", action="store_true",
                        help="only the card's fingerprint: IS on the first test images at its k and seed, "
                             "compared with the card's (seconds, not minutes)")
    parser.add_argument("--data", default=None,
                        help="score on this dataset (a zoo.datasets name or PATH.npz) instead of the card's protocol")
    parser.add_argument("--data-dir", default=None, help="where the protocol's files are (default: as zoo.datasets)")
    parser.add_argument("--out", default=None, help="folder for metrics.json and the pictures "
                                                    "(default runs/evaluate-<preset>)")
    return parser


#: A fingerprint off by more than this (nats) on the backend that recorded it says the weights or
#: the code changed (on one backend the same seed draws the same samples: ~1e-4 is round-off).
FINGERPRINT_TOLERANCE = 0.05
#: The same against another backend's value: its samples differ (for vampprior_mnist, 2026-12-07:
#: 0.03 nats between the three backends at k = 100, 0.065 between PyTorch and JAX at k = 1000).
CROSS_BACKEND_TOLERANCE = 0.5


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except KeyboardInterrupt:
        print("\nzoo.evaluate: interrupted.", file=sys.stderr)
        return 130
    except (ValueError, OSError) as error:  # ModelFileError, DataLoadError and bad values among them
        print(f"zoo.evaluate: error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2


def run(args):
    from zoo import protocols, trained

    if args.k is not None and args.k <= 0:
        raise ValueError(f"--k must be a positive integer, got {args.k}.")
    model, metadata = trained.from_preset(args.preset), trained.preset_metadata(args.preset)
    data = preset_data(metadata, args.data, args.data_dir)
    name = pathlib.Path(args.preset).name
    print(f"{name}: {type(model).__name__}, {model.count_params():,} parameters; "
          f"{protocols.PROTOCOLS[metadata['protocol']].describe() if args.data is None else data.summary()}")
    if args.fingerprint:
        return check_fingerprint(model, data, metadata)
    model.compile()  # model.evaluate needs it; no optimizer state is made without fit
    k = args.k or metadata.get("test_nll_k") or 1000
    print(f"scoring the {len(data.x_test):,} test images: ELBO, and IS with k = {k} …", flush=True)
    result = scores(model, data, k, splits=("test",))
    # The card's numbers stand beside ours only when measured alike: the card's data (its
    # protocol, unless --data replaced it) and, for the IS estimate, the card's k.
    same_data = args.data is None or metadata.get("protocol") is None
    same_k = same_data and metadata.get("test_nll_k") == k
    rows = [("test −ELBO (nats)", -result["test_elbo"], metadata.get("test_negative_elbo") if same_data else None, None),
            (f"test −log p(x), IS k = {k}", -result["test_log_likelihood"], metadata.get("test_nll") if same_k else None,
             metadata.get("paper_test_nll") if same_k and args.data is None else None)]
    print(f"{'':28s} {'this run':>9s} {'card':>9s} {'paper':>9s}")
    for label, ours, card, paper in rows:
        print(f"{label:28s} {ours:9.2f} {_number(card):>9s} {_number(paper):>9s}")
    if metadata.get("paper_source") and rows[1][3] is not None:
        print(f"paper: {metadata['paper_source']}")
    out = pathlib.Path(args.out or f"runs/evaluate-{name}")
    out.mkdir(parents=True, exist_ok=True)  # metrics.json first: the pictures come after the numbers
    (out / "metrics.json").write_text(json.dumps({"preset": name, **result}, indent=2))
    pictures = save_pictures(model, data, out)
    print(f"written to {out}/: metrics.json, {', '.join(pictures)}")
    return 0


def check_fingerprint(model, data, metadata):
    """Recompute the card's fingerprint on this backend; exit status 1 when it moved by more than
    the tolerance. A card without this backend's value is compared with another backend's, whose
    samples differ: there only a gap past ``CROSS_BACKEND_TOLERANCE`` says something changed."""
    import keras

    from zoo import trained

    card = metadata.get("fingerprint")
    if not card:
        raise ValueError("the preset's metadata.json has no fingerprint (bench/likelihood.py --save-preset records "
                         "one, bench/fingerprint.py adds every backend's).")
    backend = keras.backend.backend()
    values = trained.fingerprint_values(card)
    reference = backend if backend in values else next(iter(values))
    tolerance = FINGERPRINT_TOLERANCE if reference == backend else CROSS_BACKEND_TOLERANCE
    value = trained.fingerprint(model, data.x_test[: card["images"]], card["k"], card.get("seed", 0))
    moved = abs(value - values[reference])
    verdict = "matches" if moved <= tolerance else f"DIFFERS by more than {tolerance}"
    print(f"fingerprint (mean log p(x), first {card['images']:,} test images, IS k = {card['k']}, seed "
          f"{card.get('seed', 0)}): {value:.4f} here, {values[reference]:.4f} on the card ({reference}): {verdict} "
          f"(|difference| {moved:.4f} nats)")
    if reference != backend:
        print(f"(the card has no {backend} value; {reference} draws other samples, so the two differ by the "
              f"estimator's noise: bench/fingerprint.py records every backend's)")
    return 0 if moved <= tolerance else 1


def _number(value):
    return "—" if value is None else f"{value:.2f}"


if __name__ == "__main__":
    sys.exit(main())
