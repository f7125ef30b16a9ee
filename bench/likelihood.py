#!/usr/bin/env python
"""Log-likelihood against the published numbers, in a budget a laptop can afford.

    python bench/likelihood.py --model iwae_mnist --dynamic-binarization --minutes 60 --eval-samples 5000
    python bench/likelihood.py --model vampprior_mnist --minutes 60 --eval-samples 5000   # static MNIST
    python bench/likelihood.py --model grey --minutes 2               # the likelihood family on digits

Each MNIST preset trains for --minutes of wall time with Adam, the learning rate falling along a
straight line to zero over the budget (zoo.TimeBudget; ``--lr-decay exponential``: 10×
exponentially instead, the IWAE paper's 10^(−i/7) over 3,280 epochs, compressed), keeping the
weights of the best validation ELBO (checked every epoch), then reports the test split's
importance-sampled log-likelihood with --eval-samples samples, once, and the CPU minutes used.
The data follow a protocol of zoo.protocols:

- static-mnist (the default): the fixed binarization's official files, 50,000 training,
  10,000 validation and 10,000 test images (zoo.datasets.load("binarized-mnist"): read from
  --data-dir / $VAE_ZOO_DATA / ../shared/data, else downloaded once and checked).
- dynamic-mnist (``--dynamic-binarization``): grey MNIST (keras.datasets, internet once; or
  mnist.npz in --data-dir) binarized afresh each training step, 54,000 training images
  (--validation-fraction), the official 10,000 test images binarized once: the IWAE paper's
  Table 1 and the Ladder VAE's protocol.

The paper's number (zoo.protocols.published) is printed and recorded beside ours only when
the protocol and the estimator (--eval-samples = the paper's k, 5000) are the same.

``--warm-start-minutes W`` spends the first W of the --minutes training the same networks on
the k = 1 bound (--warm-start-k), ~40× cheaper per epoch than k = 50, then continues on the
model's own bound from those weights; one learning-rate schedule runs over both phases
(``--restart-lr`` restarts the second phase at a learning rate of its own).
``--ema-momentum M`` keeps Adam's exponential moving average of the weights (Polyak averaging,
Keras' ``use_ema``) and validates, keeps and hands on the averaged weights instead of the last ones.
``--lr-warmup-epochs N`` ramps the learning rate up over the first N epochs of the first phase
(zoo.TimeBudget's warm-up), for a larger --lr.
``--validation-fraction 0`` (grey data only) trains on every training image (the IWAE paper's
60,000 with --dynamic-binarization) with no validation split, and keeps the last weights instead
of the best validation epoch's.
``--kl-warmup-steps N`` ramps the KL weight from 0 to 1 over the first N steps of the first
phase (Sønderby et al. 2016's warm-up), to keep latent units from collapsing early.

``--model grey`` trains one MLP VAE per continuous likelihood on digits (17 grey levels) and
reports each in bits/dim on the discrete data's scale: the comparability claim, measured.

Each MNIST run keeps its state in bench/results/likelihood-<run>-<backend>.run/ (its options,
each phase's last-epoch checkpoint, time used, early stopping and kept weights). ``--resume``
continues it: a killed run from its last checkpointed epoch, a finished one given a larger
--minutes along the longer schedule (the time already used counts), a finished one with the
same --minutes only scored again (e.g. with another --eval-samples). So a 3-hour run can go in
pieces. The same command without --resume refuses to start over that folder.

Results: bench/results/likelihood-<model>-<backend>.json and a markdown row on stdout.
"""

import argparse
import json
import math
import os
import pathlib
import platform
import re
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: The MNIST presets this script trains; their papers' numbers, with protocols, are zoo.protocols.PUBLISHED.
MNIST_PRESETS = ("iwae_mnist", "iwae_mnist_k5", "iwae_mnist_k50", "iwae_mnist_2layer", "vampprior_mnist",
                 "mog_prior_mnist", "hvae_vampprior_mnist", "planar_mnist", "iaf_mnist", "ladder_mnist")
# The batch size that won each model's hour (bench/README.md): batch 32 gave the IWAE models
# more progress per second than 128 (runs 16, 17, 25), while for the VAE (k = 1) a step is so
# cheap that 128 ran 1.6× the epochs and won (run 27 against 26).
# The later families take their papers' batch sizes: 100 (VampPrior, MoG, HVAE, planar flows;
# IAF as they), 256 (Ladder VAE).
DEFAULT_BATCH_SIZE = {"iwae_mnist": 128, "iwae_mnist_k5": 32, "iwae_mnist_k50": 32,
                      "iwae_mnist_2layer": 32, "grey": 64, "vampprior_mnist": 100, "mog_prior_mnist": 100,
                      "hvae_vampprior_mnist": 100, "planar_mnist": 100, "iaf_mnist": 100, "ladder_mnist": 256}
