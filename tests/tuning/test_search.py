"""Searches end to end, with tiny budgets: results, conditional α, comparability, resume,
best model, and a distributed search (chief + two workers on 127.0.0.1)."""

import csv
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import keras

import tuning
from tests.helpers import BACKEND, script
from tests.zoo import test_comparability as known

ROOT = pathlib.Path(__file__).resolve().parents[2]
TINY = {"epochs": 2, "max_examples": 200, "verbose": 0, "latent_dims": [2, 4],
        "hidden_units": [16], "hidden_layers": (1, 1)}


def read_rows(out):
    return list(csv.DictReader((pathlib.Path(out) / "results.csv").open()))


# Each tuner's bookkeeping once; one search on every backend (KerasTuner on TF needs tensorboard).
@pytest.mark.parametrize("tuner", ["random", pytest.param("bayesian", marks=pytest.mark.once),
                                   pytest.param("hyperband", marks=pytest.mark.once)])
def test_small_search_end_to_end(tuner, tmp_path):
    result = tuning.search(tuner=tuner, max_trials=3, out=tmp_path / "s",
                           likelihoods=["huber", "gaussian", "discretized_logistic"], **TINY)
    rows = read_rows(tmp_path / "s")
    # Hyperband sizes its own brackets from max epochs; the others run max_trials.
    assert (len(rows) >= 2 if tuner == "hyperband" else len(rows) == 3)
    assert all(r["status"] == "COMPLETED" for r in rows)
    for row in rows:
        assert np.isfinite(float(row["val_bits_per_dim"])) and float(row["wall_time_s"]) > 0
        assert (row["huber_alpha"] != "") == (row["likelihood"] == "huber")
    scores = [float(r["val_bits_per_dim"]) for r in rows]
    assert scores == sorted(scores)
    for name in ("results.md", "objective.png", "best_model.keras"):
        assert (tmp_path / "s" / name).stat().st_size > 0
    best = keras.saving.load_model(tmp_path / "s" / "best_model.keras")
    assert best.likelihood.name == rows[0]["likelihood"]
    assert result["tuner"].get_best_models(1)[0].count_params() == best.count_params()


@pytest.mark.once  # KerasTuner's bookkeeping; every backend trains in the search above
def test_objective_is_comparable_and_above_the_entropy(tmp_path):
    rng = np.random.default_rng(0)
    x, _ = known.sample(1500, rng)
    np.savez(tmp_path / "known.npz", x=x)
    names = ["discretized_logistic", "gaussian", "huber", "laplace", "logistic", "continuous_bernoulli"]
    result = tuning.search(data=str(tmp_path / "known.npz"), max_trials=len(names),
                           epochs=4, out=tmp_path / "s", verbose=0, likelihoods=names,
                           latent_dims=[2], hidden_units=[16], hidden_layers=(1, 1),
                           learning_rate=(1e-2, 1e-2))
    valid = result["dataset"].x_valid
    k = np.round(valid * (known.LEVELS - 1)).astype(int)
    true_bits = float(-np.log2(known.PMF[k]).sum(1).mean() / known.DIMS)
    rows = read_rows(tmp_path / "s")
    assert len({r["likelihood"] for r in rows}) >= 4, rows
    for row in rows:
        # A bound on the discrete data's code length, whatever the likelihood (small
        # slack: the validation bound is a stochastic estimate on 144 examples).
        assert float(row["val_bits_per_dim"]) >= true_bits - 0.05, row


