"""Callbacks the zoo adds to ``fit``: stop on a NaN loss with a reason; time epochs."""

import math
import time

import keras


class StopOnNaN(keras.callbacks.Callback):
    """Stop training at a non-finite loss, and say what usually causes it.

    Checked every ``every`` batches and at each epoch's end, not every batch: reading the
    loss forces a device sync each step, which costs ~10% of throughput on JAX. A NaN
    poisons every later loss (and the epoch mean), so it is still caught.
    """

    def __init__(self, every=50):
        super().__init__()
        self.every = every

    def _check(self, loss, where):
        if loss is not None and not math.isfinite(float(loss)):
            self.model.stop_training = True
            raise FloatingPointError(
                f"The loss became {float(loss)} {where}; training stopped. Likely causes: "
                f"a learning rate too high for this likelihood (try a 10× smaller one), data with "
                f"NaN/inf or outside the likelihood's support, or a fixed σ far too small."
            )

    def on_train_batch_end(self, batch, logs=None):
        if batch % self.every == 0:
            self._check((logs or {}).get("loss"), f"at batch {batch}")

    def on_epoch_end(self, epoch, logs=None):
        self._check((logs or {}).get("loss"), f"in epoch {epoch + 1}")


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
