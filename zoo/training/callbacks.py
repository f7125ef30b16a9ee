"""Callbacks the zoo adds to ``fit``: stop on a NaN loss with a reason; time epochs; a time budget;
a run's history and early stopping that outlive a kill."""

import json
import math
import os
import pathlib
import time

import numpy as np

import keras

from losses.base import check_integer, check_non_negative, check_positive


class StopOnNaN(keras.callbacks.Callback):
    """Stop training at a non-finite loss, and say what usually causes it.

    Checked after every batch, off the training thread on JAX: ``async_safe`` lets Keras run
    batch-end callbacks in a worker thread. A callback with a batch-end hook and without it
    turns that off for the whole list, and Keras then reads the logs after each step on the
    training thread — a device sync that cost ~15% of ``fit``'s throughput on JAX
    (bench/README.md). The error raised in the worker reaches ``fit`` at the next batch. On
    PyTorch the step has finished when it returns, so reading its loss costs nothing, while
    handing each batch to the worker thread cost ~0.06 ms a step (of ~3.7 ms at batch 128).
    """

    _group = 1  # steps per execution, read once at the start of training

    @property
    def async_safe(self):
        return keras.backend.backend() != "torch"

    def on_train_begin(self, logs=None):
        # Read here, on the training thread: on JAX `self.model` syncs the training state, which
        # the batch-end hook (in Keras' callback thread) must not do.
        self._group = getattr(self.model, "steps_per_execution", 1) or 1

    def _check(self, loss, batch=None, epoch=None):
        if loss is None or math.isfinite(float(loss)):
            return
        self.model.stop_training = True
        where = f"in epoch {epoch + 1}" if epoch is not None else self._where(batch)
        raise FloatingPointError(
            f"The loss became {float(loss)} {where}; training stopped. Likely causes: "
            f"a learning rate too high for this likelihood (try a 10× smaller one), data with "
            f"NaN/inf or outside the likelihood's support, or a fixed σ far too small."
        )

    def _where(self, batch):
        # With steps_per_execution = n, Keras reports a group of n steps by its last index,
        # unclipped past the epoch's end (keras-team/keras#20861): name the steps it covers.
        steps = (self.params or {}).get("steps")
        first = max(0, batch - self._group + 1)
        last = batch if steps is None else min(batch, steps - 1)
        return f"at batch {last}" if first >= last else f"in batches {first}–{last}"

    def on_train_batch_end(self, batch, logs=None):
        self._check((logs or {}).get("loss"), batch=batch)

    def on_epoch_end(self, epoch, logs=None):
        self._check((logs or {}).get("loss"), epoch=epoch)


class EpochTimer(keras.callbacks.Callback):
    """Wall time of each epoch, so throughput can leave out the first (compiling) one."""

    def __init__(self):
        super().__init__()
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self._start)

    @property
    def total(self):
        return sum(self.times)

    def examples_per_second(self, examples_per_epoch):
        steady = self.times[1:] or self.times
        return examples_per_epoch * len(steady) / max(sum(steady), 1e-9)


def _write_atomically(path, write):
    """``write(partial_path)``, then rename it to ``path``: a kill leaves the old file or the new."""
    partial = path.with_name(path.name + ".partial")
    write(partial)
    os.replace(partial, path)


def save_weight_list(path, weights):
    """A list of arrays (``model.get_weights()``) to ``path`` as ``.npz``, written beside and renamed."""
    def write(partial):
        with open(partial, "wb") as handle:  # a handle: np.savez would append .npz to a name
            np.savez(handle, *weights)
    _write_atomically(pathlib.Path(path), write)


def load_weight_list(path):
    """The list ``save_weight_list`` wrote, in order."""
    with np.load(path) as stored:
        return [stored[f"arr_{i}"] for i in range(len(stored.files))]


