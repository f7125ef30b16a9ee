"""The likelihood base class and the helpers every density family shares.

A likelihood is a normalized density (or mass function) p(x | params) over each data
dimension, independent across dimensions given the params. Conventions, for every one:

- ``params`` has the data's shape when ``params_per_dim == 1`` and the data's shape plus a
  trailing axis of ``params_per_dim`` channels otherwise (``x.shape + (params_per_dim,)``).
- ``log_prob(x, params)`` returns shape ``(batch,)``: the log-density summed over all
  non-batch axes, per example, in nats, with every normalizing constant kept.
- ``params`` may carry leading axes that ``x`` lacks, e.g. ``(k, batch, ...)`` for k
  posterior samples of each example: ``x`` broadcasts against them (no k-fold copy of
  the data) and ``log_prob`` returns ``(k, batch)``.
- As a ``keras.losses.Loss`` it returns ``-log_prob`` (negative log-likelihood per example;
  the default reduction averages it over the batch).
"""

import contextlib
import functools
import inspect
import math

import numpy as np
import keras
from keras import ops

LOG_2PI = math.log(2.0 * math.pi)


def softplus(x):
    """softplus(x) = log(1 + eˣ) = max(x, 0) + log1p(e^−|x|), exact and finite for every x.

    ``keras.ops.softplus`` everywhere but JAX, where it is ``jax.nn.softplus`` =
    ``logaddexp(x, 0)``, whose handling of infinities made it ~3x slower on a CPU than the
    form above: on the Bernoulli VAE's 784 logits per sample that was a third of
    ``zoo.log_likelihood``'s time (bench/README.md)."""
    if keras.backend.backend() == "jax":
        # maximum / minimum split a tie's gradient in halves: softplus'(0) = ½ (abs' is 1 at 0).
        return ops.maximum(x, 0.0) + ops.log1p(ops.exp(ops.minimum(x, -x)))
    return ops.softplus(x)


def log_sigmoid(x):
    """log σ(x) = −softplus(−x) (``softplus``'s form on JAX, ``keras.ops.log_sigmoid`` elsewhere)."""
    if keras.backend.backend() == "jax":
        return -softplus(-x)
    return ops.log_sigmoid(x)


def soft_clip(x, low, high, sharpness=10.0):
    """Smoothly clip ``x`` into ``(low, high)``; the identity well inside the range.

    ``low + softplus(k·(x − low))/k`` then ``high − softplus(k·(high − ·))/k`` with k =
    ``sharpness``: it differs from x by < e^{−k·d}/k at distance d inside the bounds
    (< 2e-10 for d ≥ 2), never returns ±inf, and keeps a gradient beyond the bounds.
    The clipped value is what a density uses, so the density stays normalized.
    """
    x = low + softplus(sharpness * (x - low)) / sharpness
    return high - softplus(sharpness * (high - x)) / sharpness


def random_normal(shape, seed, dtype=None):
    """``keras.random.normal(shape, seed=seed, dtype=dtype)``: the same numbers, faster when compiled.

    On TensorFlow with a ``keras.random.SeedGenerator`` it calls the stateless op Keras calls,
    with Keras' seed, naming the algorithm Keras leaves to "auto_select": Philox, the one
    auto_select picks on a CPU (identical draws, tests/losses/test_base.py). Under XLA
    (``jit_compile=True``) auto_select cost ~1.2 ms per (128, 50) draw on a CPU against
    0.1 ms for Philox — as long as the whole VAE step (bench/README.md).

    Inside ``torch.compile`` (PyTorch with ``jit_compile=True``) the draw comes from torch's
    default generator instead (see ``_torch_compiled_draw``): other numbers, still reproducible.
    """
    compiled = _torch_compiled_draw("randn", shape, seed, dtype)
    if compiled is not None:
        return compiled
    tf_seed = _tensorflow_seed(seed)
    if tf_seed is None:
        return keras.random.normal(shape, seed=seed, dtype=dtype)
    import tensorflow as tf

    return tf.random.stateless_normal(shape, seed=tf_seed, dtype=dtype or keras.config.floatx(),
                                      alg="philox")


