#!/usr/bin/env python
"""Train, evaluate and show a VAE from the zoo, on any Keras backend.

    python train.py                                   # MLP VAE on bundled digits, offline
    KERAS_BACKEND=jax python train.py --likelihood huber --huber-alpha 1.345
    python train.py --data binarized-mnist --model iwae_mnist_k5 --epochs 100
    python train.py --out runs/a --resume             # continue a killed run
    python train.py --from-preset vampprior_mnist --epochs 0   # a trained preset: score it, draw samples

Outputs in --out: model.keras, config.json, history.csv, metrics.json, samples.png,
reconstructions.png and latent_map.png (2-D latent) or latent_traversal.png. All numbers are
per example, summed over dimensions, in nats; bits/dim are on the discrete data's scale.
"""

import argparse
import datetime
import errno
import importlib.metadata
import importlib.util
import json
import math
import os
import pathlib
import platform
import sys
import tempfile
import time

PRESETS = ("hvae_vampprior_mnist", "iaf_mnist", "iwae_mnist", "iwae_mnist_2layer", "iwae_mnist_k5",
           "iwae_mnist_k50", "keras_guide", "kingma_welling_mnist", "ladder_mnist", "mog_prior_mnist",
           "planar_mnist", "tf_cvae_tutorial", "vampprior_mnist")  # zoo.presets.names(), without importing Keras

# What a --from-preset model brings with it: these options describe another model.
PRESET_DEFINES = ("model", "likelihood", "scale", "huber_alpha", "student_df", "latent_dim", "hidden", "beta",
                  "prior", "prior_components", "posterior", "flow_steps", "kl", "kl_warmup", "free_bits", "k",
                  "bound", "m", "ciwae_beta", "dynamic_binarization", "npz_labels")

