#!/usr/bin/env python
"""Search likelihood, latent size and Huber α with KerasTuner, ranked on validation bits/dim.

    python tune.py                                         # random search on bundled digits
    python tune.py --tuner bayesian --max-trials 20 --epochs 30 --out search
    python tune.py --likelihoods huber,gaussian --huber-alpha 0.3,3    # narrow the space
    python tune.py --out search                            # run again: resumes, keeps finished trials
    python tune.py --from-preset vampprior_mnist --max-trials 4 --epochs 5   # fine-tuning lr, from trained weights

Distributed (KerasTuner's chief oracle + workers, over gRPC):
    python tune.py --distributed chief  --out shared/search --oracle-ip 10.0.0.1
    python tune.py --distributed worker --out shared/search --oracle-ip 10.0.0.1 --worker-id 1
"""

import argparse
import math
import sys

from train import given_options, run_cli

# tuning.hypermodel.MODELS, without importing Keras for --help.
MODELS = ("mlp", "conv", "two_layer", "hvae", "vampprior_mnist", "mog_prior_mnist", "hvae_vampprior_mnist",
          "planar_mnist", "iaf_mnist")


def build_parser():
    parser = argparse.ArgumentParser(prog="tune.py", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                     epilog="Pick the backend with KERAS_BACKEND=tensorflow|jax|torch.")
    parser.add_argument("--tuner", choices=("random", "bayesian", "hyperband"), default="random")
    parser.add_argument("--max-trials", type=int, default=12, help="trials in all (random, bayesian)")
    parser.add_argument("--epochs", type=int, default=15, help="epochs per trial (hyperband: the most)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--data", default=None, help="as in train.py: digits | binarized-mnist | mnist | fashion-mnist | "
                                                     "PATH.npz (default: digits, or the --from-preset card's protocol)")
    parser.add_argument("--npz-key", default="x")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--max-examples", type=int, default=None, help="cap each split (quick searches)")
    parser.add_argument("--model", default="mlp", choices=MODELS,
                        help="an architecture (its size searched too, but for conv) or a preset of the "
                             "families (its architecture kept; likelihood, latent size and lr searched)")
    parser.add_argument("--likelihoods", default=None, help="comma-separated names to search (default: all that apply)")
    parser.add_argument("--latent-dims", default="2,4,8,16,32", help="comma-separated latent sizes")
    parser.add_argument("--huber-alpha", default="0.1,10", help="low,high of α (log scale); one value fixes it")
    parser.add_argument("--learning-rate", default=None,
                        help="low,high (log scale; default 3e-4,1e-2, or 1e-5,1e-3 to fine-tune --from-preset)")
    parser.add_argument("--from-preset", default=None, metavar="NAME|FOLDER",
                        help="fine-tune a trained preset (zoo.from_preset) in every trial and search only the "
                             "learning rate; its architecture, likelihood and latent size are kept")
    parser.add_argument("--out", default="tuning_run", help="project and results folder; an existing search there resumes")
    parser.add_argument("--overwrite", action="store_true", help="start over instead of resuming")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2))
    parser.add_argument("--distributed", choices=("chief", "worker"), default=None,
                        help="run as KerasTuner's chief oracle or as a worker (see README)")
    parser.add_argument("--worker-id", type=int, default=0)
    parser.add_argument("--oracle-ip", default="127.0.0.1")
    parser.add_argument("--oracle-port", type=int, default=8000)
    return parser


def _numbers(option, text, kind):
    try:
        values = [kind(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"{option} takes comma-separated numbers, got {text!r}.") from None
    if not values:
        raise ValueError(f"{option} is empty; give at least one value.")
    return values


def _range(option, text):
    values = _numbers(option, text, float)
    if len(values) > 2:
        raise ValueError(f"{option} takes low,high or one value, got {text!r}.")
    low, high = values[0], values[-1]
    if not (low > 0 and high > 0 and math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"{option} must be > 0, got {text!r}.")
    return low, high


#: What --from-preset keeps: these options describe the model, which the preset brings.
PRESET_DEFINES = ("model", "likelihoods", "latent_dims", "huber_alpha")


def space_from(args, parser):
    if args.from_preset:
        given = given_options(args, parser, PRESET_DEFINES)
        if given:
            raise ValueError(f"{', '.join(given)}: --from-preset {args.from_preset} keeps the preset's model and searches "
                             f"only the learning rate; drop {'it' if len(given) == 1 else 'them'}.")
        return {"learning_rate": _range("--learning-rate", args.learning_rate or "1e-5,1e-3")}
    space = {"latent_dims": _numbers("--latent-dims", args.latent_dims, int),
             "huber_alpha": _range("--huber-alpha", args.huber_alpha),
             "learning_rate": _range("--learning-rate", args.learning_rate or "3e-4,1e-2")}
    if args.likelihoods is not None:
        space["likelihoods"] = [n.strip().replace("-", "_") for n in args.likelihoods.split(",") if n.strip()]
        if not space["likelihoods"]:
            raise ValueError("--likelihoods is empty; give at least one name.")
    return space


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    return run_cli("tune.py", lambda: run(args, parser), interrupted=lambda: (
        f"run the same command again to resume the search in {args.out}."))


def run(args, parser):
    space = space_from(args, parser)
    import tuning

    tuning.configure_distribution(args.distributed, args.worker_id, args.oracle_ip, args.oracle_port)
    data = args.data if args.data or args.from_preset else "digits"
    result = tuning.search(data=data, from_preset=args.from_preset, tuner=args.tuner, max_trials=args.max_trials,
                           epochs=args.epochs, batch_size=args.batch_size, out=args.out,
                           overwrite=args.overwrite, seed=args.seed, data_dir=args.data_dir,
                           npz_key=args.npz_key, max_examples=args.max_examples,
                           verbose=args.verbose, model=args.model, **space)
    if result.get("role") == "worker":
        print("tune.py: worker finished its trials; the chief writes the results.")
        return 0
    rows = result["rows"]
    print(f"\n{len(rows)} trials; results in {args.out}/: results.csv, results.md, best_model.keras, objective.png")
    for row in rows[:5]:
        alpha = f", α={row['huber_alpha']:.3g}" if row["huber_alpha"] != "" else ""
        score = f"{row['val_bits_per_dim']:.4f}" if row["val_bits_per_dim"] != "" else "—"
        print(f"  {score} bits/dim  {row['likelihood']}{alpha}, latent {row['latent_dim']}  ({row['status']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