# Adam's initial rate where 1e-3 fails: the 80-step planar flow's training loss diverged within
# three epochs at 1e-3 (KL 25 → 300 nats) and did not at 3e-4 (training data only).
DEFAULT_LR = {"planar_mnist": 3e-4}
#: --optimizer's choices: the zoo's optimizers by name (adam: keras.optimizers.Adam).
OPTIMIZERS = {"adam": "Adam", "adam_norm_grad": "AdamNormGrad", "adam_clipped": "AdamClipped"}
GREY_LIKELIHOODS = (
    ("discretized_logistic", {}), ("gaussian", {"scale": "learned"}), ("sigma_vae", {}),
    ("laplace", {"scale": "learned"}), ("logistic", {"scale": "learned"}),
    ("student_t", {"scale": "learned", "df": "learned"}), ("huber", {"alpha": 1.0, "scale": "learned"}),
    ("continuous_bernoulli", {}),
)


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--model", required=True, choices=sorted(MNIST_PRESETS) + ["grey"])
    parser.add_argument("--minutes", type=float, default=60.0, help="wall-clock training budget per model")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="None: 128 for the VAE (iwae_mnist), 32 for the IWAE models, 64 for grey")
    parser.add_argument("--lr", type=float, default=None, help="initial Adam learning rate (None: 3e-4 for "
                        "planar_mnist, 1e-3 for the others)")
    parser.add_argument("--adam-epsilon", type=float, default=1e-7,
                        help="Adam's epsilon: Keras' default 1e-7; the IWAE paper used 1e-4, the VampPrior code 1e-8")
    parser.add_argument("--optimizer", choices=tuple(OPTIMIZERS), default="adam",
                        help="adam_norm_grad: Adam on per-tensor normalized gradients (zoo.AdamNormGrad, the "
                             "VampPrior authors' optimizer); adam_clipped: gradients clipped to total norm 4, "
                             "then each element to ±0.9 (zoo.AdamClipped, the Ladder VAE authors')")
    parser.add_argument("--log-var-clip", default=None,
                        help="clip of every Gaussian head's log-variance, as CLIP:LOW,HIGH, e.g. hard:-6,2 (the "
                             "VampPrior code's hardtanh); None: the preset's (soft:-12,8 unless it says)")
    parser.add_argument("--patience-from-epoch", type=int, default=0,
                        help="count --patience only from this epoch on (Keras' EarlyStopping start_from_epoch; "
                             "the VampPrior code: after its 100-epoch KL warm-up)")
    parser.add_argument("--decay-decades", type=float, default=None,
                        help="learning rate falls 10^d-fold over the budget (with --lr-decay linear, "
                             "inf: to zero); None: inf with --lr-decay linear, 1 with exponential")
    parser.add_argument("--lr-decay", choices=("exponential", "linear"), default="linear",
                        help="shape of that fall over wall time (zoo.TimeBudget's decay); linear to zero "
                             "beat the exponential 10x on all four IWAE presets (runs 28-32, 2026-11-29)")
    parser.add_argument("--patience", type=int, default=100,
                        help="stop after this many epochs without a better validation ELBO")
    parser.add_argument("--validation-fraction", type=float, default=None,
                        help="grey data (--dynamic-binarization, grey): share of the training images held out "
                             "to pick the best epoch, 0: train on all of them (as the IWAE paper did) and keep "
                             "the last weights; None: 0.1. Static MNIST always uses its official validation file")
    parser.add_argument("--warm-start-minutes", type=float, default=0.0,
                        help="MNIST presets: first train the same networks on the k=--warm-start-k "
                             "bound for this many of the --minutes (k=1 runs ~40x faster than k=50)")
    parser.add_argument("--warm-start-k", type=int, default=1, help="importance samples of the warm start")
    parser.add_argument("--restart-lr", type=float, default=None,
                        help="with --warm-start-minutes: the second phase's initial learning rate "
                             "(default: where the first phase's decay ended), decaying over the "
                             "rest of --decay-decades as before")
    parser.add_argument("--ema-momentum", type=float, default=None,
                        help="Polyak averaging: validate and keep Adam's moving average of the weights "
                             "with this momentum per step (e.g. 0.999); None: the weights themselves")
    parser.add_argument("--lr-warmup-epochs", type=int, default=0,
                        help="ramp the learning rate linearly over the first phase's first N epochs "
                             "(epoch i at (i+1)/N of the decayed rate; zoo.TimeBudget's warm-up), for a larger --lr")
    parser.add_argument("--kl-warmup-steps", type=int, default=None,
                        help="MNIST presets: ramp the KL weight 0 → 1 over this many steps of the first "
                             "phase (the warm start, if any); it kept the 2-layer k=1 phase from stalling "
                             "but collapsed its top layer (bench/README.md runs 7-9)")
    parser.add_argument("--eval-samples", type=int, default=1000, help="importance samples k of the test log-likelihood")
    parser.add_argument("--dynamic-binarization", action="store_true",
                        help="MNIST presets on grey MNIST binarized afresh each step (needs internet once)")
    parser.add_argument("--likelihoods", default=None,
                        help="--model grey: a comma-separated subset of " + ",".join(n for n, _ in GREY_LIKELIHOODS)
                        + "; None: all of them")
    parser.add_argument("--max-examples", type=int, default=None, help="cap every split (smoke runs)")
    parser.add_argument("--data-dir", default=None,
                        help="folder with binarized_mnist_{train,valid,test}.npz (default: $VAE_ZOO_DATA, "
                             "../shared/data, Keras' cache, else downloaded once); with --dynamic-binarization, "
                             "a folder with a copy of keras.datasets' mnist.npz (default: download it)")
    parser.add_argument("--save-preset", default=None, metavar="DIR",
                        help="MNIST presets: write the trained model as a preset folder (zoo.save_preset) with "
                             "the run's protocol, command, scores and fingerprint in its metadata")
    parser.add_argument("--model-option", action="append", default=[], metavar="KEY=VALUE",
                        help="MNIST presets: override one argument of the preset's model (VALUE as JSON, else a "
                             "string), e.g. --model-option share_top_down=false for ladder_mnist; repeatable")
    parser.add_argument("--resume", action="store_true",
                        help="MNIST presets: continue the run of these options in its folder (<results-dir>/"
                             "likelihood-<run>-<backend>.run): a killed run from its last epoch; a finished "
                             "one with a larger --minutes, along the longer schedule (with the same, it is "
                             "scored again). Only --minutes, --eval-samples and where files go may change")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jit-compile", choices=("auto", "true", "false"), default="auto",
                        help="model.compile's jit_compile (auto: XLA on TensorFlow and JAX, eager on PyTorch)")
    parser.add_argument("--results-dir", default=str(ROOT / "bench" / "results"))
    return parser


