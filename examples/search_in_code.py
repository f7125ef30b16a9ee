"""A KerasTuner search from Python: likelihood × latent size × Huber α, on your own arrays.

    python examples/search_in_code.py
    KERAS_BACKEND=jax python examples/search_in_code.py --quick

Trials are ranked on validation bits/dim of the β = 1 bound on the data's discrete scale
(``tuning.OBJECTIVE``), the one number that compares a Huber trial with a discretized-logistic
one. The test split is scored once, at the end, for the best model only.
"""

import argparse

import numpy as np


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--out", default="examples_output/search_in_code")
    parser.add_argument("--quick", action="store_true", help="3 trials of 2 epochs: about a minute")
    args = parser.parse_args(argv)
    trials, epochs = (3, 2) if args.quick else (args.trials, args.epochs)

    import keras
    import keras_tuner as kt
    from sklearn.datasets import load_digits

    import tuning
    import zoo

    keras.utils.set_random_seed(0)
    x = (load_digits().images / 16.0).astype("float32")[..., None]  # 17 grey levels
    test, valid, train = np.split(x[np.random.default_rng(0).permutation(len(x))], [180, 360])

    # The space: which likelihoods apply to 17-level data, α only where the likelihood is Huber.
    hypermodel = tuning.VAEHyperModel(
        input_shape=x.shape[1:], data_levels=17,
        likelihoods=["huber", "logistic", "discretized_logistic"], huber_alpha=(0.3, 3.0),
        latent_dims=[4, 8, 16], hidden_units=[64, 128], hidden_layers=(1, 2))
    tuner = kt.RandomSearch(hypermodel, objective=tuning.OBJECTIVE, max_trials=trials, seed=0,
                            directory=args.out, project_name="digits", overwrite=True)
    tuner.search(train, validation_data=(valid,), epochs=epochs, batch_size=64, verbose=0)

    print("| likelihood | α | latent | val bits/dim |\n|---|---|---|---|")
    for row in tuning.trial_rows(tuner):
        alpha = f"{row['huber_alpha']:.2f}" if row["huber_alpha"] != "" else "—"
        print(f"| {row['likelihood']} | {alpha} | {row['latent_dim']} | {row['val_bits_per_dim']:.4f} |")

    best = tuner.get_best_models(1)[0]
    log_px = zoo.log_likelihood(best, test, num_samples=50 if args.quick else 1000)
    print(f"best: {tuner.get_best_hyperparameters(1)[0].values}; test {zoo.bits_per_dim(best, log_px):.4f} bits/dim")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
