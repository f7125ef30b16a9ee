"""The zoo's callbacks: the time budget and its learning-rate decay (zoo/callbacks.py)."""

import csv
import re
import time

import numpy as np
import pytest
import keras

import losses
import zoo
from tests.zoo.common import digits


def compiled(lr=1e-3):
    model = zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=3, hidden=(16,))
    model.compile(optimizer=keras.optimizers.Adam(lr))
    return model


def test_time_budget_decays_the_rate_and_stops_before_overrunning(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(time, "perf_counter", lambda: clock[0])
    budget = zoo.TimeBudget(seconds=10, decay_decades=1.0)
    model = compiled()
    budget.set_model(model)
    budget.on_train_begin()
    stopped_after = None
    for epoch in range(10):
        budget.on_epoch_begin(epoch)
        clock[0] += 3.0  # each epoch takes 3 s
        budget.on_epoch_end(epoch)
        if model.stop_training:
            stopped_after = epoch + 1
            break
    assert stopped_after == 3  # at 9 s another 3-s epoch would overrun 10 s
    np.testing.assert_allclose(budget.learning_rates, [1e-3, 1e-3 * 10**-0.3, 1e-3 * 10**-0.6], rtol=1e-5)


def test_a_linear_time_budget_falls_along_a_line(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(time, "perf_counter", lambda: clock[0])
    to_zero = zoo.TimeBudget(seconds=10, decay_decades=float("inf"), decay="linear")
    model = compiled(lr=2e-3)
    to_zero.set_model(model)
    to_zero.on_train_begin()
    for epoch in range(3):
        to_zero.on_epoch_begin(epoch)
        clock[0] += 2.5
    np.testing.assert_allclose(to_zero.learning_rates, [2e-3, 1.5e-3, 1e-3], rtol=1e-5)
    assert to_zero.multiplier(1.0) == 0.0
    to_a_tenth = zoo.TimeBudget(seconds=10, decay_decades=1.0, decay="linear")
    assert [to_a_tenth.multiplier(f) for f in (0.0, 0.5, 1.0)] == pytest.approx([1.0, 0.55, 0.1])


def test_a_warm_up_ramps_the_decayed_rate_over_the_first_epochs(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(time, "perf_counter", lambda: clock[0])
    budget = zoo.TimeBudget(seconds=10, decay_decades=float("inf"), decay="linear", warmup_epochs=2)
    for _ in range(2):  # a second fit warms up again: epochs count from each fit's start
        budget.set_model(compiled(lr=2e-3))
        clock[0] = 0.0
        budget.on_train_begin()
        for epoch in range(4):
            budget.on_epoch_begin(epoch + 7)  # fit's initial_epoch must not shorten the warm-up
            clock[0] += 2.5
    once = [2e-3 * 0.5, 2e-3 * 0.75, 2e-3 * 0.5, 2e-3 * 0.25]  # (i+1)/2 ramp × 1 − t/10
    np.testing.assert_allclose(budget.learning_rates, once + once, rtol=1e-5)
    assert [budget.warmup(i) for i in range(4)] == [0.5, 1.0, 1.0, 1.0]
    flat = zoo.TimeBudget(seconds=10, warmup_epochs=4)  # no decay: the warm-up alone
    assert [flat.warmup(i) * flat.multiplier(0.5) for i in range(5)] == [0.25, 0.5, 0.75, 1.0, 1.0]


def test_a_warm_up_reaches_the_optimizer_in_a_real_fit():
    budget = zoo.TimeBudget(seconds=60, warmup_epochs=4)
    model = compiled(lr=2e-3)
    model.fit(digits(32), epochs=3, batch_size=16, verbose=0, callbacks=[budget])
    np.testing.assert_allclose(budget.learning_rates, [5e-4, 1e-3, 1.5e-3], rtol=1e-5)
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(1.5e-3)


def test_time_budget_ends_a_real_fit():
    budget = zoo.TimeBudget(seconds=1e-3)
    history = compiled().fit(digits(32), epochs=50, verbose=0, callbacks=[budget])
    assert len(history.history["loss"]) == 1 and budget.learning_rates == pytest.approx([1e-3])


@pytest.mark.parametrize("kwargs", [{"seconds": 0}, {"seconds": float("nan")},
                                    {"seconds": 5, "decay_decades": -1},
                                    {"seconds": 5, "decay_decades": float("inf")},  # exponential
                                    {"seconds": 5, "decay": "cosine"},
                                    {"seconds": 5, "warmup_epochs": -1}, {"seconds": 5, "warmup_epochs": 2.5},
                                    {"seconds": 5, "warmup_epochs": True}])
def test_time_budget_refuses_bad_values(kwargs):
    with pytest.raises(ValueError, match="TimeBudget"):
        zoo.TimeBudget(**kwargs)


@pytest.mark.parametrize("make", [zoo.StopOnNaN, lambda: zoo.BackupAndRestore("unused-backup-dir")],
                         ids=["StopOnNaN", "BackupAndRestore"])
def test_the_zoo_callbacks_keep_batch_end_dispatch_asynchronous(make):
    # A callback with a batch-end hook that is not `async_safe` makes Keras read the logs after
    # every step on the training thread (a device sync, ~15% of fit's speed on JAX).
    # `_async_train` is Keras' own (private) switch for it; it stays off where the backend is
    # not thread-safe (TensorFlow). StopOnNaN checks on the training thread on PyTorch, where
    # reading the finished step's loss is free and the hand-off to the thread is not.
    callback = make()
    callbacks = keras.callbacks.CallbackList([callback], model=compiled())
    synchronous = isinstance(callback, zoo.StopOnNaN) and keras.backend.backend() == "torch"
    assert callbacks._async_train == (keras.src.backend.IS_THREAD_SAFE and not synchronous)


def test_a_per_step_checkpoint_is_not_dispatched_asynchronously(tmp_path):
    assert not zoo.BackupAndRestore(tmp_path, save_freq=10).async_safe


def test_a_nan_loss_is_caught_by_the_batch_check():
    # Found by the batch-end check (in Keras' callback thread on JAX and PyTorch, which may
    # trail the training loop by a few batches), not only at the epoch's end.
    model = zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=3, hidden=(16,),
                       likelihood=losses.Gaussian(scale=1e-30))
    model.compile(optimizer="adam")
    # TensorFlow runs 10 steps per execution by default: "in batches 0–9".
    with pytest.raises(FloatingPointError, match=r"(at batch \d+|in batches \d+–\d+);"):
        model.fit(digits(256), batch_size=8, epochs=1, verbose=0)


@pytest.mark.parametrize("group, batch, where", [
    (1, 7, "at batch 7"),
    (10, 19, "in batches 10–19"),
    (10, 29, "at batch 20"),  # the last, partial group of a 21-step epoch, reported as step 29
])
def test_the_nan_message_names_the_steps_of_an_execution_group(group, batch, where):
    callback = zoo.StopOnNaN()
    model = compiled()
    model.steps_per_execution = group
    callback.set_model(model)
    callback.set_params({"steps": 21})
    callback.on_train_begin()
    with pytest.raises(FloatingPointError, match=f"became nan {where};"):
        callback.on_train_batch_end(batch, {"loss": float("nan")})
    assert model.stop_training


@pytest.mark.skipif(keras.backend.backend() == "torch",
                    reason="Keras' PyTorch trainer refuses steps_per_execution > 1, so it has no groups")
def test_the_progress_bar_never_counts_past_the_epochs_steps(capsys):
    # 21 steps in groups of 10: Keras' own bar showed 30/21 (keras-team/keras#20861).
    model = zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=2, hidden=(8,))
    model.compile(optimizer="adam", steps_per_execution=10)
    model.fit(digits(21 * 4), batch_size=4, epochs=1, verbose=1)
    shown = re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().out)  # without the bar's colours
    counts = [(int(seen), int(total)) for seen, total in re.findall(r"(\d+)/(\d+)", shown)]
    assert counts and all(seen <= total for seen, total in counts), counts
    assert (21, 21) in counts