def parse_args(argv=None):
    """The parsed arguments, ``--decay-decades`` filled in from ``--lr-decay`` when left out."""
    args = build_parser().parse_args(argv)
    if args.lr is None:
        args.lr = DEFAULT_LR.get(args.model, 1e-3)
    if args.decay_decades is None:  # linear: to zero; exponential never gets there, 10× as the paper
        args.decay_decades = math.inf if args.lr_decay == "linear" else 1.0
    return args


def fit_for_budget(model, data, args, batch_size, minutes, lr, decay_decades, lr_warmup_epochs=0, folder=None):
    """Adam from ``lr``, decaying ``10^decay_decades``-fold over ``minutes`` of wall time (along
    ``args.lr_decay``'s shape; ramped up over the first ``lr_warmup_epochs`` epochs), keeping
    the weights of the best validation ELBO (with ``args.ema_momentum``: of the best moving average
    of the weights); returns the fit's facts as a dict.

    With ``folder`` (the phase's part of the run folder) the fit outlives a kill: the last epoch's
    checkpoint (zoo.BackupAndRestore), the time used (zoo.TimeBudget's state) and the early
    stopping (zoo.ResumableEarlyStopping) are kept there, and a phase that finished leaves its
    facts (done.json) and kept weights (final.weights.npz). A later call continues a killed fit,
    continues a finished one given more ``minutes`` (unless it stopped early), and otherwise only
    loads what the phase kept.
    """
    import keras

    import zoo
    from zoo.training.callbacks import load_weight_list, save_weight_list

    averaging, validating = args.ema_momentum is not None, len(data.x_valid) > 0
    jit_compile = zoo.vae.JIT_COMPILE_OPTIONS[args.jit_compile]
    optimizer = getattr(zoo, OPTIMIZERS[args.optimizer], None) or keras.optimizers.Adam
    model.compile(optimizer=optimizer(lr, epsilon=args.adam_epsilon, use_ema=averaging,
                                      ema_momentum=args.ema_momentum if averaging else 0.99),
                  jit_compile=jit_compile)
    done_path = folder / "done.json" if folder is not None else None
    if done_path is not None and done_path.exists():
        done = json.loads(done_path.read_text())
        if done["stopped_early"] or done["budget_minutes"] >= minutes:
            model.set_weights(load_weight_list(folder / "final.weights.npz"))
            return done
    budget = zoo.TimeBudget(minutes * 60.0, decay_decades=decay_decades, decay=args.lr_decay,
                            warmup_epochs=lr_warmup_epochs,
                            state_file=folder / "budget.json" if folder is not None else None)
    if folder is not None:  # each process that trains the phase: one piece of the run
        folder.mkdir(parents=True, exist_ok=True)
        pieces = json.loads((folder / "pieces.json").read_text()) if (folder / "pieces.json").exists() else []
        pieces.append({"started": time.strftime("%Y-%m-%d %H:%M"), "budget_minutes": minutes})
        (folder / "pieces.json").write_text(json.dumps(pieces))
    timer = zoo.EpochTimer()
    # The 1-layer VAE overfits 45,000 images within the hour: keep the weights of the best
    # validation ELBO. Checked every epoch: with checks every 10 epochs, a budget-limited run
    # (IWAE k=50: 27 epochs in 40 min) lost its last unchecked epochs to the restore.
    # With no validation split (--validation-fraction 0) the last weights are kept.
    stopping = {"monitor": "val_elbo", "mode": "max", "patience": args.patience, "restore_best_weights": True,
                "start_from_epoch": args.patience_from_epoch}
    best = (keras.callbacks.EarlyStopping(**stopping) if folder is None
            else zoo.ResumableEarlyStopping(folder / "early_stopping", **stopping))
    # Before the checkpoint, as train.py's: a kill between them repeats an epoch, never loses one.
    backup = [] if folder is None else [zoo.BackupAndRestore(folder / "backup", delete_checkpoint=False)]
    # The averages sit in the model from each validation to the next epoch's start, so the best
    # weights EarlyStopping records (after this callback) and restores at the end are averages.
    # With no validation, fit's end puts the averages in (Adam's finalize_variable_values).
    swap = [keras.callbacks.SwapEMAWeights(swap_on_epoch=True)] if averaging and validating else []
    history = model.fit(data.x_train, epochs=10**6, batch_size=batch_size, verbose=0,
                        validation_data=(data.x_valid,) if validating else None,
                        callbacks=[budget, timer, *swap, *([best] if validating else []), *backup])
    del history  # a resumed fit's history holds only its own epochs: the budget's rows hold the run's
    rows = budget.rows
    result = {
        "epochs": len(rows),
        "batch_size": batch_size,
        "training_images": len(data.x_train),
        "best_epoch": best.best_epoch + 1 if validating and best.best_weights is not None else None,
        "examples_per_s": round(timer.examples_per_second(len(data.x_train)), 1),
        "initial_lr": lr,
        "final_lr": budget.learning_rates[-1],
        "lr_decay": args.lr_decay,
        "jit_compile": model.jit_compile,
        "lr_warmup_epochs": lr_warmup_epochs,
        "adam_epsilon": float(model.optimizer.epsilon),
        "optimizer": type(model.optimizer).__name__,
        "patience": args.patience,
        "patience_from_epoch": args.patience_from_epoch,
        "ema_momentum": args.ema_momentum,
        "kl_warmup_steps": model.kl_warmup_steps,
        "train_wall_minutes": round(rows[-1]["elapsed"] / 60.0, 3),
        "train_cpu_minutes": round(rows[-1]["cpu"] / 60.0, 3),
        "val_negative_elbo_by_epoch": [round(-row["val_elbo"], 3) for row in rows if "val_elbo" in row],
        "budget_minutes": minutes,
        "stopped_early": bool(validating and best.stopped_epoch > 0),
    }
    if folder is not None:
        result["pieces"] = json.loads((folder / "pieces.json").read_text())
        save_weight_list(folder / "final.weights.npz", model.get_weights())
        done_path.write_text(json.dumps(result, indent=2))
    return result


