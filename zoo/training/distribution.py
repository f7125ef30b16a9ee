"""Data parallelism on any data size and batch size.

JAX: Keras' own ``keras.distribution.DataParallel`` replicates every variable on all local
devices and splits each batch across them. Call ``data_parallel()`` before building the model;
models, likelihoods and metrics do not change (the loss is still a per-example mean over the
global batch). Several hosts: call ``keras.distribution.initialize()`` first on each (docs/scaling.md).

A sharded batch must split evenly over the devices, and users' data and batch sizes are not
chosen to: 359 test images on 2 devices crashed evaluation. So ``zoo.VAE`` feeds numpy data
through ``PaddedBatches`` while a distribution is active: each batch is padded to a multiple
of the device count with copies of its last example, weighted 0 (``sample_weight``), so the
loss, the gradient and every metric are those of the real examples, and since random draws are
example-major (``zoo.posteriors.example_major_normal``) the real examples see the same noise as
on one device: the numbers equal the single-device ones to float round-off.

TensorFlow: ``tf.distribute.MirroredStrategy`` (its own uneven-batch handling), entered for the
rest of the process by ``data_parallel()``; build the model after it. ``single_device()``
undoes either.
"""

import math

import numpy as np
import keras

from zoo.training.batches import ArrayBatches


_ENTERED = []  # the MirroredStrategy scope data_parallel() entered on TensorFlow
_TF_REPLICAS = []  # how many devices this process's MirroredStrategy used (one count per process)


def _tf_strategy():
    """The active ``tf.distribute`` strategy with several replicas, or None."""
    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    strategy = tf.distribute.get_strategy() if tf.distribute.has_strategy() else None
    return strategy if strategy is not None and strategy.num_replicas_in_sync > 1 else None


def device_count():
    """How many devices each batch is split over: an active ``keras.distribution``'s (JAX) or
    ``tf.distribute`` strategy's replicas (TensorFlow); 1 without one."""
    distribution = keras.distribution.distribution()
    if distribution is not None:
        mesh = distribution.device_mesh
        return int(mesh.shape[mesh.axis_names.index(distribution.batch_dim_name)])
    strategy = _tf_strategy()
    return strategy.num_replicas_in_sync if strategy is not None else 1


def sum_over_replicas(value):
    """``value`` summed over a ``tf.distribute`` strategy's replicas (each sees its share of the
    batch); unchanged elsewhere (JAX's sharded arrays are already the whole batch)."""
    if keras.backend.backend() != "tensorflow":
        return value
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return value
    return context.all_reduce(tf.distribute.ReduceOp.SUM, value)


def data_parallel(devices=None):
    """Split each batch over ``devices`` (default: all local ones); returns the device count.

    JAX: sets Keras' ``DataParallel`` distribution. TensorFlow: enters a ``MirroredStrategy``
    scope for the rest of the process (models built after it are mirrored). PyTorch: an error
    naming the alternatives. A second call replaces the first (on TensorFlow only with as many
    devices: its collectives' group keys are per process); ``single_device()`` undoes it.
    """
    backend = keras.backend.backend()
    if backend == "jax":
        devices = devices or keras.distribution.list_devices()
        single_device()
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
        return len(devices)
    if backend == "tensorflow":
        import tensorflow as tf

        devices = devices or [d.name for d in tf.config.list_logical_devices("GPU")] or \
            [d.name for d in tf.config.list_logical_devices("CPU")]
        if _TF_REPLICAS and len(devices) != _TF_REPLICAS[0]:
            # TensorFlow would fail at the first all-reduce ("joining a group with size 3, but
            # that group has size 2"): its collectives remember a group's size per process.
            raise ValueError(f"this process already ran data parallel over {_TF_REPLICAS[0]} devices, and "
                             f"TensorFlow cannot then mirror over {len(devices)}: use {_TF_REPLICAS[0]} "
                             f"again, or a new process for {len(devices)}.")
        _TF_REPLICAS[:] = [len(devices)]
        single_device()
        strategy = tf.distribute.MirroredStrategy(devices)
        scope = strategy.scope()
        scope.__enter__()  # for the rest of the process: the CLI builds its model next
        _ENTERED.append((strategy, scope))  # held: an unreferenced scope stops applying
        return strategy.num_replicas_in_sync
    raise ValueError(
        f"data parallelism runs on the JAX backend (keras.distribution) and on TensorFlow "
        f"(tf.distribute.MirroredStrategy); this is {backend}: use KERAS_BACKEND=jax or tensorflow, or "
        f"wrap the model in torch.nn.parallel.DistributedDataParallel yourself (docs/scaling.md).")