# Overridable after resume; every other option comes from the saved config.json.
RESUME_OVERRIDES = ("epochs", "eval_samples", "patience", "tensorboard", "verbose", "jit_compile")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="train.py", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        epilog="Pick the backend with KERAS_BACKEND=tensorflow|jax|torch (read once, at import).",
    )
    data = parser.add_argument_group("data")
    data.add_argument("--data", default=None,
                      help="digits (bundled, offline; the default, or with --from-preset its protocol's data) | binarized-mnist (static MNIST's official files: from "
                           "--data-dir, else downloaded once) | mnist | "
                           "fashion-mnist (keras.datasets, needs internet once) | PATH.npz")
    data.add_argument("--npz-key", default="x", help="array name inside a .npz")
    data.add_argument("--npz-labels", default=None, help="label array inside a .npz (for --model conditional)")
    data.add_argument("--max-examples", type=int, default=None,
                      help="use at most this many examples of each split (quick runs)")
    data.add_argument("--dynamic-binarization", action="store_true",
                      help="grey data in [0, 1] under a Bernoulli likelihood: a fresh binarization each "
                           "training step, validation and test binarized once (the IWAE paper's MNIST)")
    data.add_argument("--data-dir", default=None,
                      help="folder with binarized_mnist_{train,valid,test}.npz (default: $VAE_ZOO_DATA, "
                           "../shared/data or Keras' cache, else downloaded once); with --data mnist / fashion-mnist, a folder holding a copy "
                           "of keras.datasets' mnist.npz / fashion-mnist.npz, read instead of downloading")
    model = parser.add_argument_group("model")
    model.add_argument("--from-preset", default=None, metavar="NAME|FOLDER",
                       help="start from a trained preset's architecture and weights (zoo.from_preset: a shipped "
                            "name or a zoo.save_preset folder); --epochs 0 scores it and draws samples, more "
                            "epochs fine-tune it. The data default to the preset's protocol; the other model "
                            "options are the preset's")
    model.add_argument("--model", default="mlp",
                       help="mlp | conv | conditional | two_layer | hvae | ladder | a preset: " + ", ".join(PRESETS))
    model.add_argument("--likelihood", default=None,
                       help="bernoulli | continuous_bernoulli | gaussian | sigma_vae | laplace | logistic | "
                            "student_t | huber | discretized_logistic (default: bernoulli for binary data, "
                            "discretized_logistic for grey levels, gaussian for continuous data)")
    model.add_argument("--scale", default=None,
                       help="σ of a location-scale likelihood: a number, learned, shared or optimal")
    model.add_argument("--huber-alpha", type=float, default=None, help="Huber threshold α > 0 (huber only)")
    model.add_argument("--student-df", default=None, help="Student-t ν > 0, or 'learned' (student_t only)")
    model.add_argument("--latent-dim", type=int, default=None, help="size of z (default 16, or the preset's)")
    model.add_argument("--hidden", default=None, help="MLP widths, comma-separated (default 200,200)")
    model.add_argument("--beta", type=float, default=1.0, help="KL weight in the loss (metrics use β = 1)")
    model.add_argument("--prior", choices=("standard_normal", "mog", "vampprior"), default=None,
                       help="p(z): N(0, I), a learned mixture of Gaussians, or the VampPrior (default: the model's)")
    model.add_argument("--prior-components", type=int, default=None,
                       help="mixture components / VampPrior pseudo-inputs K (default 500)")
    model.add_argument("--posterior", choices=("gaussian", "planar", "iaf"), default=None,
                       help="q(z|x): diagonal Gaussian, or a planar / IAF flow on it (default: the model's)")
    model.add_argument("--flow-steps", type=int, default=None, help="steps of a planar (default 10) or IAF (2) flow")
    model.add_argument("--kl", choices=("auto", "analytic", "monte_carlo"), default="auto",
                       help="KL estimator (k = 1): auto = analytic where it has a closed form")
    model.add_argument("--kl-warmup", type=int, default=0, help="steps over which the KL weight ramps 0 → β")
    model.add_argument("--free-bits", type=float, default=0.0, help="nats per latent dimension")
    model.add_argument("--k", type=int, default=None, help="importance samples (k > 1: IWAE), per bound for miwae/piwae")
    model.add_argument("--bound", choices=("iwae", "miwae", "piwae", "ciwae"), default=None,
                       help="objective on the samples (Rainforth et al. 2018); iwae with k = 1 is the ELBO")
    model.add_argument("--m", type=int, default=None, help="k-sample bounds averaged by miwae / piwae")
    model.add_argument("--ciwae-beta", type=float, default=None, help="CIWAE's mix: β·ELBO + (1 − β)·IWAE, in [0, 1]")
    fit = parser.add_argument_group("training and evaluation")
    fit.add_argument("--epochs", type=int, default=200, help="passes over the training data (0: with "
                                                                 "--from-preset, evaluate only)")
    fit.add_argument("--batch-size", type=int, default=64)
    fit.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    fit.add_argument("--patience", type=int, default=20, help="early-stopping patience (epochs of val bits/dim)")
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--eval-samples", type=int, default=1000, help="importance samples k for the test log-likelihood")
    fit.add_argument("--out", default=None, help="output folder (default runs/<time>-<model>-<likelihood>)")
    fit.add_argument("--resume", action="store_true", help="continue the run in --out after a kill")
    fit.add_argument("--tensorboard", action="store_true", help="write TensorBoard logs to --out/tensorboard")
    fit.add_argument("--data-parallel", action="store_true",
                     help="split each batch over all local devices: keras.distribution (JAX) or "
                          "tf.distribute.MirroredStrategy (TensorFlow); any data and batch size")
    fit.add_argument("--jit-compile", choices=("auto", "true", "false"), default="auto",
                     help="compile the training step: auto = XLA on TensorFlow and JAX, on PyTorch the step "
                          "traced into one graph after a few eager steps; true on PyTorch: that graph through "
                          "torch.compile (~15 s to compile, a C++ compiler); "
                          "false: no XLA on TensorFlow, eager on JAX and PyTorch")
    fit.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2), help="Keras progress output")
    return parser


def check_arguments(args):
    """Fail fast, before importing a backend, on values no run can use."""
    positive = {"batch-size": args.batch_size, "eval-samples": args.eval_samples, "patience": args.patience}
    if not (args.from_preset and args.epochs == 0):
        positive["epochs"] = args.epochs
    if args.max_examples is not None:
        positive["max-examples"] = args.max_examples
    if args.latent_dim is not None:
        positive["latent-dim"] = args.latent_dim
    for name in ("k", "m", "prior_components", "flow_steps"):
        if getattr(args, name) is not None:
            positive[name.replace("_", "-")] = getattr(args, name)
    for name, value in positive.items():
        if value <= 0:
            raise ValueError(f"--{name} must be a positive integer, got {value}"
                             + (" (0 evaluates a --from-preset model without training)." if name == "epochs" else "."))
    if not (args.lr > 0 and math.isfinite(args.lr)):
        raise ValueError(f"--lr must be > 0, got {args.lr}.")
    if args.ciwae_beta is not None and not 0 <= args.ciwae_beta <= 1:
        raise ValueError(f"--ciwae-beta must lie in [0, 1], got {args.ciwae_beta}.")
    if args.beta < 0 or not math.isfinite(args.beta):
        raise ValueError(f"--beta must be ≥ 0, got {args.beta}.")
    if args.huber_alpha is not None and not (args.huber_alpha > 0 and math.isfinite(args.huber_alpha)):
        raise ValueError(f"--huber-alpha must be a number > 0, got {args.huber_alpha}.")
    if args.hidden is not None:
        try:
            args.hidden = [int(h) for h in args.hidden.split(",")]
        except ValueError:
            raise ValueError(f"--hidden takes comma-separated integers like 200,200, got {args.hidden!r}.") from None
    if args.dynamic_binarization and args.likelihood not in (None, "bernoulli"):
        raise ValueError(f"--dynamic-binarization draws binary images, scored by the bernoulli "
                         f"likelihood, not --likelihood {args.likelihood}.")
    if args.resume and not args.out:
        raise ValueError("--resume needs --out DIR, the folder of the run to continue.")