def random_uniform(shape, seed, dtype=None):
    """``keras.random.uniform(shape, seed=seed, dtype=dtype)`` on [0, 1), as ``random_normal``."""
    compiled = _torch_compiled_draw("rand", shape, seed, dtype)
    if compiled is not None:
        return compiled
    tf_seed = _tensorflow_seed(seed)
    if tf_seed is None:
        return keras.random.uniform(shape, seed=seed, dtype=dtype)
    import tensorflow as tf

    return tf.random.stateless_uniform(shape, seed=tf_seed, dtype=dtype or keras.config.floatx(),
                                       alg="philox")


_TORCH_GRAPH_DRAWS = []  # non-empty while zoo.training.torch_graph traces a step


@contextlib.contextmanager
def torch_graph_draws():
    """Within it, ``random_normal`` / ``random_uniform`` with a SeedGenerator draw as inside
    ``torch.compile``, for a step being traced into a graph by ``make_fx`` (zoo/torch_graph.py)."""
    _TORCH_GRAPH_DRAWS.append(True)
    try:
        yield
    finally:
        _TORCH_GRAPH_DRAWS.pop()


def _torch_compiled_draw(kind, shape, seed, dtype):
    """``torch.randn`` / ``torch.rand`` while ``torch.compile`` (or ``torch_graph_draws``)
    traces a draw seeded by a ``keras.random.SeedGenerator``; None otherwise.

    Keras' PyTorch draws seed a fresh ``torch.Generator`` per call from the seed's value, which
    a compiled graph cannot hold (pytorch/pytorch#88576): each draw split the compiled VAE step
    in two, and the Python frames around the split ran eagerly — at batch 20, 2.7 ms a step
    against 1.8 ms with the draw traced (bench/README.md). Compiled graphs draw from torch's
    default generator (``keras.utils.set_random_seed`` seeds it), so a compiled run is
    reproducible, but its numbers differ from an eager run's. The seed generator's state is
    left as it is (advancing it inside the graph is another split: Keras builds its increment
    with numpy).
    """
    if keras.backend.backend() != "torch" or not isinstance(seed, keras.random.SeedGenerator):
        return None
    import torch

    if not (_TORCH_GRAPH_DRAWS or torch.compiler.is_compiling()):
        return None
    dtype = getattr(torch, keras.backend.standardize_dtype(dtype or keras.config.floatx()))
    return getattr(torch, kind)(tuple(shape), dtype=dtype, device=seed.state.value.device)


def _tensorflow_seed(seed):
    """The int32 seed pair ``keras.random`` would draw from ``seed`` on TensorFlow, or None
    elsewhere (and for seeds that are not a SeedGenerator: no hot path uses those)."""
    if keras.backend.backend() != "tensorflow" or not isinstance(seed, keras.random.SeedGenerator):
        return None
    import tensorflow as tf

    pair = seed.next()
    if pair.dtype != tf.int32:
        # As keras.random does: the generator's state is int64, the stateless ops take int32.
        pair = tf.cast(tf.math.floormod(pair, tf.int32.max - 1), tf.int32)
    context = tf.distribute.get_replica_context()
    if context is not None and context.num_replicas_in_sync > 1:
        # Each replica of a MirroredStrategy holds other examples: other draws, not copies.
        pair = pair + tf.stack([0, tf.cast(context.replica_id_in_sync_group, tf.int32)])
    return pair


def sum_over_event_dims(values, event_ndim=None):
    """Sum the trailing ``event_ndim`` axes (default: all but the first): per-element
    log-densities → per example, (batch, ...) → (batch,) or (k, batch, ...) → (k, batch)."""
    ndim = len(values.shape)
    event_ndim = ndim - 1 if event_ndim is None else event_ndim
    if event_ndim <= 0:
        return values
    return ops.sum(values, axis=tuple(range(ndim - event_ndim, ndim)))