class TimeBudget(keras.callbacks.Callback):
    """Train for a wall-clock budget, with the learning rate decaying over that budget.

    Stops at an epoch's end when another epoch as long as it would overrun ``seconds``. At each
    epoch's start the learning rate is lr₀ times ``multiplier(t/T)``, t the time used, T the
    budget, falling ``10^decay_decades``-fold over the budget (``decay_decades=0`` keeps lr₀):

    - ``decay="exponential"``: 10^(−d·t/T), the IWAE paper's 10× decay over 3,280 epochs
      compressed into whatever a given machine can do in T.
    - ``decay="linear"``: 1 − (1 − 10^(−d))·t/T, a straight line; ``decay_decades=math.inf``
      ends at zero: the linear decay that matched or beat the usual schedules, cosine
      annealing included, across the problems of Defazio et al. 2023 ("When, why and how much?
      Adaptive learning rate scheduling by refinement").

    ``warmup_epochs=n`` multiplies that by a linear warm-up over the fit's first n epochs,
    epoch i (from 0) at (i + 1)/n: Goyal et al. 2017's gradual warm-up, which Liu et al. 2020
    (RAdam) trace, for Adam, to its high-variance early second-moment estimates. Per epoch, not
    per step, as the decay: a rate a callback sets reaches JAX's compiled step at epoch starts.

    ``state_file`` (a JSON path) makes the budget outlive a kill: each epoch's end writes the
    time used by then (wall and CPU seconds), its rate and its logs there, and a fit resumed by
    ``BackupAndRestore`` goes on from the time its earlier epochs used, at the rate the schedule
    gives there (lr₀ is the run's first, not the checkpoint's decayed one). Epochs the file has
    from the resumed fit's first on are dropped, as ``HistoryCSV`` drops its rows: list it
    before ``BackupAndRestore``. ``rows`` are then the whole run's epochs; a longer ``seconds``
    than the run had continues a finished run along the longer schedule.
    """

    DECAYS = ("exponential", "linear")

    def __init__(self, seconds, decay_decades=0.0, decay="exponential", warmup_epochs=0, state_file=None):
        super().__init__()
        self.seconds = check_positive("seconds", seconds, "TimeBudget")
        if decay not in self.DECAYS:
            raise ValueError(f"TimeBudget: `decay` must be one of {self.DECAYS}, got {decay!r}.")
        self.decay = decay
        if decay_decades == math.inf:  # a decay to zero, which only the straight line reaches
            if decay != "linear":
                raise ValueError("TimeBudget: decay_decades=inf (a decay to zero) needs decay='linear'; "
                                 "an exponential decay never reaches zero.")
            self.decay_decades = math.inf
        else:
            self.decay_decades = check_non_negative("decay_decades", decay_decades, "TimeBudget")
        self.warmup_epochs = check_integer("warmup_epochs", warmup_epochs, "TimeBudget", minimum=0)
        self.state_file = None if state_file is None else pathlib.Path(state_file)
        self.learning_rates = []
        self.rows = []  # each epoch's time used, rate and logs; with a state file, a resumed run's earlier ones too
        self.resumed_after = 0  # epochs the run had before this fit

    def multiplier(self, fraction):
        """lr / lr₀ after ``fraction`` (0–1) of the budget."""
        fraction = min(1.0, max(0.0, fraction))
        if self.decay == "linear":
            return 1.0 - (1.0 - 10.0 ** -self.decay_decades) * fraction
        return 10.0 ** (-self.decay_decades * fraction)

    def warmup(self, epoch):
        """The warm-up's factor on the decayed rate in the ``epoch``-th epoch (from 0) of the fit."""
        return min(1.0, (epoch + 1) / self.warmup_epochs) if self.warmup_epochs else 1.0

    def on_train_begin(self, logs=None):
        self.rows, self.resumed_after = [], 0
        self._start, self._cpu_start = time.perf_counter(), time.process_time()
        self._before = {"elapsed": 0.0, "cpu": 0.0}  # used before a resume
        self._epochs_begun = 0  # counted here, not from `epoch`, which starts at fit's initial_epoch
        self._initial_lr = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        self._resumed = self.state_file is None

    def _resume(self, first_epoch):
        """At a fit's first epoch: the run's earlier epochs from the state file, up to this one."""
        self._resumed = True
        if not self.state_file.exists():
            return
        state = json.loads(self.state_file.read_text())
        self.rows = [row for row in state["rows"] if row["epoch"] < first_epoch]
        if self.rows:
            self._before = {key: self.rows[-1][key] for key in ("elapsed", "cpu")}
            self._epochs_begun = self.resumed_after = len(self.rows)
            self._initial_lr = state["initial_lr"]

    @property
    def elapsed(self):
        """Seconds of the budget used, those before a resume included."""
        return self._before["elapsed"] + time.perf_counter() - self._start

    @property
    def cpu_seconds(self):
        """CPU seconds of this process (all its threads) while training, those before a resume included."""
        return self._before["cpu"] + time.process_time() - self._cpu_start

    def on_epoch_begin(self, epoch, logs=None):
        if not self._resumed:
            self._resume(epoch)
        self._epoch_start = time.perf_counter()
        if self.decay_decades or self.warmup_epochs:
            self.model.optimizer.learning_rate = (self._initial_lr * self.warmup(self._epochs_begun)
                                                  * self.multiplier(self.elapsed / self.seconds))
        self._epochs_begun += 1
        self.learning_rates.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))

    def on_epoch_end(self, epoch, logs=None):
        self.rows.append({"epoch": epoch, "elapsed": self.elapsed, "cpu": self.cpu_seconds,
                          "lr": self.learning_rates[-1],
                          **{key: float(value) for key, value in (logs or {}).items()}})
        if self.state_file is not None:
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
            _write_atomically(self.state_file, lambda path: path.write_text(json.dumps(
                {"initial_lr": self._initial_lr, "rows": self.rows})))
        # The last epoch's time predicts the next one's (the first also holds compilation).
        if self.elapsed + (time.perf_counter() - self._epoch_start) > self.seconds:
            self.model.stop_training = True