def given_options(args, parser, names):
    """Those of ``names`` set to other than their defaults, as the command line spells them."""
    return [f"--{name.replace('_', '-')}" for name in names if getattr(args, name) != parser.get_default(name)]


def check_from_preset(args, parser):
    """With --from-preset, the model's options are the preset's: refuse any given here."""
    if not args.from_preset or args.resume:
        return
    given = given_options(args, parser, PRESET_DEFINES)
    if given:
        raise ValueError(f"{', '.join(given)}: the model of --from-preset {args.from_preset} is defined by the preset; "
                         f"drop {'it' if len(given) == 1 else 'them'}, or train a new model without --from-preset.")


def prepare_out_dir(args, parser):
    """Create the output folder, or reload a run's config for --resume."""
    if args.resume:
        out = pathlib.Path(args.out)
        config_path = out / "config.json"
        if not config_path.exists():
            raise ValueError(f"nothing to resume in {out}: no config.json there. Start a new run without --resume.")
        try:
            saved = json.loads(config_path.read_text())["arguments"]
        except (ValueError, KeyError):
            raise ValueError(f"{config_path} is damaged (not the JSON train.py wrote): nothing to "
                             f"resume; start a new run in another --out.") from None
        for name, value in vars(args).items():
            if value == parser.get_default(name) or name in ("resume", "out"):
                continue
            if name in RESUME_OVERRIDES:
                saved[name] = value
            elif saved.get(name) != value:
                raise ValueError(f"--{name.replace('_', '-')} {value} contradicts the resumed run's "
                                 f"{saved.get(name)!r}: a resumed run keeps its configuration (only "
                                 f"--{', --'.join(o.replace('_', '-') for o in RESUME_OVERRIDES)} "
                                 f"change); drop the option or start a new --out.")
        saved["resume"], saved["out"] = True, str(out)
        return argparse.Namespace(**saved), out
    if args.out is None:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        name = (f"{pathlib.Path(args.from_preset).name}-preset" if args.from_preset
                else f"{args.model}-{args.likelihood or 'default'}")
        args.out = os.path.join("runs", f"{stamp}-{name}")
    out = pathlib.Path(args.out)
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"{out} exists and is not empty: pass --resume to continue that run, or a new --out.")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(f"cannot create {out}: {error.strerror}.") from None
    return args, out


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    return run_cli("train.py", lambda: run(args, parser),
                   interrupted=lambda: f"continue with --resume --out {args.out}")


BACKENDS = ("tensorflow", "jax", "torch")


def check_backend():
    """An invalid KERAS_BACKEND, said before Keras' import fails on it."""
    backend = os.environ.get("KERAS_BACKEND")
    if backend is not None and backend not in BACKENDS:
        raise ValueError(f"KERAS_BACKEND={backend!r} is not a backend the zoo runs on: set it to "
                         f"{', '.join(BACKENDS)} (unset: tensorflow).")


#: What TensorFlow writes to stderr as it loads, on any machine: not news on a JAX or PyTorch run.
TENSORFLOW_START_UP = ("All log messages before absl::InitializeLog()", "oneDNN custom operations are on",
                       "Could not find cuda drivers on your machine", "This TensorFlow binary is optimized",
                       "To enable the following instructions")