def single_device():
    """Undo ``data_parallel()``: models built after this run on one device (JAX: clears
    ``keras.distribution``'s distribution; TensorFlow: leaves the strategy's scope)."""
    if keras.backend.backend() == "jax":
        keras.distribution.set_distribution(None)
    while _ENTERED:
        _, scope = _ENTERED.pop()
        scope.__exit__(None, None, None)


def check_batch_size(batch_size, num_devices):
    """A batch must give every device at least one example."""
    if batch_size < num_devices:
        raise ValueError(f"--batch-size {batch_size} is smaller than the {num_devices} devices it is split "
                         f"across: use at least {num_devices} (any size works from there).")


def round_up(size, multiple):
    return multiple * math.ceil(size / multiple)


class PaddedBatches(ArrayBatches):
    """Batches of numpy arrays, each padded to a multiple of ``multiple`` examples, weighted 0.

    Args:
        x: the inputs, an array or a tuple of arrays of one length (a conditional model's
            images and labels).
        batch_size: examples per batch (the last batch holds the rest).
        multiple: the device count every batch's size must divide by.
        shuffle: a new order each epoch (numpy's global generator, which
            ``keras.utils.set_random_seed`` seeds).

    Each item is ``(x_batch, zeros, weights)``: weights 1 for the real examples, 0 for the pad.
    """

    def __init__(self, x, batch_size, multiple, shuffle=False):
        super().__init__(x, batch_size, shuffle)
        self.multiple = int(multiple)
        self.order = np.random.permutation(self.size) if shuffle else np.arange(self.size)

    def __getitem__(self, index):
        chosen = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        batch = keras.tree.map_structure(lambda a: np.asarray(a)[chosen], self.x)
        padded, _, real = pad_batches(batch, len(chosen), self.multiple)
        # Zero targets stand in for "none": tf.distribute cannot split a None across replicas.
        # (A VAE ignores them; a conditional VAE's labels travel inside x.)
        return padded, np.zeros(len(real), "float32"), real.astype("float32")

    def on_epoch_end(self):
        if self.shuffle:
            self.order = np.random.permutation(self.size)


def pad_batches(x, batch_size, multiple):
    """``x`` (an array or a tuple of arrays) laid out as batches of ``batch_size`` examples, each
    padded with copies of its last example to a multiple of ``multiple`` rows, the short last
    batch to the same size: every batch has one shape and splits evenly over the devices, and
    holds the examples it would hold unpadded (so the same random draws reach them).

    Returns (padded x, the padded batch size, a boolean mask of the real rows, in order)."""
    size = len(keras.tree.flatten(x)[0])
    batches = math.ceil(size / batch_size)
    padded_batch = round_up(batch_size, multiple)
    rows = np.minimum(np.arange(batches * batch_size).reshape(batches, batch_size), size - 1)
    rows = np.concatenate([rows, np.repeat(rows[:, -1:], padded_batch - batch_size, axis=1)], axis=1)
    column = np.arange(padded_batch)[None, :]
    real = (column < batch_size) & (np.arange(batches)[:, None] * batch_size + column < size)
    rows = rows.ravel()
    return keras.tree.map_structure(lambda a: np.asarray(a)[rows], x), padded_batch, real.ravel()
