"""Logistic likelihood: p(x) = e^{−z} / (s·(1 + e^{−z})²), z = (x − μ)/s.

log p = −|z| − 2·softplus(−|z|) − log s per dimension (the symmetric form is stable).
"""

import keras
from keras import ops

from losses.base import softplus
from losses.location_scale import LocationScale


def logistic_log_prob(x, loc, log_scale):
    """log Logistic(x; μ, s) = −|z| − 2·softplus(−|z|) − log s, z = (x − μ)/s; elementwise."""
    z = ops.abs(x - loc) * ops.exp(-log_scale)
    return -z - 2.0 * softplus(-z) - log_scale


def standard_logistic_sample(shape, seed, dtype):
    """Draws of the standard logistic by inverse CDF: log u − log(1 − u), u ~ U(0, 1)."""
    u = keras.random.uniform(shape, minval=1e-7, maxval=1.0 - 1e-7, seed=seed, dtype=dtype)
    return ops.log(u) - ops.log1p(-u)


@keras.saving.register_keras_serializable(package="zoo")
class Logistic(LocationScale):
    """Logistic p(x | μ, s); s fixed, learned or shared (see Gaussian)."""

    default_name = "logistic"

    def log_density(self, x, loc, log_scale, params):
        return logistic_log_prob(x, loc, log_scale)

    def standard_sample(self, shape, params, seed):
        return standard_logistic_sample(shape, seed, self.dtype)