def phase_schedules(args):
    """(minutes, initial lr, decay decades) of the warm start and of the second phase.

    One schedule over the whole --minutes, split where the phases meet: the first phase falls
    to ``reached`` of lr₀ (exponential: 10^(−d·share), linear: 1 − (1 − 10^(−d))·share), the
    second falls the remaining decades from there (or from --restart-lr), so either shape runs
    on unbroken across the switch.
    """
    import zoo

    whole = zoo.TimeBudget(args.minutes * 60.0, decay_decades=args.decay_decades, decay=args.lr_decay)
    reached = whole.multiplier(args.warm_start_minutes / args.minutes)
    first_decades = -math.log10(reached)
    return ((args.warm_start_minutes, args.lr, first_decades),
            (args.minutes - args.warm_start_minutes, args.restart_lr or args.lr * reached,
             args.decay_decades - first_decades))


def train_and_score(model, data, args, batch_size, warm_start_model=None, folder=None):
    """Fit for the budget, then the test ELBO and IS log-likelihood; returns a result dict.

    With ``warm_start_model`` (the same networks under another objective, e.g. k = 1), that
    model trains first for ``--warm-start-minutes`` and hands its weights on; the learning
    rate follows one schedule over both phases (unless ``--restart-lr``), and both count
    against ``--minutes``. With ``folder`` (the run folder) each phase keeps its state in a
    part of it (``warm``, ``main``), so a killed or finished run continues (``fit_for_budget``).
    """
    import zoo

    minutes, lr, decades, warm = args.minutes, args.lr, args.decay_decades, None
    lr_warmup_epochs = args.lr_warmup_epochs
    if warm_start_model is not None:
        first, (minutes, lr, decades) = phase_schedules(args)
        warm = fit_for_budget(warm_start_model, data, args, batch_size, *first, lr_warmup_epochs,
                              folder=folder and folder / "warm")
        lr_warmup_epochs = 0  # the second phase continues the schedule from where the first ended
        # Same layers (built in the constructor), same weight order: only the objective (k) differs.
        model.set_weights(warm_start_model.get_weights())
    result = fit_for_budget(model, data, args, batch_size, minutes, lr, decades, lr_warmup_epochs,
                            folder=folder and folder / "main")
    if warm is not None:
        result["warm_start"] = {"k": warm_start_model.k, **warm}
        result["train_wall_minutes"] = round(result["train_wall_minutes"] + warm["train_wall_minutes"], 3)
        result["train_cpu_minutes"] = round(result["train_cpu_minutes"] + warm["train_cpu_minutes"], 3)
    eval_start = time.perf_counter()
    log_px = zoo.log_likelihood(model, data.x_test, num_samples=args.eval_samples)
    eval_wall = (time.perf_counter() - eval_start) / 60.0
    test = model.evaluate(data.x_test, batch_size=500, verbose=0, return_dict=True)
    train = model.evaluate(data.evaluation_x("train"), batch_size=500, verbose=0, return_dict=True)
    return {
        "test_nll": round(float(-log_px.mean()), 3),
        "test_bits_per_dim": round(zoo.bits_per_dim(model, log_px), 5),
        "test_negative_elbo": round(-test["elbo"], 3),
        "train_negative_elbo": round(-train["elbo"], 3),
        **zoo.active_unit_counts(model, data.x_test),
        "eval_samples": args.eval_samples,
        **result,
        "eval_wall_minutes": round(eval_wall, 2),
    }


