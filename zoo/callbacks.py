"""Callbacks the zoo adds to ``fit``: stop on a NaN loss with a reason; time epochs."""

import math
import time

import keras


class StopOnNaN(keras.callbacks.Callback):
    """Stop training at the first non-finite loss, and say what usually causes it."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.model.stop_training = True
            raise FloatingPointError(
                f"The loss became {float(loss)} at batch {batch}; training stopped. Likely causes: "
                f"a learning rate too high for this likelihood (try a 10× smaller one), data with "
                f"NaN/inf or outside the likelihood's support, or a fixed σ far too small."
            )


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
