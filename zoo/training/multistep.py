"""``steps_per_execution`` that pays off on JAX: N steps in one compiled ``lax.scan``.

Keras 3's JAX trainer runs ``steps_per_execution = N`` as a Python loop over its one-step
jitted function (``_make_function`` in keras/src/backend/jax/trainer.py), so every step is
still one device call, and N > 1 only thins out the callbacks. TensorFlow's trainer compiles
the N steps into one ``tf.while_loop``, hence its 1.5–1.9× gain at small batches. Here the
N batches are stacked and the model's own ``train_step`` / ``test_step`` is scanned over
them inside one ``jax.jit`` call (state donated, as Keras does): the same steps, in the same
order, with the same random streams (the seed generator's state is part of the carried
state), so the weights match a one-step-per-call run up to float rounding.

A group that cannot be stacked — the short last group of an epoch, batches of unequal
shapes (the last, smaller batch), sparse inputs — goes through Keras' own function, one
step per call. Nothing changes unless the backend is JAX, N > 1, the step is jit-compiled,
and there is no ``keras.distribution`` (sharded data) or Flax NNX (whose ``jit`` differs).
"""

import keras
import numpy as np

#: ``steps_per_execution`` chosen from the data (``steps_per_execution_for``): about this many
#: scanned calls, so progress-bar updates, per epoch...
UPDATES_PER_EPOCH = 20
#: ...but at least this many steps per call (compile()'s fixed default before)...
MIN_STEPS_PER_EXECUTION = 10
#: ...and at most this much stacked batch data per call (the scan holds a group's batches at once).
MAX_GROUP_BYTES = 64 * 2**20


def steps_per_execution_for(num_examples, batch_size, example_bytes):
    """Steps per scanned call for an epoch of ``num_examples`` in batches of ``batch_size``.

    Each call has a fixed cost in Python (collecting the group's batches, moving them to the
    device, the call, the callbacks), against ~0.5–1 ms of work per step of the MLP VAE at
    batch 20 on a CPU: ~1/20 of the epoch per call (125 steps on MNIST at batch 20) spreads it
    thin and still updates the progress bar 20 times an epoch (bench/README.md has the
    ratios to a whole-epoch ``lax.scan``). Epochs of fewer steps than MIN_STEPS_PER_EXECUTION
    run as one call.
    """
    steps = -(-num_examples // batch_size)
    by_memory = max(1, MAX_GROUP_BYTES // max(1, batch_size * example_bytes))
    return max(1, min(steps, by_memory, max(MIN_STEPS_PER_EXECUTION, steps // UPDATES_PER_EPOCH)))


def _scannable(model):
    if keras.backend.backend() != "jax":
        return False
    steps = model.steps_per_execution
    nnx = getattr(keras.config, "is_nnx_enabled", lambda: False)()  # not in every Keras 3
    return (isinstance(steps, int) and steps > 1 and not model.run_eagerly and model.jit_compile
            and keras.distribution.distribution() is None and not nnx)


def _consecutive(column):
    """Numpy arrays of one shape that lie one after the other in memory (``ContiguousBatches``'
    slices of one array) as one array over them, a view; None otherwise."""
    first = column[0]
    if not (isinstance(first, np.ndarray) and first.flags.c_contiguous and first.base is not None):
        return None
    start, step = first.__array_interface__["data"][0], first.nbytes
    for offset, array in enumerate(column[1:], 1):
        if (type(array) is not np.ndarray or array.base is not first.base or array.shape != first.shape
                or array.dtype != first.dtype or array.__array_interface__["data"][0] != start + offset * step):
            return None
    return np.lib.stride_tricks.as_strided(first, (len(column),) + first.shape, (step,) + first.strides,
                                           writeable=False)


def _stack(batches):
    """The batches stacked on a new leading axis, or None if they differ in structure, shape
    or dtype, or hold anything but dense arrays. Consecutive slices of one array are viewed,
    not copied."""
    import jax

    leaves, structure = jax.tree.flatten(batches[0])
    rows = [leaves]
    for batch in batches[1:]:
        batch_leaves, batch_structure = jax.tree.flatten(batch)
        if batch_structure != structure:
            return None
        rows.append(batch_leaves)
    stacked = []
    for column in zip(*rows):
        first = column[0]
        if not isinstance(first, (np.ndarray, jax.Array)):
            return None
        if any(type(a) is not type(first) or a.shape != first.shape or a.dtype != first.dtype
               for a in column[1:]):
            return None
        view = _consecutive(column)
        stacked.append(view if view is not None else np.stack(column) if isinstance(first, np.ndarray)
                       else jax.numpy.stack(column))
    return jax.tree.unflatten(structure, stacked)


def scanned(model, step, keras_function):
    """``keras_function`` (Keras' ``train_function`` / ``test_function``) made to run each full
    group of ``model.steps_per_execution`` batches as one jitted ``lax.scan`` of ``step``.

    Returned unchanged where it cannot apply (see the module docstring). The result keeps
    Keras' contract: ``(state, iterator) -> (logs of the group's last step, state)``, raising
    ``StopIteration`` when the iterator has no batch left.
    """
    if not _scannable(model):
        return keras_function
    import jax

    group_size = model.steps_per_execution

    def scan_steps(state, batches):
        def body(carry, batch):
            logs, carry = step(carry, batch)
            return carry, logs

        state, logs = jax.lax.scan(body, state, batches)
        return jax.tree.map(lambda t: t[-1], logs), state

    scan_steps = jax.jit(scan_steps, donate_argnums=0)

    def function(state, iterator):
        if not hasattr(iterator, "__next__"):
            # A Keras whose trainer hands over a list of batches: leave it to Keras.
            return keras_function(state, iterator)
        batches = [next(iterator)]  # StopIteration here ends the epoch, as in Keras
        for batch in iterator:
            batches.append(batch)
            if len(batches) == group_size:
                break
        stacked = _stack(batches) if len(batches) == group_size else None
        if stacked is None:
            return keras_function(state, iter(batches))
        return scan_steps(state, stacked)

    return function
