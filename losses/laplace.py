"""Laplace likelihood: mean absolute error is this density with every constant kept.

−log Laplace(x; μ, b) = |x − μ|/b + log b + log 2 per dimension.
"""

import math

import keras
from keras import ops

from losses.location_scale import LocationScale

LOG_2 = math.log(2.0)


def laplace_log_prob(x, loc, log_scale):
    """log Laplace(x; μ, b) = −|x − μ|/b − log b − log 2; elementwise, nats."""
    return -ops.abs(x - loc) * ops.exp(-log_scale) - log_scale - LOG_2


@keras.saving.register_keras_serializable(package="zoo")
class Laplace(LocationScale):
    """Laplace p(x | μ, b) = exp(−|x − μ|/b)/(2b); b fixed, learned or shared (see Gaussian)."""

    default_name = "laplace"

    def log_density(self, x, loc, log_scale, params):
        return laplace_log_prob(x, loc, log_scale)

    def standard_sample(self, shape, params, seed):
        u = keras.random.uniform(shape, minval=-0.5 + 1e-7, maxval=0.5, seed=seed, dtype=self.dtype)
        return -ops.sign(u) * ops.log1p(-2.0 * ops.abs(u))