class ProgressBar(keras.callbacks.ProgbarLogger):
    """Keras' progress bar, its count kept within the epoch's steps.

    With ``steps_per_execution`` = n Keras reports each group of n steps by its last index,
    unclipped past the epoch's end (keras-team/keras#20861): 21 steps in groups of 10 showed
    "30/21". ``zoo.VAE`` uses this bar in place of Keras' own.
    """

    # Keras dispatches its own bar's batch-end updates off the training thread (it is added to
    # the callback list after the async check); so may this one, or fit would sync every step.
    async_safe = True

    def _clipped(self, batch):
        return batch if self.target is None else min(batch, self.target - 1)

    def on_train_batch_end(self, batch, logs=None):
        super().on_train_batch_end(self._clipped(batch), logs)

    def on_test_batch_end(self, batch, logs=None):
        super().on_test_batch_end(self._clipped(batch), logs)

    def on_predict_batch_end(self, batch, logs=None):
        super().on_predict_batch_end(self._clipped(batch), logs)


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """Keras' ``EarlyStopping``, whose state outlives a kill: for fits resumed by ``BackupAndRestore``.

    ``BackupAndRestore`` brings back the weights, the optimizer and the epoch, not early
    stopping's best score, its epoch, the patience used or the best weights: a resumed fit
    forgot every epoch before the kill, and restored the best epoch *since* it. This one keeps
    them in ``state_dir`` (``state.json`` at every epoch's end, ``best.weights.npz`` when the
    score improves; each written beside and renamed) and reads them back at the resumed fit's
    first epoch, the patience used recounted from the best epoch to the one the fit resumes
    after. List it *before* ``BackupAndRestore``, as ``HistoryCSV``: a kill between the two then
    leaves its state one epoch ahead of the checkpoint (that epoch runs again), never behind it.
    Other arguments are ``EarlyStopping``'s.
    """

    def __init__(self, state_dir, **kwargs):
        super().__init__(**kwargs)
        self.state_dir = pathlib.Path(state_dir)

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self._restored = False

    def on_epoch_begin(self, epoch, logs=None):
        if not self._restored:  # here, not at train begin: `epoch` is the resumed fit's first
            self._restore(epoch)
            self._restored = True

    def _restore(self, first_epoch):
        path = self.state_dir / "state.json"
        if not path.exists():
            return
        state = json.loads(path.read_text())
        if state.get("best") is None:
            return
        self.best, self.best_epoch = state["best"], state["best_epoch"]
        # Keras counts patience from the best epoch (or from start_from_epoch, before which it waits).
        self.wait = max(0, first_epoch - 1 - max(self.best_epoch, self.start_from_epoch - 1))
        weights = self.state_dir / "best.weights.npz"
        if self.restore_best_weights and weights.exists():
            self.best_weights = load_weight_list(weights)

    def on_epoch_end(self, epoch, logs=None):
        before = self.best_weights
        super().on_epoch_end(epoch, logs)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if self.best_weights is not None and self.best_weights is not before:
            save_weight_list(self.state_dir / "best.weights.npz", self.best_weights)
        best = None if self.best is None else float(self.best)
        _write_atomically(self.state_dir / "state.json", lambda path: path.write_text(json.dumps(
            {"best": best, "best_epoch": self.best_epoch, "wait": self.wait, "epoch": epoch})))


class HistoryCSV(keras.callbacks.CSVLogger):
    """Keras' ``CSVLogger`` appending to a run's history, without losing or repeating epochs on resume.

    List it *before* ``BackupAndRestore``: Keras calls ``on_epoch_end`` in list order, so an
    epoch's row is written before its checkpoint, and a run killed between the two has logged
    one epoch more than it saved, never one less (after the checkpoint, it lost a row: seen in
    CI). A resumed fit starts at the epoch after its checkpoint; at that first epoch, rows the
    file already has from there on — written before a kill, or after a checkpoint that was
    damaged and fell back to the previous one — are dropped, so every epoch appears once. The
    file is opened then, not at ``on_train_begin``, when the checkpoint may not be read yet.
    """

    def __init__(self, filename, separator=","):
        super().__init__(str(filename), separator=separator, append=True)

    def on_train_begin(self, logs=None):
        self._opened = False

    def on_epoch_begin(self, epoch, logs=None):
        if self._opened:
            return
        self._drop_rows_from(epoch)
        super().on_train_begin(logs)
        self._opened = True

    def _drop_rows_from(self, first):
        import csv
        import os

        if not os.path.exists(self.filename):
            return
        with open(self.filename, newline="") as handle:
            rows = list(csv.reader(handle, delimiter=self.sep))
        if rows and "epoch" in rows[0]:
            column = rows[0].index("epoch")
            kept = [rows[0]] + [r for r in rows[1:] if len(r) == len(rows[0]) and r[column].isdigit()
                                and int(r[column]) < first]
            if len(kept) != len(rows):
                with open(self.filename, "w", newline="") as handle:
                    csv.writer(handle, delimiter=self.sep).writerows(kept)

    def on_train_end(self, logs=None):
        if self._opened:
            super().on_train_end(logs)