def import_tensorflow_quietly():
    """On the JAX and PyTorch backends, import TensorFlow first, its start-up lines kept off stderr.

    Keras imports TensorFlow on every backend when it is installed (to seed it, and to save a
    model), and TensorFlow 2.21 then prints absl and CUDA notices that TF_CPP_MIN_LOG_LEVEL does
    not silence. Its stderr is captured while it loads and every other line is passed on, so a
    real error still shows. Nothing happens on the TensorFlow backend or without TensorFlow.
    """
    if os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow" or "tensorflow" in sys.modules:
        return
    if importlib.util.find_spec("tensorflow") is None:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        except Exception:  # noqa: BLE001 - Keras reports a broken TensorFlow if it ever needs it
            pass
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        for line in capture.read().decode(errors="replace").splitlines():
            if line.strip() and not any(marker in line for marker in TENSORFLOW_START_UP):
                print(line, file=sys.stderr)


def describe(error):
    """One line for the user: the error's own first line, or for a file-system error which
    file, what failed, and what to do."""
    if isinstance(error, OSError) and error.strerror:
        where = f" ({error.filename})" if error.filename else ""
        space = "free some disk space or write to another --out"
        permission = "check the permissions, or write to another --out"
        hint = {errno.ENOSPC: space, errno.EDQUOT: space, errno.EACCES: permission,
                errno.EPERM: permission, errno.EROFS: "the file system is read-only: write to another --out",
                }.get(error.errno, "check the path")
        return f"{error.strerror}{where}: {hint}."
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def run_cli(prog, body, interrupted):
    """Run ``body()``; a failure ends as one line on stderr and exit code 2, not a traceback
    (VAE_ZOO_DEBUG=1 shows it); Ctrl-C says how to continue (``interrupted()``)."""
    try:
        check_backend()
        import_tensorflow_quietly()
        return body()
    except KeyboardInterrupt:
        print(f"\n{prog}: interrupted; {interrupted()}", file=sys.stderr)
        return 130
    except Exception as error:
        if os.environ.get("VAE_ZOO_DEBUG"):
            raise
        print(f"{prog}: error: {describe(error)}", file=sys.stderr)
        return 2


def run(args, parser):
    check_arguments(args)
    check_from_preset(args, parser)
    args, out = prepare_out_dir(args, parser)
    started = time.time()

    import keras

    import zoo
    import zoo.evaluate

    from_preset = getattr(args, "from_preset", None)  # absent in older runs' config.json
    if from_preset:
        data = preset_data(args, zoo)
    else:
        args.data = args.data or "digits"
        data = zoo.datasets.load(args.data, key=args.npz_key, label_key=args.npz_labels,
                                 data_dir=args.data_dir, seed=args.seed)
    if args.max_examples:
        data = data.limited(args.max_examples)
    dynamic_binarization = getattr(args, "dynamic_binarization", False)  # absent in older runs' config.json
    if dynamic_binarization:
        data = data.dynamically_binarized(args.seed)
    keras.utils.set_random_seed(args.seed)
    if getattr(args, "data_parallel", False):
        from zoo.training.distribution import check_batch_size, data_parallel

        devices = data_parallel()
        check_batch_size(args.batch_size, devices)
        print(f"data parallel over {devices} devices: {keras.distribution.list_devices()}")
    model = preset_model(args, data, zoo) if from_preset else new_model(args, data, zoo)
    conditional = isinstance(model, zoo.ConditionalVAE)
    bound = f"k={model.k}" + (f", {model.bound} (m={model.m})" if model.bound != "iwae" else "")
    print(f"{data.summary()}\nmodel: {type(model).__name__}{f' from {from_preset}' if from_preset else ''}, "
          f"latent {model.latent_dim}, likelihood {model.likelihood!r}, prior {model.prior.describe()}, "
          f"posterior {model.posterior.describe()}, {bound}, backend {keras.backend.backend()}, "
          f"{model.count_params():,} parameters\noutputs: {out}")

    write_config(out, args, data, model)
    jit_compile = zoo.vae.JIT_COMPILE_OPTIONS[getattr(args, "jit_compile", "auto")]  # absent in older runs
    model.compile(optimizer=keras.optimizers.Adam(args.lr), jit_compile=jit_compile)
    timer = zoo.EpochTimer()
    if args.epochs:
        fit(model, data, conditional, timer, args, out, keras, zoo)
    zoo.save_model(model, out / "model.keras")

    print(f"evaluating: ELBO and importance-sampled log-likelihood with k={args.eval_samples} …")
    metrics = zoo.evaluate.scores(model, data, args.eval_samples, conditional)
    metrics.update({
        "wall_time_s": round(time.time() - started, 2),
        "fit_time_s": round(timer.total, 2),
        "epochs_run": len(timer.times),
        "examples_per_s": round(timer.examples_per_second(len(data.x_train)), 1) if timer.times else None,
        "backend": keras.backend.backend(),
    })
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    pictures = zoo.evaluate.save_pictures(model, data, out, conditional)

    print(f"\nDone in {metrics['wall_time_s']:.0f} s. Outputs in {out}/: model.keras, config.json, "
          f"{'history.csv, ' if args.epochs else ''}metrics.json, {', '.join(pictures)}")
    print(f"test ELBO            {metrics['test_elbo']:.2f} nats  ({metrics['test_elbo_bits_per_dim']:.4f} bits/dim)")
    print(f"test log-likelihood  {metrics['test_log_likelihood']:.2f} nats  ({metrics['test_bits_per_dim']:.4f} bits/dim, "
          f"k={args.eval_samples})")
    print(f"active units         {metrics['active_units']} of {model.latent_dim}")
    if "active_units_h1" in metrics:
        print(f"active units (h1)    {metrics['active_units_h1']} of {metrics['hidden_dim']}")
    return 0