def check_positive(name, value, owner):
    """Raise a ValueError naming ``name`` unless ``value`` is a finite number > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise ValueError(
            f"{owner}: `{name}` must be a positive number, got {value!r} "
            f"({type(value).__name__})."
        )
    if not math.isfinite(value) or value <= 0:
        raise ValueError(
            f"{owner}: `{name}` must be a finite number > 0, got {value!r}."
        )
    return float(value)


def check_integer(name, value, owner, minimum=1):
    """Raise a ValueError naming ``name`` unless ``value`` is an integer ≥ ``minimum``; returns an int."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        wanted = "a positive integer" if minimum == 1 else f"an integer ≥ {minimum}"
        raise ValueError(f"{owner}: `{name}` must be {wanted}, got {value!r}.")
    return int(value)


def check_non_negative(name, value, owner):
    """Raise a ValueError naming ``name`` unless ``value`` is a finite number ≥ 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
            or not math.isfinite(value) or value < 0:
        raise ValueError(f"{owner}: `{name}` must be a finite number ≥ 0, got {value!r}.")
    return float(value)


class DataError(ValueError):
    """Data that the likelihood cannot score (NaN, out of its support, wrong shape)."""


class Likelihood(keras.losses.Loss):
    """A normalized likelihood p(x | params), usable as a Keras loss (−log p per example).

    Subclasses set ``param_names`` (one channel each) and implement
    ``elementwise_log_prob``, ``mean`` and ``sample``. Parameters named in
    ``shared_param_names`` are a single trainable scalar shared by all data dimensions:
    a model's decoder head owns that variable and broadcasts it into its channel, so the
    math here never changes between per-dimension and shared parameters.
    ``initial_params`` gives each channel's initial raw value (the decoder head's bias).
    """

    param_names = ("loc",)
    shared_param_names = ()
    is_discrete = False
    #: Number of values each dimension takes for a discrete likelihood, else None.
    levels = None
    default_name = "likelihood"

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name or self.default_name, reduction=reduction, dtype=dtype)

    # -- the interface ------------------------------------------------------------------
    @property
    def params_per_dim(self):
        """Number of parameter channels per data dimension in ``params``."""
        return len(self.param_names)

    @property
    def initial_params(self):
        """Initial raw value of each parameter channel, by name (default 0)."""
        return {name: 0.0 for name in self.param_names}

    def log_prob(self, x, params):
        """log p(x | params), summed over event dims: shape (batch,), nats.

        With params of shape ``(k, batch, ...)`` (leading axes ``x`` lacks), ``x`` is
        broadcast against them and the result is ``(k, batch)``.
        """
        x = ops.convert_to_tensor(x, dtype=self.dtype)
        params = ops.convert_to_tensor(params, dtype=self.dtype)
        return self.summed_log_prob(x, self.split_params(x, params), event_ndim=len(x.shape) - 1)

    def summed_log_prob(self, x, params, event_ndim):
        """``elementwise_log_prob`` summed over the trailing ``event_ndim`` axes. A family
        overrides it where summing its terms separately saves passes over the values."""
        return sum_over_event_dims(self.elementwise_log_prob(x, params), event_ndim)

    def elementwise_log_prob(self, x, params):
        """log p(x_i | params_i) per data element; ``params`` is a dict by channel name."""
        raise NotImplementedError

    def mean(self, params):
        """E[x | params], with the data's shape."""
        raise NotImplementedError

    def sample(self, params, seed=None):
        """One draw x ~ p(x | params), with the data's shape. ``seed``: int or SeedGenerator."""
        raise NotImplementedError

    def check_data(self, x):
        """Raise a ``DataError`` that says what to do if ``x`` (array) is not in the support."""
        x = np.asarray(x)
        if x.size == 0:
            raise DataError(f"{self.name}: the data is empty (shape {x.shape}).")
        if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
            raise DataError(f"{self.name}: data must be real numbers, got dtype {x.dtype}.")
        bad = ~np.isfinite(x)
        if bad.any():
            raise DataError(
                f"{self.name}: the data has {int(bad.sum())} NaN/inf values (first at index "
                f"{tuple(int(i) for i in np.argwhere(bad)[0])}); remove or impute them first."
            )

    # -- keras.losses.Loss ----------------------------------------------------------------
    def call(self, y_true, y_pred):
        return -self.log_prob(y_true, y_pred)

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}

    # -- helpers for subclasses -------------------------------------------------------------
    def split_params(self, x, params):
        """Check ``params`` against ``x`` and return its channels as a dict by name."""
        count = self.params_per_dim
        x_shape, p_shape = tuple(x.shape), tuple(params.shape)
        expected = x_shape if count == 1 else x_shape + (count,)
        leading = len(p_shape) - len(expected)  # sample axes in front, e.g. (k, batch, ...)
        fits = leading >= 0 and all(
            a is None or b is None or a == b for a, b in zip(p_shape[leading:], expected)
        )
        if not fits:
            raise ValueError(
                f"{self.name}: params of shape {p_shape} do not fit data of shape {x_shape}. "
                f"This likelihood takes {count} parameter channel(s) per data dimension "
                f"{self.param_names}, so params must have shape {expected}"
                + ("" if count == 1 else " (channels on a new last axis)")
                + ", optionally after leading sample axes."
            )
        if count == 1:
            return {self.param_names[0]: params}
        return {name: params[..., i] for i, name in enumerate(self.param_names)}

    def split_output_params(self, params):
        """The channels of ``params`` by name, without data to check against (for mean/sample)."""
        params = ops.convert_to_tensor(params, dtype=self.dtype)
        if self.params_per_dim == 1:
            return {self.param_names[0]: params}
        if params.shape[-1] != self.params_per_dim:
            raise ValueError(
                f"{self.name}: params must have {self.params_per_dim} channels "
                f"{self.param_names} on the last axis, got shape {tuple(params.shape)}."
            )
        return {name: params[..., i] for i, name in enumerate(self.param_names)}

    def __repr__(self):
        args = ", ".join(
            f"{k}={v!r}" for k, v in self.get_config().items() if k not in ("reduction",)
        )
        return f"{type(self).__name__}({args})"