#: What ``--resume`` may change about a run: its budget, the test's k, and where files go.
RESUMABLE_CHANGES = ("minutes", "eval_samples", "save_preset", "results_dir", "data_dir", "resume")


def open_run_folder(args, backend):
    """The run's folder, ``<results-dir>/likelihood-<run>-<backend>.run``: made for a new run
    (refused if there, so nothing is lost), reopened by ``--resume`` if its options are the run's."""
    folder = pathlib.Path(args.results_dir) / f"likelihood-{run_name(args)}-{backend}.run"
    fixed = {key: value for key, value in vars(args).items() if key not in RESUMABLE_CHANGES}
    saved_path = folder / "arguments.json"
    saved = json.loads(saved_path.read_text()) if saved_path.exists() else None
    changed = sorted(key for key in set(saved or {}) | set(fixed) if (saved or {}).get(key) != fixed.get(key))
    differences = "; ".join(f"--{key.replace('_', '-')} {fixed.get(key)!r} (the run's: {(saved or {}).get(key)!r})"
                            for key in changed)
    if not args.resume:
        if folder.exists() and saved is not None and changed:
            sys.exit(f"likelihood.py: {folder} holds a run of other options ({differences}); the folder is named "
                     f"by the main ones only: pass another --results-dir, or delete that folder.")
        if folder.exists():
            sys.exit(f"likelihood.py: {folder} holds a run of these options: --resume continues it (a killed "
                     f"run, or a finished one with a larger --minutes); to start a new one, delete that folder "
                     f"or pass another --results-dir or --seed.")
        folder.mkdir(parents=True)
        saved_path.write_text(json.dumps(fixed, indent=2))
        return folder
    if saved is None:
        sys.exit(f"likelihood.py: nothing to resume in {folder} (no run of these options started there): "
                 f"leave out --resume to start it.")
    if changed:
        sys.exit(f"likelihood.py: --resume continues the run in {folder} with its own options, but {differences}. "
                 f"Only --minutes, --eval-samples and where files go may change.")
    return folder


#: Options that say only where files are read or written: a preset's card leaves them out of the
#: command that reproduces it (the bench result JSON keeps the command as it was typed).
LOCATION_OPTIONS = ("--data-dir", "--save-preset", "--results-dir")


