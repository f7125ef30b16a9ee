"""Continuous Bernoulli likelihood on [0, 1] (Loaiza-Ganem & Cunningham, 2019).

BCE on grey values is not a density; adding the log-normalizer log C(λ) makes it one:
p(x | λ) = C(λ) λ^x (1−λ)^(1−x), x ∈ [0, 1].
"""

import math

import numpy as np
import keras
from keras import ops

from losses.base import Likelihood, check_unit_interval
from losses.bernoulli import bernoulli_log_prob

# Below this |logit| the closed forms are 0/0; their Taylor series are exact to float32.
_TAYLOR_BELOW = 0.1


def continuous_bernoulli_log_normalizer(logits):
    """log C(λ), λ = sigmoid(l): C(λ) = 2·artanh(1−2λ)/(1−2λ) = l / tanh(l/2), C(½) = 2.

    With u = |l|/2: log C = log 2 + log(u / tanh u), and near u = 0 the series
    log(u / tanh u) = u²/3 − 7u⁴/90 + 62u⁶/2835 − … replaces the 0/0 form.
    Finite with finite gradients for every l, including l = 0 and |l| → ∞.
    """
    a = ops.abs(logits)
    small = a < _TAYLOR_BELOW
    safe = ops.where(small, ops.ones_like(a), a)  # keeps the unused branch's gradient finite
    closed = ops.log(safe) - ops.log(ops.tanh(safe / 2.0))
    u2 = ops.square(a / 2.0)
    series = math.log(2.0) + u2 * (1.0 / 3.0 + u2 * (-7.0 / 90.0 + u2 * (62.0 / 2835.0)))
    return ops.where(small, series, closed)


def continuous_bernoulli_log_prob(x, logits):
    """log p(x | l) = x·l − softplus(l) + log C(λ), x ∈ [0, 1]; elementwise, nats."""
    return bernoulli_log_prob(x, logits) + continuous_bernoulli_log_normalizer(logits)


def continuous_bernoulli_mean(logits):
    """E[x] = λ/(2λ−1) + 1/(2·artanh(1−2λ)) = ½ + (coth(l/2) − 2/l)/2, → ½ + l/12 − l³/720 near 0."""
    small = ops.abs(logits) < _TAYLOR_BELOW
    safe = ops.where(small, ops.ones_like(logits), logits)
    closed = 0.5 + 0.5 / ops.tanh(safe / 2.0) - 1.0 / safe
    series = 0.5 + logits / 12.0 - logits**3 / 720.0
    return ops.where(small, series, closed)


def continuous_bernoulli_sample(logits, u):
    """Inverse CDF at u ∈ (0, 1): x = log(1 + u·(e^l − 1)) / l, written to never overflow.

    For l > 0 it is 1 + log(u + (1−u)·e^{−l}) / l; near l = 0 it tends to u.
    """
    small = ops.abs(logits) < 1e-4
    safe = ops.where(small, ops.ones_like(logits), logits)
    positive = 1.0 + ops.log(u + (1.0 - u) * ops.exp(-ops.abs(safe))) / ops.abs(safe)
    negative = ops.log1p(u * ops.expm1(-ops.abs(safe))) / (-ops.abs(safe))
    x = ops.where(safe > 0, positive, negative)
    return ops.clip(ops.where(small, u, x), 0.0, 1.0)


@keras.saving.register_keras_serializable(package="zoo")
class ContinuousBernoulli(Likelihood):
    """Continuous Bernoulli p(x | λ) = C(λ)·λ^x (1−λ)^(1−x) on x ∈ [0, 1]; params are logits.

    Note that the mean is not λ: use ``mean(params)`` for reconstructions.
    """

    param_names = ("logits",)
    default_name = "continuous_bernoulli"

    def elementwise_log_prob(self, x, params):
        return continuous_bernoulli_log_prob(x, params["logits"])

    def mean(self, params):
        return continuous_bernoulli_mean(self.split_output_params(params)["logits"])

    def sample(self, params, seed=None):
        logits = self.split_output_params(params)["logits"]
        u = keras.random.uniform(ops.shape(logits), minval=1e-7, maxval=1.0 - 1e-7,
                                 seed=seed, dtype=logits.dtype)
        return continuous_bernoulli_sample(logits, u)

    def check_data(self, x):
        super().check_data(x)
        check_unit_interval(self, x, "Rescale the data into [0, 1] (e.g. min-max).")
