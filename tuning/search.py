"""Run a KerasTuner search over the zoo and write what it found.

Outputs in ``out``: the KerasTuner project (``out/project``, which makes a search
resumable), ``results.csv`` and ``results.md`` (every trial: hyperparameters, objective, wall
time, status), ``best_model.keras`` and ``objective.png`` (objective per likelihood, and
against Huber α).
"""

import csv
import json
import os
import pathlib
import time

import keras
import keras_tuner as kt

from tuning.hypermodel import OBJECTIVE, PresetHyperModel, VAEHyperModel

TUNERS = ("random", "bayesian", "hyperband")
HYPERPARAMETERS = ("likelihood", "huber_alpha", "latent_dim", "learning_rate", "hidden_units", "hidden_layers")
DISTRIBUTED_ROLES = ("chief", "worker")


class TrialTimer(keras.callbacks.Callback):
    """Adds ``trial_wall_time_s`` (time since the trial's fit began) to each epoch's logs,
    so KerasTuner records it with the trial."""

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["trial_wall_time_s"] = time.perf_counter() - self._start


def make_tuner(hypermodel, tuner, out, max_trials, epochs, seed, overwrite):
    common = {"objective": OBJECTIVE, "directory": str(out), "project_name": "project",
              "overwrite": overwrite, "seed": seed, "max_consecutive_failed_trials": 3}
    if tuner == "random":
        return kt.RandomSearch(hypermodel, max_trials=max_trials, **common)
    if tuner == "bayesian":
        return kt.BayesianOptimization(hypermodel, max_trials=max_trials,
                                       num_initial_points=min(3, max_trials), **common)
    if tuner == "hyperband":
        return kt.Hyperband(hypermodel, max_epochs=epochs, factor=3, hyperband_iterations=1, **common)
    raise ValueError(f"unknown tuner {tuner!r}; choose one of {', '.join(TUNERS)}.")


def _reason(error):
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:160]}" if text else type(error).__name__


def resumable_tuner(hypermodel, tuner, out, max_trials, epochs, seed, overwrite):
    """``make_tuner``, reloading the search in ``out/project`` unless ``overwrite``; a damaged
    state file there is a one-line ``ValueError`` naming it, not KerasTuner's traceback."""
    project = pathlib.Path(out) / "project"
    if not overwrite and project.is_dir():
        for state in sorted(project.rglob("*.json")):
            try:
                json.loads(state.read_text())
            except (ValueError, UnicodeDecodeError) as error:
                raise ValueError(f"{state} is damaged ({_reason(error)}), so the search in {out} cannot resume: "
                                 f"run it again with --overwrite to start over, or restore that file.") from None
    try:
        return make_tuner(hypermodel, tuner, out, max_trials, epochs, seed, overwrite)
    except (KeyError, TypeError, ValueError) as error:
        if isinstance(error, ValueError) and "unknown tuner" in str(error):
            raise
        raise ValueError(f"the search state in {project} does not load ({_reason(error)}): it is damaged or from "
                         f"another search; run again with --overwrite to start over.") from error


def configure_distribution(role, worker_id=0, oracle_ip="127.0.0.1", oracle_port=8000):
    """Set KerasTuner's own environment for a chief oracle or a worker (None: one process)."""
    if role is None:
        return
    if role not in DISTRIBUTED_ROLES:
        raise ValueError(f"--distributed must be one of {DISTRIBUTED_ROLES}, got {role!r}.")
    os.environ["KERASTUNER_TUNER_ID"] = "chief" if role == "chief" else f"tuner{worker_id}"
    os.environ["KERASTUNER_ORACLE_IP"] = str(oracle_ip)
    os.environ["KERASTUNER_ORACLE_PORT"] = str(oracle_port)