def reproducing_command(argv):
    """``python bench/likelihood.py ...`` with ``argv`` minus ``LOCATION_OPTIONS`` and their values."""
    kept, skip = [], False
    for argument in argv:
        if skip:
            skip = False
        elif argument in LOCATION_OPTIONS:
            skip = True
        elif not argument.startswith(tuple(f"{option}=" for option in LOCATION_OPTIONS)):
            kept.append(argument)
    return " ".join(["python", "bench/likelihood.py"] + kept)


def run_table3(args, backend, argv):
    import keras

    import zoo

    protocol = "dynamic-mnist" if args.dynamic_binarization else "static-mnist"
    # static: the official 50,000 / 10,000 / 10,000 files; dynamic: grey MNIST, binarized afresh
    data = zoo.protocols.PROTOCOLS[protocol].load(args.data_dir, args.seed, args.validation_fraction)
    if args.max_examples:
        data = data.limited(args.max_examples)
    keras.utils.set_random_seed(args.seed)
    options = {"seed": args.seed, "dynamic_binarization": args.dynamic_binarization}
    # The warm-up ramps in whichever model trains first; the second phase starts at full weight.
    warmup = {} if args.kl_warmup_steps is None else {"kl_warmup_steps": args.kl_warmup_steps}  # None: the preset's
    if args.log_var_clip is not None:
        options["posterior"] = posterior_with_clip(args.model, args.log_var_clip)
    options.update(model_options(args))
    model = zoo.presets.get(args.model, **options, **({} if args.warm_start_minutes else warmup))
    warm_start_model = None
    if args.warm_start_minutes:
        warm_start_model = zoo.presets.get(args.model, **options, **warmup, k=args.warm_start_k)
    result = train_and_score(model, data, args, args.batch_size or DEFAULT_BATCH_SIZE[args.model],
                             warm_start_model, folder=open_run_folder(args, backend))
    # The paper's number stands beside ours only when measured alike (zoo.protocols).
    entry = zoo.protocols.published(args.model, protocol)
    paper = entry.nll if entry is not None and zoo.protocols.comparable(entry, protocol, args.eval_samples) else None
    result.update(protocol=protocol, estimator=zoo.protocols.estimator_name(args.eval_samples),
                  paper_test_nll=paper, paper_source=entry.source if paper is not None else None,
                  paper_protocol=entry and f"{entry.protocol}, {entry.estimator}")
    zoo.save_model(model, pathlib.Path(args.results_dir) / f"likelihood-{run_name(args)}-{backend}.keras")
    if args.save_preset:
        result["fingerprint"] = zoo.trained.fingerprint_entry(model, data.x_test)  # bench/fingerprint.py adds backends
        zoo.save_preset(model, args.save_preset, overwrite=True, preset=args.model, protocol=protocol,
                        protocol_description=zoo.protocols.PROTOCOLS[protocol].describe(),
                        command=reproducing_command(argv),
                        training_images=len(data.x_train), epochs=result["epochs"],
                        train_wall_minutes=result["train_wall_minutes"],
                        test_negative_elbo=result["test_negative_elbo"],
                        test_nll=result["test_nll"], test_nll_k=args.eval_samples,
                        paper_test_nll=paper, paper_source=result["paper_source"],
                        seed=args.seed, fingerprint=result["fingerprint"],
                        **run_facts(result, environment(backend), backend))
    row = (f"| {args.model} | {protocol} | {backend} | {'—' if paper is None else f'{paper:.2f}'} | {result['test_nll']:.2f} "
           f"| {result['test_negative_elbo']:.2f} | {result['epochs']} | {result['train_cpu_minutes']:.0f} "
           f"| {result['train_wall_minutes']:.0f} |")
    return result, [row]


def run_facts(result, where, backend):
    """The run's facts a preset card keeps beside its scores (the rest is in the result JSON)."""
    return {"code_commit": where["code_commit"], "date_trained": where["date"], "trained_on_backend": backend,
            "versions": where["versions"], "cpus": where["cpus"],
            **{key: result[key] for key in ("best_epoch", "batch_size", "train_cpu_minutes",
                                            "train_negative_elbo", "active_units") if key in result}}