@pytest.mark.once  # KerasTuner's bookkeeping; every backend trains in the search above
def test_a_killed_search_resumes_and_keeps_finished_trials(tmp_path, capsys):
    out = tmp_path / "s"
    command = [sys.executable, str(ROOT / "tune.py"), "--max-trials", "6", "--epochs", "40",
               "--max-examples", "200", "--latent-dims", "2", "--likelihoods", "huber,gaussian",
               "--out", str(out), "--verbose", "0"]
    env = {**os.environ, "KERAS_BACKEND": BACKEND, "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.time() + 400
    done = []
    while time.time() < deadline and process.poll() is None and not done:
        done = [p for p in out.glob("project/trial_*/trial.json")
                if json.loads(p.read_text() or "{}").get("status") == "COMPLETED"] \
            if out.exists() else []
        time.sleep(0.2)
    assert process.poll() is None, "the search ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished = {p.parent.name: json.loads(p.read_text())["score"] for p in done}

    # The resumed search in this process (tune.main): the kill is the subject, not a second start-up.
    short = command[2:]
    short[short.index("--epochs") + 1] = "2"
    assert script("tune").main(short) == 0, capsys.readouterr().err[-3000:]
    rows = {f"trial_{r['trial']}": r for r in read_rows(out)}
    assert len(rows) == 6 and all(r["status"] == "COMPLETED" for r in rows.values())
    for trial, score in finished.items():  # kept, not re-run
        assert float(rows[trial]["val_bits_per_dim"]) == pytest.approx(score)
        assert rows[trial]["epochs"] != "2" or score is None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.once  # KerasTuner's bookkeeping; every backend trains in the search above
def test_distributed_search_with_a_chief_and_two_workers(tmp_path):
    out = tmp_path / "s"
    port = str(free_port())
    base = [sys.executable, str(ROOT / "tune.py"), "--max-trials", "4", "--epochs", "2",
            "--max-examples", "200", "--latent-dims", "2,4", "--out", str(out), "--verbose", "0",
            "--oracle-port", port]
    env = {**os.environ, "KERAS_BACKEND": BACKEND, "TF_CPP_MIN_LOG_LEVEL": "3"}
    chief = subprocess.Popen(base + ["--distributed", "chief"], env=env, cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(3)
    workers = [subprocess.Popen(base + ["--distributed", "worker", "--worker-id", str(i)], env=env,
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for i in (1, 2)]
    try:
        outputs = [p.communicate(timeout=600) for p in workers + [chief]]
    finally:
        for p in workers + [chief]:
            if p.poll() is None:
                p.kill()
    for process, (stdout, stderr) in zip(workers + [chief], outputs):
        assert process.returncode == 0, stderr[-3000:]
    rows = read_rows(out)
    assert len(rows) == 4 and len({r["trial"] for r in rows}) == 4
    assert all(r["status"] == "COMPLETED" for r in rows)
    ran_by = {json.loads(p.read_text()).get("trial_id") for p in out.glob("project/trial_*/trial.json")}
    assert len(ran_by) == 4


@pytest.mark.once
@pytest.mark.parametrize("alphas", [(0.2, 0.35, 0.6, 0.9, 1.3, 2.2, 3.5, 4.8), (0.11, 0.5, 3.0, 9.5), (1.1, 1.2, 1.4)])
def test_the_objective_plots_alpha_labels_do_not_overlap(alphas):
    from tuning.search import objective_figure

    rows = [{"likelihood": "huber", "huber_alpha": a, "val_bits_per_dim": 2 + a / 10} for a in alphas]
    figure = objective_figure(rows + [{"likelihood": "gaussian", "huber_alpha": "", "val_bits_per_dim": 2.5}])
    figure.canvas.draw()
    right = figure.axes[1]
    boxes = sorted((label.get_window_extent() for label in right.get_xticklabels(minor=False) + right.get_xticklabels(minor=True)
                    if label.get_visible() and label.get_text()), key=lambda box: box.x0)
    assert len(boxes) >= 2
    assert all(a.x1 <= b.x0 for a, b in zip(boxes, boxes[1:])), [(b.x0, b.x1) for b in boxes]


@pytest.mark.once
def test_a_damaged_search_state_names_the_file_and_the_way_out(tmp_path):
    import tuning

    tuning.search(data="digits", max_trials=1, epochs=1, out=str(tmp_path), max_examples=60, verbose=0,
                  likelihoods=["gaussian"], latent_dims=[2], hidden_units=[8], hidden_layers=(1, 1))
    oracle = tmp_path / "project" / "oracle.json"
    oracle.write_text(oracle.read_text()[:40])
    with pytest.raises(ValueError, match=r"oracle.json is damaged .*--overwrite"):
        tuning.search(data="digits", max_trials=2, epochs=1, out=str(tmp_path), max_examples=60, verbose=0,
                      likelihoods=["gaussian"], latent_dims=[2], hidden_units=[8], hidden_layers=(1, 1))


@pytest.mark.once  # KerasTuner's bookkeeping; every backend trains in the search above
def test_a_search_from_a_preset_fine_tunes_its_weights_at_each_learning_rate(tmp_path):
    import zoo

    model = zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=3, hidden=(16,), data_levels=17,
                       likelihood=zoo.factory.make_likelihood(None, 17, None, None, None), seed=5)
    model.compile(optimizer="adam")
    model.fit(zoo.datasets.load("digits").x_train, epochs=3, batch_size=64, verbose=0)
    folder = zoo.save_preset(model, tmp_path / "preset")
    result = tuning.search(from_preset=folder, data="digits", max_trials=2, epochs=1, max_examples=200,
                           verbose=0, out=tmp_path / "s", learning_rate=(1e-5, 1e-4))
    rows = read_rows(tmp_path / "s")
    assert len(rows) == 2 and all(r["status"] == "COMPLETED" for r in rows)
    assert {r["likelihood"] for r in rows} == {model.likelihood.name} and {r["latent_dim"] for r in rows} == {"3"}
    assert all(1e-5 <= float(r["learning_rate"]) <= 1e-4 for r in rows)
    # Each trial started from the preset's weights: one epoch at lr ≤ 1e-4 moves them only a little
    # (a fresh model's are ~0.1 apart), so the best model stays next to the preset.
    best = result["tuner"].get_best_models(1)[0]
    largest = max(float(np.abs(keras.ops.convert_to_numpy(a) - keras.ops.convert_to_numpy(b)).max())
                  for a, b in zip(best.weights, model.weights))
    assert 0 < largest < 0.05, largest


@pytest.mark.once
@pytest.mark.parametrize("arguments, message", [
    (["--latent-dims", "4"], "--latent-dims: --from-preset"),
    (["--likelihoods", "huber", "--model", "conv"], "--model, --likelihoods: --from-preset"),
])
def test_tune_from_a_preset_refuses_options_of_another_model(arguments, message, tmp_path, capsys):
    assert script("tune").main(["--from-preset", "vampprior_mnist", *arguments, "--out", str(tmp_path / "s")]) == 2
    error = capsys.readouterr().err
    assert message in error and len(error.strip().splitlines()) == 1, error