def search(data="digits", tuner="random", max_trials=10, epochs=20, batch_size=64, out="tuning_run",
           overwrite=False, seed=0, data_dir=None, npz_key="x", max_examples=None, verbose=1,
           model="mlp", from_preset=None, **space):
    """Search likelihood × latent size × Huber α (× lr, size) and write the results; or, with
    ``from_preset``, the learning rate of fine-tuning a trained preset (``PresetHyperModel``).

    Args:
        data, data_dir, npz_key, max_examples: as in ``train.py`` (``zoo.datasets.load``).
        tuner: ``random``, ``bayesian`` or ``hyperband``.
        max_trials: trials in all (a resumed search counts the finished ones).
        epochs: epochs per trial (Hyperband: the most any trial gets).
        out: folder for the project and results; an existing search there is resumed
            unless ``overwrite``.
        space: narrows the search space, see ``VAEHyperModel`` (e.g. ``likelihoods=["huber"]``,
            ``huber_alpha=(0.5, 2.0)``, ``latent_dims=[8]``); with ``from_preset``, only
            ``learning_rate``.
        from_preset: a trained preset's name or folder (``zoo.from_preset``); ``data=None``
            takes the data of the protocol its card records.

    Returns:
        dict with the tuner, the trial rows and the output paths (chief or single process);
        a worker returns after its trials with ``{"role": "worker"}``.
    """
    import zoo

    if tuner not in TUNERS:
        raise ValueError(f"unknown tuner {tuner!r}; choose one of {', '.join(TUNERS)}.")
    for name, value in {"max_trials": max_trials, "epochs": epochs, "batch_size": batch_size}.items():
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
    if from_preset is not None:
        import zoo.evaluate

        if set(space) - {"learning_rate"} or model != "mlp":
            raise ValueError(f"from_preset={from_preset!r} keeps the preset's model; only the learning rate is "
                             f"searched, so drop {', '.join(sorted(set(space) - {'learning_rate'})) or 'model'}.")
        hypermodel = PresetHyperModel(from_preset, **space)
        dataset = zoo.evaluate.preset_data(zoo.trained.preset_metadata(from_preset), data, data_dir,
                                           key=npz_key, seed=seed)
    else:
        dataset = zoo.datasets.load(data, key=npz_key, data_dir=data_dir, seed=seed)
    if max_examples:
        dataset = dataset.limited(max_examples)
    if from_preset is None:
        hypermodel = VAEHyperModel(dataset.shape, dataset.levels, model=model, **space)
    elif tuple(dataset.shape) != tuple(hypermodel.input_shape):
        raise ValueError(f"the preset {from_preset} takes data of shape {hypermodel.input_shape}, and "
                         f"{dataset.name} has {tuple(dataset.shape)}: leave the data out to use the preset's own.")
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(seed)
    search_tuner = resumable_tuner(hypermodel, tuner, out, max_trials, epochs, seed, overwrite)
    search_tuner.search(dataset.x_train, validation_data=(dataset.x_valid,), epochs=epochs,
                        batch_size=batch_size, callbacks=[TrialTimer()], verbose=verbose)
    if os.environ.get("KERASTUNER_TUNER_ID", "chief") != "chief":
        return {"role": "worker"}
    rows = trial_rows(search_tuner)
    paths = write_results(rows, out)
    try:
        best = search_tuner.get_best_models(1)
    except Exception as error:  # noqa: BLE001 - a damaged trial checkpoint
        raise ValueError(f"the best trial's saved weights in {out / 'project'} do not load ({_reason(error)}): the "
                         f"checkpoint is damaged; run the search again with --overwrite.") from error
    if best:
        best[0].save(out / "best_model.keras")
        paths["best_model"] = out / "best_model.keras"
    return {"tuner": search_tuner, "rows": rows, "paths": paths, "dataset": dataset}


def trial_rows(search_tuner):
    """One dict per trial: id, status, hyperparameters (blank when inactive), objective, time."""
    rows = []
    for trial_id, trial in sorted(search_tuner.oracle.trials.items()):
        values = trial.hyperparameters.values
        row = {"trial": trial_id, "status": trial.status}
        for name in HYPERPARAMETERS:
            row[name] = values.get(name, "")
        row["val_bits_per_dim"] = trial.score if trial.score is not None else ""
        row["epochs"] = trial.best_step + 1 if trial.score is not None else ""
        wall = trial.metrics.get_last_value("trial_wall_time_s") \
            if trial.metrics.exists("trial_wall_time_s") else None
        row["wall_time_s"] = round(wall, 1) if wall is not None else ""
        rows.append(row)
    return sorted(rows, key=lambda r: (r["val_bits_per_dim"] == "", r["val_bits_per_dim"] or 0))


def write_results(rows, out):
    columns = ["trial", "status", *HYPERPARAMETERS, "val_bits_per_dim", "epochs", "wall_time_s"]
    with open(out / "results.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)

    def cell(value):
        if isinstance(value, float):
            return f"{value:.4g}"
        return str(value)

    lines = [
        "# Search results",
        "",
        "Ranked by validation bits/dim of the β = 1 bound on the discrete data's scale (lower is "
        "better; comparable across likelihoods). `huber_alpha` is blank where the likelihood is "
        "not Huber.",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
    ]
    lines += ["| " + " | ".join(cell(r[c]) for c in columns) + " |" for r in rows]
    (out / "results.md").write_text("\n".join(lines) + "\n")
    paths = {"results_csv": out / "results.csv", "results_md": out / "results.md"}
    plot = plot_results(rows, out / "objective.png")
    if plot:
        paths["plot"] = plot
    return paths


def plot_results(rows, path):
    """Objective per likelihood (left) and against Huber α (right, log scale); None if no trial scored."""
    figure = objective_figure(rows)
    if figure is None:
        return None
    figure.savefig(path, dpi=100)
    from zoo.plots import pyplot

    pyplot().close(figure)
    return path


def objective_figure(rows):
    """The figure ``plot_results`` saves (matplotlib), or None if no trial scored."""
    scored = [r for r in rows if r["val_bits_per_dim"] != ""]
    if not scored:
        return None
    from matplotlib import ticker

    from zoo.plots import pyplot

    plt = pyplot()
    names = sorted({r["likelihood"] for r in scored})
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for i, name in enumerate(names):
        values = [r["val_bits_per_dim"] for r in scored if r["likelihood"] == name]
        left.scatter([i] * len(values), values, alpha=0.7)
    left.set_xticks(range(len(names)))
    left.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
    left.set_ylabel("validation bits/dim (lower is better)")
    left.set_title("Objective per likelihood")
    huber = [r for r in scored if r["likelihood"] == "huber" and r["huber_alpha"] != ""]
    if huber:
        right.scatter([r["huber_alpha"] for r in huber], [r["val_bits_per_dim"] for r in huber])
        right.set_xscale("log")
        # Labels at 1, 2, 5 per decade as plain numbers: on a range under a decade matplotlib
        # labels its minor ticks too (2×10⁻¹, 3×10⁻¹, …), which ran into each other.
        right.xaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        right.xaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))
        right.xaxis.set_minor_formatter(ticker.NullFormatter())
    else:
        right.text(0.5, 0.5, "no Huber trials", ha="center", va="center", transform=right.transAxes)
    right.set_xlabel("Huber α")
    right.set_title("Huber trials: objective vs α")
    fig.tight_layout()
    return fig
