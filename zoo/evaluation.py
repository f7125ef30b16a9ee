"""Evaluating a trained VAE: importance-sampled log p(x), bits/dim, active units, KL per dim.

Every function batches over examples through Keras' own ``predict`` loop (compiled on each
backend, once per model and quantity) and works on numpy arrays; conditional models take
``(x, labels)``.
"""

import functools
import math

import numpy as np
import keras
from scipy import special
from keras import ops

import losses
from losses.base import check_integer
from zoo.training.distribution import device_count, pad_batches
from zoo.training.jax_cpu_check import check_reductions
from zoo.training.torch_graph import compiled_predict_function


class _Function(keras.Model):
    """Runs ``fn(vae, inputs)`` through Keras' compiled, batched ``predict``; on PyTorch, after
    a few eager steps, as one traced graph (``zoo.training.torch_graph``) rather than Keras'
    eager predict."""

    def __init__(self, vae, fn):
        super().__init__(name="vae_function")
        self.vae = vae
        self.fn = fn
        self._default_jit_compile = True  # never compiled: the default path, traced on PyTorch
        self.built = True  # its only variables are the VAE's, built with it

    def call(self, inputs):
        return self.fn(self.vae, inputs)

    def make_predict_function(self, force=False):
        if self.predict_function is None or force:
            super().make_predict_function(force)
            self.predict_function = compiled_predict_function(self, self.predict_function)
        return self.predict_function


class _FunctionCache:
    """A model's compiled evaluation functions, keyed by (fn, fn_kwargs).

    Not a dict on purpose: Keras' saving walks a model's dict and list attributes for state to
    write, and layer attributes for sublayers to track; it ignores a plain object.
    """

    def __init__(self):
        self.functions = {}

    @classmethod
    def of(cls, model):
        if "_evaluation_functions" not in model.__dict__:
            object.__setattr__(model, "_evaluation_functions", cls())
        return model.__dict__["_evaluation_functions"].functions


def _predict(model, fn, inputs, batch_size, **fn_kwargs):
    """``fn(model, batch, **fn_kwargs)`` over ``inputs``, numpy out.

    One ``_Function`` per model, ``fn`` and ``fn_kwargs``, so its compiled predict step is
    reused by later calls (a fresh one per call retraced on TensorFlow and recompiled on JAX
    every time); it reads the model's current weights on every call.
    """
    check_reductions()
    functions = _FunctionCache.of(model)
    key = (fn, tuple(sorted(fn_kwargs.items())))
    if key not in functions:
        functions[key] = _Function(model, functools.partial(fn, **fn_kwargs))
    num_examples = _num_examples(inputs)
    # Copies of the last example pad the data to whole batches, so every predict step sees one
    # shape (a short last batch cost a second trace on TensorFlow, a second XLA compile on JAX),
    # and each batch splits evenly over the devices of a keras.distribution.
    padded, batch_size, real = pad_batches(inputs, max(1, min(batch_size, num_examples)), device_count())
    return np.asarray(functions[key].predict(padded, batch_size=batch_size, verbose=0))[real]


def _num_examples(inputs):
    return len(inputs[0] if isinstance(inputs, (tuple, list)) else inputs)


#: Decoded values (samples × data dims) per step of ``log_likelihood`` by default: ~6 MB of
#: float32, ~2,000 samples of a 784-pixel image. With 20,000 MNIST samples per step the
#: intermediates fell out of the CPU cache: 1.7× slower on JAX, 1.6× on PyTorch (bench/README.md).
DEFAULT_DECODED_VALUES = 1_600_000


def _log_weights(vae, inputs, k):
    """log w_j = log p(x | z_j) + log p(z_j) − log q(z_j | x), (batch, k)."""
    data, condition = vae._split_inputs(inputs)
    log_px, log_ratio, _, _ = vae.log_weight_terms(data, k, condition)
    return ops.transpose(log_px - log_ratio)


