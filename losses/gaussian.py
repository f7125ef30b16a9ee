"""Gaussian likelihood: MSE is this density with every constant kept.

−log N(x; μ, σ²) = (x − μ)²/(2σ²) + log σ + ½·log 2π per dimension. A mean-squared-error
loss equals it up to a factor and a constant only for a fixed σ; say which σ.
"""

import keras
from keras import ops

from losses.base import LOG_2PI
from losses.location_scale import LocationScale


def gaussian_log_prob(x, loc, log_scale):
    """log N(x; μ, σ²) = −½·((x − μ)/σ)² − log σ − ½·log 2π; elementwise, nats."""
    z = (x - loc) * ops.exp(-log_scale)
    return -0.5 * ops.square(z) - log_scale - 0.5 * LOG_2PI


@keras.saving.register_keras_serializable(package="zoo")
class Gaussian(LocationScale):
    """Gaussian p(x | μ, σ) = N(x; μ, σ²); σ fixed, learned, shared or optimal (σ-VAE).

    Args:
        scale: a number (fixed σ), ``"learned"`` (per dimension, from the decoder),
            ``"shared"`` (one trainable σ) or ``"optimal"`` (σ² = batch MSE, σ-VAE).
        init_scale: initial σ when learned or shared.
        min_log_scale, max_log_scale: soft bounds of log σ.

    Example:
    >>> Gaussian(scale=1.0).log_prob([[0.0]], [[0.0]])   # −½·log 2π
    """

    supports_optimal_scale = True

    @property
    def default_name(self):
        return "sigma_vae" if self.scale == "optimal" else "gaussian"

    def log_density(self, x, loc, log_scale, params):
        return gaussian_log_prob(x, loc, log_scale)

    def standard_sample(self, shape, params, seed):
        return keras.random.normal(shape, seed=seed, dtype=self.dtype)