def environment(backend):
    """Where a run ran: versions, date, CPU count and the code's commit (``-dirty`` with
    uncommitted changes; None outside a git checkout)."""
    import subprocess

    import keras

    versions = {"python": platform.python_version(), "keras": keras.__version__,
                backend: __import__(backend).__version__}
    try:
        git = ["git", "-C", str(pathlib.Path(__file__).resolve().parents[1])]
        commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run([*git, "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, check=True).stdout.strip()
        commit += "-dirty" if dirty else ""
    except (OSError, subprocess.CalledProcessError):
        commit = None
    # The CPUs this process may run on: under `taskset -c 0` that is 1, where os.cpu_count() says 2.
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"versions": versions, "date": time.strftime("%Y-%m-%d"), "cpus": cpus, "code_commit": commit}


def posterior_with_clip(preset, clip):
    """The preset's posterior spec with ``clip`` ("hard:-6,2") as its log-variance clip."""
    import zoo

    spec = zoo.presets.config(preset).get("posterior", "gaussian")
    spec = dict(spec) if isinstance(spec, dict) else {"name": spec}
    kind, _, bounds = clip.partition(":")
    low, high = (float(bound) for bound in bounds.split(","))
    return {**spec, "log_var_clip": kind, "log_var_range": (low, high)}


def run_grey(args, backend, argv):
    import keras

    import zoo

    data = zoo.datasets.load("digits", validation_fraction=args.validation_fraction, seed=args.seed)  # None: 0.1
    if args.max_examples:
        data = data.limited(args.max_examples)
    results, rows = {}, []
    for name, options in grey_likelihoods(args):
        keras.utils.set_random_seed(args.seed)
        likelihood = zoo.factory.make_likelihood(name, data.levels, options.get("scale"),
                                                 options.get("alpha"), options.get("df"))
        model = zoo.MLPVAE(input_shape=data.shape, latent_dim=16, hidden=(200, 200),
                           likelihood=likelihood, data_levels=data.levels, seed=args.seed)
        result = train_and_score(model, data, args, args.batch_size or DEFAULT_BATCH_SIZE["grey"])
        results[repr(likelihood)] = result
        rows.append(f"| {likelihood!r} | {backend} | {result['test_bits_per_dim']:.4f} | "
                    f"{result['test_nll']:.2f} | {result['epochs']} | {result['train_cpu_minutes']:.1f} |")
    return results, rows


def grey_likelihoods(args):
    """The grey family's (name, options), all or the --likelihoods subset in the family's order."""
    if args.likelihoods is None:
        return GREY_LIKELIHOODS
    return tuple((name, options) for name, options in GREY_LIKELIHOODS if name in args.likelihoods)


def model_options(args):
    """``--model-option KEY=VALUE`` as a dict, each VALUE read as JSON (else kept as a string)."""
    options = {}
    for option in args.model_option:
        key, _, value = option.partition("=")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def check_model_options(args):
    """A one-line exit for a --model-option the preset's model does not take."""
    import inspect

    import zoo

    if args.model_option and args.model == "grey":
        sys.exit("likelihood.py: --model-option applies to the MNIST presets.")
    model_class = zoo.presets.PRESETS[args.model]["class"]
    accepted = {name for cls in model_class.__mro__[: model_class.__mro__.index(zoo.VAE) + 1]
                for name in inspect.signature(cls.__init__).parameters} - {"self", "kwargs", "encoder", "decoder"}
    for option in args.model_option:
        key, equals, value = option.partition("=")
        if not equals or not key:
            sys.exit(f"likelihood.py: --model-option takes KEY=VALUE, got {option!r}.")
        if key not in accepted:
            sys.exit(f"likelihood.py: {args.model} has no option {key!r}; it takes {', '.join(sorted(accepted))}.")


def run_name(args):
    subset = "-" + "+".join(name for name, _ in grey_likelihoods(args)) if args.likelihoods else ""
    return (args.model + subset + ("-dynamic" if args.dynamic_binarization else "")
            + (f"-warm{args.warm_start_k}" if args.warm_start_minutes else "")
            + (f"-lrwarmup{args.lr_warmup_epochs}" if args.lr_warmup_epochs else "")
            + (f"-klwarmup{args.kl_warmup_steps}" if args.kl_warmup_steps else "")
            + (f"-ema{args.ema_momentum:g}" if args.ema_momentum is not None else "")
            + ({"adam_norm_grad": "-normgrad", "adam_clipped": "-clipped"}.get(args.optimizer, ""))
            + (f"-{args.log_var_clip.replace(':', '').replace(',', '_')}" if args.log_var_clip else "")
            + (f"-patiencefrom{args.patience_from_epoch}" if args.patience_from_epoch else "")
            + ("-exponential" if args.lr_decay == "exponential" else "")
            + (f"-valid{args.validation_fraction:g}" if args.validation_fraction not in (None, 0.1) else "")
            + "".join(f"-{option}" for option in sorted(args.model_option))
            + (f"-seed{args.seed}" if args.seed else ""))


def main(argv=None):
    args = parse_args(argv)
    if args.minutes <= 0 or args.eval_samples <= 0 or args.adam_epsilon <= 0:
        sys.exit("likelihood.py: --minutes, --eval-samples and --adam-epsilon must be > 0.")
    if args.batch_size is not None and args.batch_size < 1:
        sys.exit("likelihood.py: --batch-size must be >= 1 (leave it out for the model's default).")
    if not 0 <= args.warm_start_minutes < args.minutes or args.warm_start_k < 1:
        sys.exit("likelihood.py: --warm-start-minutes must be >= 0 and less than --minutes, "
                 "--warm-start-k >= 1.")
    if not args.decay_decades >= 0 or (args.decay_decades == math.inf and args.lr_decay != "linear"):
        sys.exit("likelihood.py: --decay-decades must be >= 0, and inf (a decay to zero) needs "
                 "--lr-decay linear.")
    if (args.kl_warmup_steps or 0) < 0 or args.lr_warmup_epochs < 0:
        sys.exit("likelihood.py: --kl-warmup-steps and --lr-warmup-epochs must be >= 0.")
    if args.restart_lr is not None and (args.restart_lr <= 0 or not args.warm_start_minutes):
        sys.exit("likelihood.py: --restart-lr must be > 0 and needs --warm-start-minutes (it sets the "
                 "second phase's learning rate).")
    if args.resume and args.model == "grey":
        sys.exit("likelihood.py: --resume applies to the MNIST presets (grey trains several short runs).")
    if args.resume and args.ema_momentum is not None:
        sys.exit("likelihood.py: --resume does not apply to --ema-momentum runs: their checkpoint holds the "
                 "averaged weights in place of the trained ones. Start the run again without --resume.")
    if args.model_option:
        check_model_options(args)
    if args.save_preset and args.model == "grey":
        sys.exit("likelihood.py: --save-preset applies to the MNIST presets (grey trains several models).")
    if args.log_var_clip is not None and (args.model == "grey" or not re.fullmatch(
            r"(soft|hard):-?[\d.]+,-?[\d.]+", args.log_var_clip)):
        sys.exit(f"likelihood.py: --log-var-clip takes CLIP:LOW,HIGH with CLIP soft or hard (e.g. hard:-6,2), "
                 f"for the MNIST presets; got {args.log_var_clip!r}.")
    if args.patience_from_epoch < 0 or args.patience < 1:
        sys.exit("likelihood.py: --patience must be >= 1 and --patience-from-epoch >= 0.")
    if args.validation_fraction is not None and args.model != "grey" and not args.dynamic_binarization:
        sys.exit("likelihood.py: --validation-fraction applies to grey data (--dynamic-binarization or grey); "
                 "static MNIST's protocol uses its official validation file.")
    if args.validation_fraction is not None and not 0 <= args.validation_fraction < 1:
        sys.exit("likelihood.py: --validation-fraction must be in [0, 1) (0: no validation split, "
                 "train on every training image).")
    if args.ema_momentum is not None and not 0 < args.ema_momentum < 1:
        sys.exit("likelihood.py: --ema-momentum must be in (0, 1), e.g. 0.999 (leave it out for no averaging).")
    for option in ("warm_start_minutes", "kl_warmup_steps", "dynamic_binarization"):
        if getattr(args, option) and args.model == "grey":
            sys.exit(f"likelihood.py: --{option.replace('_', '-')} applies to the MNIST presets, not grey.")
    if args.likelihoods is not None:
        family = [name for name, _ in GREY_LIKELIHOODS]
        chosen = args.likelihoods.split(",")
        unknown = [name for name in chosen if name not in family]
        if args.model != "grey" or unknown or not args.likelihoods:
            sys.exit(f"likelihood.py: --likelihoods applies to --model grey and takes names from "
                     f"{', '.join(family)}; got {args.likelihoods!r}.")
        args.likelihoods = chosen  # parsed once; grey_likelihoods and run_name read the list
    import keras

    backend = keras.backend.backend()
    pathlib.Path(args.results_dir).mkdir(parents=True, exist_ok=True)
    runner = run_grey if args.model == "grey" else run_table3
    argv = list(sys.argv[1:] if argv is None else argv)
    result, rows = runner(args, backend, argv)
    record = {"model": args.model, "backend": backend, "arguments": vars(args), **environment(backend),
              "command": " ".join(["python", "bench/likelihood.py"] + argv),
              "results": result}
    path = pathlib.Path(args.results_dir) / f"likelihood-{run_name(args)}-{backend}.json"
    path.write_text(json.dumps(record, indent=2))
    if args.model == "grey":
        print("| likelihood | backend | test bits/dim (IS) | test NLL (nats) | epochs | CPU min |")
    else:
        print("| model | protocol | backend | paper test NLL (same protocol and k) | our NLL (IS) "
              "| our −bound (training k) | epochs | CPU min | wall min |")
    print("|" + "---|" * (6 if args.model == "grey" else 9))
    print("\n".join(rows))
    print(f"(written to {path})")


if __name__ == "__main__":
    main()
