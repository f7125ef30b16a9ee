"""What ``compile`` / ``fit`` / ``evaluate`` / ``predict`` add to a Keras model for speed and
for clear data errors: the zoo's defaults per backend, the JAX scan of steps and the PyTorch
traced step, contiguous and padded batches, and the checks of numpy data before Keras sees it.

``zoo.VAE`` takes it as a mixin (``class VAE(Fitting, keras.Model)``); it reads the model's
``data_shape``, ``num_dims``, ``likelihood``, ``data_levels``, ``dynamic_binarization`` and
``train_step`` / ``test_step``, and nothing else of the model's math.
"""

import math
import warnings

import numpy as np
import keras
from keras import ops

import losses
from losses import DataError
from zoo.training.batches import ContiguousBatches, torch_loader
from zoo.training.batches import arrays as _arrays
from zoo.training.callbacks import ProgressBar, StopOnNaN
from zoo.training.distribution import (PaddedBatches, check_batch_size, device_count, pad_batches,
                                       sum_over_replicas)
from zoo.training.jax_cpu_check import check_reductions
from zoo.training.multistep import scanned, steps_per_execution_for
from zoo.training.torch_graph import compiled_predict_function, compiled_test_function, compiled_train_function

#: ``compile``'s default ``steps_per_execution`` by backend (others: Keras' 1). Keras' TensorFlow
#: ``fit`` spends ~1.5–2 ms of Python per call of its compiled step (the iterator's
#: get_next_as_optional, tf.function argument binding), as long as the whole 784-200-200-50
#: VAE step at batch 20; 10 steps per call measured 1.5–1.9× faster (bench/README.md). On JAX
#: the zoo scans the N steps in one jitted call (``zoo.training.multistep``), which Keras does not.
DEFAULT_STEPS_PER_EXECUTION = {"tensorflow": 10, "jax": 10}
#: ``compile``'s default ``jit_compile`` by backend (others: Keras' "auto", XLA on JAX, eager
#: on PyTorch). Keras' "auto" leaves XLA off on a TensorFlow CPU; on the VAE step XLA measured
#: 1.85 against 2.7 ms at batch 128 and 0.77 against 1.3 at batch 20 (bench/README.md).
#: On PyTorch "auto" traces the step into one graph of aten ops after a few eager steps and runs
#: it without torch.compile (``zoo/training/torch_graph.py``): hand-written eager speed, no C++
#: compiler, no ~15 s compile; jit_compile=True adds torch.compile.
DEFAULT_JIT_COMPILE = {"tensorflow": True}
#: ``jit_compile`` values by their command-line spelling (train.py, bench/likelihood.py).
JIT_COMPILE_OPTIONS = {"auto": "auto", "true": True, "false": False}


def with_progress_bar(callbacks, verbose):
    """``callbacks`` as a list, with the zoo's ``ProgressBar`` where Keras would add its own.

    A ``CallbackList`` passes through: that is ``fit`` validating through ``evaluate``."""
    if isinstance(callbacks, keras.callbacks.CallbackList):
        return callbacks
    callbacks = list(callbacks or [])
    if verbose != 0 and not any(isinstance(c, keras.callbacks.ProgbarLogger) for c in callbacks):
        callbacks.append(ProgressBar())
    return callbacks



class ObjectiveMeans(keras.metrics.Metric):
    """Running means of several per-example terms, reported by name.

    One variable and one update per step instead of a ``keras.metrics.Mean`` per term: in
    eager PyTorch each Mean costs a handful of small ops every step.
    """

    def __init__(self, names, name="objective_means", **kwargs):
        super().__init__(name=name, **kwargs)
        self.names = tuple(names)
        self.totals = self.add_variable(shape=(len(self.names),), initializer="zeros", name="totals")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, values, weights=None):
        """``values``: (number of names, batch); ``weights``: (batch,) per example, or None."""
        values = ops.cast(values, self.dtype)
        if weights is None:
            self.totals.assign_add(ops.sum(values, axis=1))
            self.count.assign_add(ops.cast(ops.shape(values)[1], self.dtype))
            return
        weights = ops.cast(weights, self.dtype)
        self.totals.assign_add(ops.sum(values * weights, axis=1))
        self.count.assign_add(ops.sum(weights))

    def result(self):
        means = self.totals / ops.maximum(self.count, 1.0)
        return {name: means[i] for i, name in enumerate(self.names)}

    def get_config(self):
        return {**super().get_config(), "names": list(self.names)}