def importance_sampling_steps(model, num_examples, num_samples, batch_size=None, max_decodes=None):
    """How ``log_likelihood`` splits its work: (examples per step, samples of each per step)."""
    max_decodes = max_decodes or max(1, DEFAULT_DECODED_VALUES // model.num_dims)
    batch_size = batch_size or max(1, min(num_examples, max_decodes // min(num_samples, 1000)))
    return batch_size, max(1, min(num_samples, max_decodes // batch_size))


def log_likelihood(model, x, num_samples=1000, batch_size=None, max_decodes=None):
    """Importance-sampled log p(x) per example, in nats (Burda et al. 2016):

        log p(x) ≈ log (1/k) Σ_j p(x | z_j) p(z_j) / q(z_j | x),   z_j ~ q(z | x),

    a stochastic lower bound that tightens to log p(x) as k grows (k = 1: the ELBO). On
    discrete data with a continuous likelihood (``data_levels``) each sample also draws its
    own dequantization noise, so the estimate is of the discrete log P(x).

    Args:
        model: a ``zoo.VAE``.
        x: data (numpy), or ``(x, labels)`` for a conditional model.
        num_samples: k, the importance samples per example.
        batch_size: examples per batch (default: chosen from ``max_decodes``).
        max_decodes: bound on batch_size × samples decoded at once (memory, and speed:
            default ``DEFAULT_DECODED_VALUES`` / data dims).

    Returns:
        numpy float64 array (num_examples,), log p(x) in nats (negative for discrete data).
    """
    check_integer("num_samples", num_samples, "log_likelihood")
    if isinstance(x, np.ndarray):
        model.check_data(x)
    batch_size, chunk = importance_sampling_steps(model, _num_examples(x), num_samples, batch_size, max_decodes)

    total = np.full(_num_examples(x), -np.inf)
    done = 0
    while done < num_samples:
        k = min(chunk, num_samples - done)
        log_w = _predict(model, _log_weights, x, batch_size, k=k)
        total = np.logaddexp(total, special.logsumexp(log_w.astype("float64"), axis=1))
        done += k
    return total - math.log(num_samples)


def bits_per_dim(model, log_px):
    """Mean −log p(x) of a model on its data, in bits per dimension (discrete scale)."""
    return float(losses.bits_per_dim(-np.mean(log_px), model.num_dims))


def _posterior_mean(vae, inputs, layer=None):
    if layer == "h1":
        return vae.encode_h1(vae._split_inputs(inputs)[0])[0]
    return vae.encode(*vae._split_inputs(inputs))[0]


def _kl_per_dim(vae, inputs):
    return losses.gaussian_kl_per_dim(*vae.encode(*vae._split_inputs(inputs)))


def posterior_means(model, x, batch_size=256, layer=None):
    """E_q[z | x] for every example: (num_examples, latent_dim).

    ``layer="h1"``: for a model with two stochastic layers (``zoo.TwoLayerVAE``), the middle
    layer's E_q[h1 | x], (num_examples, hidden_dim), instead of the top layer's.
    """
    if layer not in (None, "h1"):
        raise ValueError(f"posterior_means: `layer` must be None (the top layer, what `encode` "
                         f"describes) or 'h1', got {layer!r}.")
    if layer == "h1" and not _has_middle_layer(model):
        raise ValueError(f"posterior_means: layer='h1' needs a model with two stochastic layers "
                         f"(zoo.TwoLayerVAE); {type(model).__name__} has one: use layer=None.")
    return _predict(model, _posterior_mean, x, batch_size, layer=layer)


def _has_middle_layer(model):
    """Whether ``model`` has two stochastic layers (``zoo.TwoLayerVAE``: h1 below the top z)."""
    return hasattr(model, "encode_h1")


def kl_per_dim(model, x, batch_size=256):
    """Mean analytic KL(q(z_i|x) ‖ N(0, 1)) of each latent dimension over the data, nats.

    Only where that is the model's KL: a standard normal prior and a Gaussian posterior."""
    if not (model.prior.has_analytic_kl and model.posterior.has_analytic_kl):
        raise ValueError(f"kl_per_dim: the KL splits by dimension only for a standard normal prior and a "
                         f"Gaussian posterior; this model has a {model.prior.describe()} prior and a "
                         f"{model.posterior.describe()} posterior (zoo.active_units ranks dimensions for any model).")
    return _predict(model, _kl_per_dim, x, batch_size).mean(axis=0)


def active_units(model, x, threshold=1e-2, batch_size=256, layer=None):
    """Latent dimensions u with Cov_x(E_q[z_u | x]) > threshold (Burda et al. 2016).

    z is what ``model.encode`` describes: for ``TwoLayerVAE``, the top layer h2; pass
    ``layer="h1"`` for its middle layer (the paper reports both).

    Returns (number of active units, per-dimension variances).
    """
    variances = posterior_means(model, x, batch_size, layer).var(axis=0)
    return int(np.sum(variances > threshold)), variances


def active_unit_counts(model, x, threshold=1e-2, batch_size=256):
    """Active units of every stochastic layer, for reports: ``{"active_units": n}``, plus
    ``"active_units_h1"`` for a model with two stochastic layers (the IWAE paper reports both).
    """
    counts = {"active_units": active_units(model, x, threshold, batch_size)[0]}
    if _has_middle_layer(model):
        counts["active_units_h1"] = active_units(model, x, threshold, batch_size, layer="h1")[0]
    return counts