def test_a_resumed_run_logs_each_epoch_once(tmp_path):
    # A run killed after logging epoch 3 whose newest checkpoint is from epoch 2 (killed before
    # that epoch's checkpoint, or the one being written was damaged): resumed, it redoes epoch 3,
    # and history.csv must not list it twice. Cut rows (a kill mid-write) go too.
    history = tmp_path / "history.csv"
    history.write_text("epoch,loss\n0,5.0\n1,4.0\n2,3.0\n3,2.5\n4,2.")
    logger = zoo.HistoryCSV(history)
    logger.set_model(compiled())
    logger.on_train_begin()
    logger.on_epoch_begin(3)  # the first epoch of the resumed fit
    logger.on_epoch_end(3, {"loss": 2.4})
    logger.on_epoch_begin(4)
    logger.on_epoch_end(4, {"loss": 2.3})
    logger.on_train_end()
    rows = list(csv.DictReader(history.open()))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2, 3, 4] and rows[3]["loss"] == "2.4"


class KillAfterEpoch(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt  # a kill at the moment the checkpoint would be written


@pytest.mark.parametrize("kill_before_checkpoint", [True, False])
def test_history_listed_before_the_checkpoint_loses_no_epoch_to_a_kill(tmp_path, kill_before_checkpoint):
    # train.py's order: history, then checkpoint. A kill between the two (here, or just after
    # the checkpoint) must leave history.csv with every epoch once after the resume; with the
    # checkpoint first, a kill between them lost the epoch's row (CI, JAX: [0, 1, 2, 4]).
    x = digits(32)
    history, backup = tmp_path / "history.csv", tmp_path / "backup"

    def fit(epochs, kill=None):
        callbacks = [zoo.HistoryCSV(history), zoo.BackupAndRestore(backup)]
        if kill is not None:
            callbacks.insert(1 if kill_before_checkpoint else 2, KillAfterEpoch(kill))
        compiled().fit(x, batch_size=16, epochs=epochs, callbacks=callbacks, verbose=0)

    with pytest.raises(KeyboardInterrupt):
        fit(5, kill=2)
    logged = [int(r["epoch"]) for r in csv.DictReader(history.open())]
    assert logged == [0, 1, 2]
    fit(5)
    assert [int(r["epoch"]) for r in csv.DictReader(history.open())] == [0, 1, 2, 3, 4]


class Scores(keras.callbacks.Callback):
    """Puts a given validation score in the epoch's logs, and records the weights at each epoch's end."""

    def __init__(self, scores):
        super().__init__()
        self.scores, self.weights = scores, {}

    def on_epoch_end(self, epoch, logs=None):
        logs["score"] = self.scores[epoch]
        self.weights[epoch] = self.model.get_weights()


@pytest.mark.parametrize("kill_before_checkpoint", [True, False])
def test_early_stopping_keeps_its_best_epoch_through_a_kill(tmp_path, kill_before_checkpoint):
    # Best at epoch 1, killed at epoch 3, resumed: Keras' EarlyStopping forgot epoch 1 and
    # restored epoch 4's weights (the best since the resume), and counted patience afresh.
    # Resumed, this one stops where an unbroken run stops and restores epoch 1's weights.
    scores = [5.0, 1.0, 4.0, 3.0, 2.0, 6.0, 7.0, 8.0]
    x = digits(32)

    def fit(folder, kill=None):
        recorder = Scores(scores)
        stopping = zoo.ResumableEarlyStopping(folder / "stopping", monitor="score", mode="min", patience=4,
                                              restore_best_weights=True)
        callbacks = [recorder, stopping, zoo.BackupAndRestore(folder / "backup")]
        if kill is not None:
            callbacks.insert(2 if kill_before_checkpoint else 3, KillAfterEpoch(kill))
        keras.utils.set_random_seed(0)
        model = compiled()
        model.fit(x, batch_size=16, epochs=len(scores), callbacks=callbacks, verbose=0)
        return model, recorder, stopping

    unbroken, recorded, stopping = fit(tmp_path / "unbroken")
    assert (stopping.best_epoch, stopping.stopped_epoch) == (1, 5)
    for value, expected in zip(unbroken.get_weights(), recorded.weights[1]):
        np.testing.assert_array_equal(value, expected)

    with pytest.raises(KeyboardInterrupt):
        fit(tmp_path / "killed", kill=3)
    state = (tmp_path / "killed" / "stopping" / "state.json").read_text()
    assert '"best_epoch": 1' in state
    resumed, recorder, stopping = fit(tmp_path / "killed")
    assert min(recorder.weights) == (3 if kill_before_checkpoint else 4)  # the epoch resumed at
    assert (stopping.best_epoch, stopping.best, stopping.stopped_epoch) == (1, 1.0, 5)
    best = np.load(tmp_path / "killed" / "stopping" / "best.weights.npz")
    for i, value in enumerate(resumed.get_weights()):
        np.testing.assert_array_equal(value, best[f"arr_{i}"])


def test_a_resumed_time_budget_goes_on_from_the_time_used(monkeypatch, tmp_path):
    # Killed after epoch 2 of a 10-s budget at 2.5 s an epoch, with epoch 2 past the checkpoint:
    # the resumed fit starts at epoch 2, drops that epoch's row and goes on from 5 s used, at the
    # schedule's rate there from the run's first lr (not the checkpoint's decayed one), the
    # warm-up over; it stops when another epoch would overrun. Then 20 s continue the finished run.
    clock = [0.0]
    monkeypatch.setattr(time, "perf_counter", lambda: clock[0])
    state = tmp_path / "budget.json"

    def run(seconds, lr, epochs, first_epoch):
        budget = zoo.TimeBudget(seconds=seconds, decay_decades=float("inf"), decay="linear", warmup_epochs=2,
                                state_file=state)
        model = compiled(lr=lr)
        budget.set_model(model)
        budget.on_train_begin()
        for epoch in range(first_epoch, first_epoch + epochs):
            budget.on_epoch_begin(epoch)
            clock[0] += 2.5
            budget.on_epoch_end(epoch, {"val_elbo": -float(epoch)})
            if model.stop_training:
                break
        return budget

    first = run(10, 2e-3, 3, 0)
    np.testing.assert_allclose(first.learning_rates, [1e-3, 2e-3 * 0.75, 2e-3 * 0.5], rtol=1e-5)
    clock[0] = 100.0  # another process, later
    resumed = run(10, 4e-4, 8, 2)
    np.testing.assert_allclose(resumed.learning_rates, [2e-3 * 0.5, 2e-3 * 0.25], rtol=1e-5)
    assert [row["epoch"] for row in resumed.rows] == [0, 1, 2, 3]
    assert [row["val_elbo"] for row in resumed.rows] == [0.0, -1.0, -2.0, -3.0]
    assert resumed.elapsed == pytest.approx(10.0) and resumed.rows[-1]["elapsed"] == pytest.approx(10.0)
    longer = run(20, 1e-5, 8, 4)
    np.testing.assert_allclose(longer.learning_rates[0], 2e-3 * 0.5, rtol=1e-5)
    assert [row["epoch"] for row in longer.rows][:5] == [0, 1, 2, 3, 4] and longer.rows[-1]["elapsed"] <= 20