class Fitting:
    """``compile``, ``fit``, ``evaluate`` and ``predict`` as the zoo runs them (see the module)."""

    def __setattr__(self, name, value):
        # Keras' JAX `fit` stores the whole training state in the model (its `_jax_state`) after every
        # step; Layer.__setattr__ then walks it (thousands of calls) looking for variables to
        # track, none of which it holds: ~0.35 ms a step, ~8% of the 784-200-200-50 VAE's step
        # at batch 128 (bench/README.md). A plain attribute is all `jax_state_sync` needs.
        if name == "_jax_state":  # keras_internals.USED["_jax_state"]
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    # -- input checks, on arrays, before Keras sees them --------------------------------------
    def check_data(self, x, training=False):
        """Raise ``DataError`` naming the problem and the fix if x cannot be modelled.

        ``training``: x is training data, which may be grey under dynamic binarization."""
        x = np.asarray(x)
        if x.ndim == len(self.data_shape) and x.shape == self.data_shape:
            raise DataError(f"{self.name}: got one example of shape {x.shape}; add a batch axis "
                            f"(x[None]).")
        if x.shape[1:] != self.data_shape:
            hint = ""
            if math.prod(x.shape[1:]) == self.num_dims:
                hint = f" Reshape it: x.reshape(-1, {', '.join(map(str, self.data_shape))})."
            raise DataError(f"{self.name}: data of shape {x.shape} does not match the model's "
                            f"input_shape {self.data_shape} (plus a batch axis).{hint}")
        if training and self.dynamic_binarization:
            losses.ContinuousBernoulli(name=f"{self.name} (dynamic_binarization)").check_data(x)
            return
        try:
            self.likelihood.check_data(x)
        except DataError as error:
            if not self.dynamic_binarization:
                raise
            raise DataError(f"{error} With dynamic_binarization, only training data may be grey: "
                            f"binarize validation and test data once, zoo.datasets.binarize(x).") from None
        if self.data_levels is not None and not self.likelihood.is_discrete:
            losses.DiscretizedLogistic(levels=self.data_levels, name=f"data_levels={self.data_levels}") \
                .check_data(x)
        elif np.issubdtype(x.dtype, np.integer) and not self.likelihood.is_discrete:
            # A density on integers is not a bound on anything: say how to make it one.
            warnings.warn(
                f"{self.name}: integer data ({x.dtype}, values {x.min()}…{x.max()}) under the "
                f"continuous likelihood {self.likelihood.name!r} without data_levels: its numbers "
                f"are densities, not bounds on the data's log-probability. Scale level k of L to "
                f"k/(L−1) and pass data_levels=L (8-bit: x / 255, data_levels=256).",
                stacklevel=3)

    def _checked(self, x, training=False):
        if isinstance(x, list) and x and not isinstance(x[0], np.ndarray):
            # Keras would answer "Unrecognized data type" and print the whole list.
            raise DataError(f"{self.name}: got a Python list of {len(x)} items; pass a numpy array "
                            f"(np.asarray(x, 'float32')) or a tf.data / torch DataLoader / generator.")
        if isinstance(x, np.ndarray):
            self.check_data(x, training)

    def compile(self, *args, steps_per_execution=None, jit_compile="auto", **kwargs):
        """Keras' ``compile``; ``steps_per_execution`` defaults to
        ``DEFAULT_STEPS_PER_EXECUTION`` (10 on TensorFlow and JAX, 1 on PyTorch), and on JAX
        ``fit`` on arrays then chooses it from the data: ~1/20 of an epoch per compiled call,
        at least 10 (``zoo.training.multistep.steps_per_execution_for``). With N > 1
        Keras calls batch-level callbacks every N steps, with the logs of the last one: pass
        ``steps_per_execution=1`` for a callback that must see every step. ``jit_compile``
        "auto" is ``DEFAULT_JIT_COMPILE`` (XLA on TensorFlow, too) unless ``run_eagerly``.
        Both are saved as "the default", so a file loads with the loading backend's. On PyTorch
        "auto" runs Keras' eager step for the first ``TRACE_AFTER_STEPS`` steps, then the step
        traced into one graph of aten ops (``zoo/training/torch_graph.py``), as fast as a
        hand-written eager loop; ``jit_compile=True`` compiles that graph with torch.compile
        (~15 s on a CPU, a C++ compiler); ``jit_compile=False`` keeps Keras' eager step. The
        traced steps draw their training noise from torch's default generator
        (``losses.base.random_normal``; ``keras.utils.set_random_seed`` seeds it)."""
        backend = keras.backend.backend()
        # Under a tf.distribute MirroredStrategy Keras' multi-step loop and XLA both fail (a
        # placeholder with no value; XLA's "variable on a different device"): one plain step.
        mirrored = device_count() > 1 and backend == "tensorflow"
        self._default_steps_per_execution = steps_per_execution is None
        if steps_per_execution is None:
            steps_per_execution = 1 if mirrored else DEFAULT_STEPS_PER_EXECUTION.get(backend, 1)
        self._default_jit_compile = jit_compile == "auto"
        if jit_compile == "auto" and not kwargs.get("run_eagerly"):
            jit_compile = False if mirrored else DEFAULT_JIT_COMPILE.get(backend, "auto")
        super().compile(*args, steps_per_execution=steps_per_execution, jit_compile=jit_compile,
                        **kwargs)
        if getattr(self, "optimizer", None) is not None and not self.optimizer.built:
            # Now, not at the first step (the model is built in __init__): a fresh model's
            # optimizer then has the saved one's variables, so `load_weights` restores Adam's
            # state instead of skipping it with a warning, and so does loading an untrained save.
            self.optimizer.build(self.trainable_variables)

    def make_train_function(self, force=False):
        if self.train_function is None or force:
            check_reductions()
            super().make_train_function(force)
            self.train_function = scanned(self, self.train_step, self.train_function)
            self.train_function = compiled_train_function(self, self.train_function)
        return self.train_function

    def make_test_function(self, force=False):
        if self.test_function is None or force:
            check_reductions()
            super().make_test_function(force)
            self.test_function = scanned(self, self.test_step, self.test_function)
            self.test_function = compiled_test_function(self, self.test_function)
        return self.test_function

    def make_predict_function(self, force=False):
        if self.predict_function is None or force:
            check_reductions()
            super().make_predict_function(force)
            self.predict_function = compiled_predict_function(self, self.predict_function)
        return self.predict_function

    def get_compile_config(self):
        config = super().get_compile_config()
        if config and getattr(self, "_default_steps_per_execution", False):
            # Saved as "the loading backend's default": PyTorch refuses N > 1.
            config["steps_per_execution"] = None
        if config and getattr(self, "_default_jit_compile", False):
            # Likewise: JAX's resolved True would mean torch.compile on PyTorch.
            config["jit_compile"] = "auto"
        return config

    def compile_from_config(self, config):
        # Keras' own skips (with a warning) any model whose `compile` is overridden, as ours
        # is (for a default only): a reloaded model would come back uncompiled.
        # (`compile` builds the optimizer, so the saved optimizer state loads.)
        self.compile(**keras.saving.deserialize_keras_object(config))

    def fit(self, x=None, y=None, *args, validation_data=None, callbacks=None, **kwargs):
        self._checked(x, training=True)
        if isinstance(validation_data, (tuple, list)) and validation_data:
            self._checked(validation_data[0])
        elif isinstance(validation_data, np.ndarray):
            self._checked(validation_data)
            validation_data = (validation_data,)
        callbacks = with_progress_bar(callbacks, kwargs.get("verbose", "auto"))
        if not any(isinstance(c, StopOnNaN) for c in callbacks):
            callbacks.append(StopOnNaN())
        self._steps_per_execution_from_data(x, kwargs.get("batch_size"))
        padded = self._padded_batches(x, kwargs.get("batch_size"), kwargs.get("shuffle", True))
        if padded is None and self._contiguous_batches_apply(x, y, kwargs):
            x, y = ContiguousBatches(x, kwargs.pop("batch_size", None) or 32, kwargs.get("shuffle", True)), None
            if keras.backend.backend() == "torch":
                x = torch_loader(x)
            kwargs["shuffle"] = False  # the batches come in their epoch's order
        if padded is not None:
            kwargs.pop("batch_size", None)
            kwargs["shuffle"] = False  # PaddedBatches shuffles the examples, its pad stays last
            x, y = padded, None
            if isinstance(validation_data, (tuple, list)):
                batch_size = kwargs.get("validation_batch_size") or padded.batch_size
                validation_data = self._padded_batches(validation_data[0], batch_size, False) or validation_data
        return super().fit(x, y, *args, validation_data=validation_data, callbacks=callbacks,
                           **kwargs)

    def evaluate(self, x=None, y=None, *args, callbacks=None, **kwargs):
        self._checked(x)
        callbacks = with_progress_bar(callbacks, kwargs.get("verbose", "auto"))
        padded = self._padded_batches(x, kwargs.get("batch_size"), False)
        if padded is not None:
            kwargs.pop("batch_size", None)
            x, y = padded, None
        return super().evaluate(x, y, *args, callbacks=callbacks, **kwargs)

    def predict(self, x, *args, callbacks=None, **kwargs):
        callbacks = with_progress_bar(callbacks, kwargs.get("verbose", "auto"))
        devices = device_count()
        if devices > 1 and _arrays(x) and not args:
            # Every predict batch splits evenly over the devices; the padding is cut off again.
            x, kwargs["batch_size"], real = pad_batches(x, kwargs.get("batch_size") or 32, devices)
            return keras.tree.map_structure(lambda out: out[real], super().predict(x, callbacks=callbacks, **kwargs))
        return super().predict(x, *args, callbacks=callbacks, **kwargs)

    def _steps_per_execution_from_data(self, x, batch_size):
        """On JAX at compile()'s default, ``steps_per_execution`` from the size of ``x``
        (``zoo.training.multistep.steps_per_execution_for``), where the zoo scans the steps."""
        if not (getattr(self, "_default_steps_per_execution", False) and keras.backend.backend() == "jax"
                and device_count() == 1 and _arrays(x)):
            return
        leaves = keras.tree.flatten(x) if isinstance(x, (tuple, list)) else [x]
        example_bytes = sum(max(leaf.itemsize, 4) * int(np.prod(leaf.shape[1:])) for leaf in leaves)
        steps = steps_per_execution_for(len(leaves[0]), batch_size or 32, example_bytes)
        if steps != self.steps_per_execution:
            self.steps_per_execution = steps
            # Keras' step functions and the scan hold the group size: made anew at the next use.
            self.train_function = self.test_function = self.predict_function = None

    @staticmethod
    def _contiguous_batches_apply(x, y, fit_kwargs):
        """Whether ``fit`` feeds ``x`` as ``ContiguousBatches`` (zoo/training/batches.py): on JAX
        and PyTorch, for arrays alone (no targets, weights or split of Keras' to honour)."""
        others = ("sample_weight", "class_weight", "validation_split", "steps_per_epoch")
        return (keras.backend.backend() in ("jax", "torch") and y is None
                and not any(fit_kwargs.get(name) for name in others) and ContiguousBatches.applies(x))

    def _padded_batches(self, x, batch_size, shuffle):
        """Numpy data as ``PaddedBatches`` while batches are split over several devices
        (zoo.training.distribution); None otherwise. Targets are not the VAE's (a conditional
        model's labels travel inside x), so only x is batched."""
        devices = device_count()
        if devices == 1 or not _arrays(x):
            return None
        batch_size = batch_size or 32
        check_batch_size(batch_size, devices)
        return PaddedBatches(x, batch_size, devices, shuffle)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The batch's mean of the per-example loss, weighted by ``sample_weight`` (batch,) if
        given: the mask of a batch padded for data parallelism (zoo.training.distribution)."""
        terms = y_pred if isinstance(y_pred, dict) else self.objective(*self._split_inputs(x, y))
        if training and self.kl_warmup_steps:
            self.training_steps.assign_add(1.0)
        weights = None if sample_weight is None else ops.reshape(ops.cast(sample_weight, terms["loss"].dtype), (-1,))
        # `loss` is tracked here too, per example: Keras' own tracker weighs a batch by its size,
        # padding included; ours, reported under the same name, overrides it.
        self.objective_means.update_state(ops.stack([
            terms["loss"], terms["elbo"], terms["reconstruction"], terms["kl"],
            losses.bits_per_dim(-terms["elbo"], self.num_dims),
        ]), weights)
        if weights is None:
            return ops.mean(terms["loss"])
        # Over a tf.distribute strategy each replica holds part of the batch and their gradients
        # are summed: each divides by the whole batch's weight.
        return ops.sum(weights * terms["loss"]) / ops.maximum(sum_over_replicas(ops.sum(weights)), 1e-12)
