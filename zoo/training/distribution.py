"""Data-parallel training with Keras' own ``keras.distribution`` (JAX backend).

Call ``data_parallel()`` before building the model: every variable is replicated on all
local devices and each batch is split across them; models, likelihoods and metrics do not
change (the loss is still a per-example mean over the global batch). Several hosts: call
``keras.distribution.initialize()`` first on each (see README).
"""

import keras


def data_parallel(devices=None):
    """Shard batches over ``devices`` (default: all local ones); returns the device count."""
    backend = keras.backend.backend()
    if backend != "jax":
        raise ValueError(
            f"data parallelism through keras.distribution runs on the JAX backend (this is "
            f"{backend}); use KERAS_BACKEND=jax, or see README for tf.distribute / PyTorch DDP."
        )
    devices = devices or keras.distribution.list_devices()
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    return len(devices)


def check_batch_size(batch_size, num_devices):
    if batch_size % num_devices:
        raise ValueError(f"--batch-size {batch_size} must be a multiple of the {num_devices} devices "
                         f"it is split across.")