def preset_data(args, zoo):
    """--from-preset's data: --data if given, else the protocol its metadata records."""
    return zoo.evaluate.preset_data(zoo.trained.preset_metadata(args.from_preset), args.data, args.data_dir,
                                    key=args.npz_key, seed=args.seed)


def preset_model(args, data, zoo):
    """The trained preset, checked against the data it is to see."""
    model = zoo.from_preset(args.from_preset)
    if tuple(model.data_shape) != tuple(data.shape):
        raise ValueError(f"--from-preset {args.from_preset} takes data of shape {tuple(model.data_shape)}, "
                         f"and {data.name} has {tuple(data.shape)}: leave --data out to use the preset's own.")
    return model


def new_model(args, data, zoo):
    """The model the options describe."""
    dynamic_binarization = getattr(args, "dynamic_binarization", False)
    likelihood = zoo.factory.make_likelihood(args.likelihood, data.levels, args.scale,
                                             args.huber_alpha, args.student_df)
    vae_options = {"beta": args.beta, "kl": args.kl, "kl_warmup_steps": args.kl_warmup,
                   "free_bits": args.free_bits, "dynamic_binarization": dynamic_binarization,
                   "seed": args.seed}
    vae_options.update(
        k=args.k, bound=getattr(args, "bound", None), m=getattr(args, "m", None),  # (absent in older runs)
        ciwae_beta=getattr(args, "ciwae_beta", None),
        prior=zoo.factory.make_prior(getattr(args, "prior", None), getattr(args, "prior_components", None)),
        posterior=zoo.factory.make_posterior(getattr(args, "posterior", None), getattr(args, "flow_steps", None)))
    return zoo.factory.make_model(args.model, data.shape, likelihood, data.levels, args.latent_dim,
                                  args.hidden, data.num_classes, **vae_options)


def fit(model, data, conditional, timer, args, out, keras, zoo):
    callbacks = [
        # The history first: an epoch's row is written before its checkpoint, so a kill between
        # them repeats that epoch on --resume (its row replaced), never loses it.
        zoo.HistoryCSV(out / "history.csv"),
        # Its best epoch and weights survive a kill (Keras' own forgot them on --resume).
        zoo.ResumableEarlyStopping(out / "early_stopping", monitor="val_bits_per_dim", mode="min",
                                   patience=args.patience, restore_best_weights=True),
        zoo.BackupAndRestore(out / "backup"),  # two checkpoints; says so if the model differs
        timer,
    ]
    if args.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(str(out / "tensorboard")))
    fit_inputs = (data.x_train, data.y_train) if conditional else (data.x_train,)
    model.fit(*fit_inputs, epochs=args.epochs, batch_size=args.batch_size,
              validation_data=(zoo.evaluate.model_inputs(data, "valid", conditional),),
              callbacks=callbacks, verbose=args.verbose)


def write_config(out, args, data, model):
    import keras

    versions = {"python": platform.python_version(), "keras": keras.__version__}
    for package in ("jax", "tensorflow", "torch", "numpy"):
        try:
            # From the installed metadata: importing PyTorch on another backend only to read
            # its version took 2-3 s. (Keras itself imports TensorFlow, when installed, to
            # seed it and on every save, whatever the backend.)
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            pass
    config = {
        "arguments": {k: v for k, v in vars(args).items()},
        "backend": keras.backend.backend(),
        "versions": versions,
        "data": {"summary": data.summary(), "note": data.note, "levels": data.levels},
        "model": keras.saving.serialize_keras_object(model),
        "command": " ".join([os.path.basename(sys.argv[0])] + sys.argv[1:]),
    }
    (out / "config.json").write_text(json.dumps(config, indent=2, default=str))


if __name__ == "__main__":
    sys.exit(main())