def check_unit_interval(likelihood, x, suggestion):
    """Shared support check for likelihoods on [0, 1]."""
    x = np.asarray(x)
    low, high = float(np.min(x)), float(np.max(x))
    if low < 0.0 or high > 1.0:
        hint = " It looks like 8-bit pixels: divide by 255." if high > 1.0 and high <= 255 else ""
        raise DataError(
            f"{likelihood.name}: data must lie in [0, 1], got values in [{low:g}, {high:g}].{hint} "
            f"{suggestion}"
        )


def from_registry(identifier, kwargs, registry, base, kind):
    """An object of class ``base`` from a registered name (built with ``kwargs``), a Keras config
    dict, or an instance; the errors name the valid choices or arguments. ``losses.get``,
    ``zoo.priors.get`` and ``zoo.posteriors.get`` are this with their registries."""
    if isinstance(identifier, base):
        if kwargs:
            raise ValueError(f"{kind}: got an instance {identifier!r} and arguments {sorted(kwargs)}; "
                             f"pass a name to build one with arguments.")
        return identifier
    if isinstance(identifier, dict):
        obj = keras.saving.deserialize_keras_object(identifier)
        if not isinstance(obj, base):
            raise ValueError(f"{kind}: the config describes a {type(obj).__name__}, not a {kind}.")
        return obj
    if not isinstance(identifier, str):
        raise ValueError(f"{kind}: expected a name, config dict or {base.__name__}, got {identifier!r}. "
                         f"Valid names: {', '.join(sorted(registry))}.")
    key = identifier.strip().lower().replace("-", "_")
    if key not in registry:
        raise ValueError(f"Unknown {kind} {identifier!r}. Valid names: {', '.join(sorted(registry))}.")
    factory = registry[key]
    try:
        return factory(**kwargs)
    except TypeError as error:
        cls = factory.func if isinstance(factory, functools.partial) else factory
        raise ValueError(f"{kind} {key!r} does not take {sorted(kwargs)}: {error}. "
                         f"Its arguments: {_arguments(cls)}.") from None


def _arguments(cls):
    params = []
    for klass in cls.__mro__:
        if "__init__" in vars(klass):
            params += [p for p in inspect.signature(klass.__init__).parameters
                       if p not in ("self", "kwargs", "args") and p not in params]
    return ", ".join(params)
