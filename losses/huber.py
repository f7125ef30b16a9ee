"""Huber likelihood: the Huber loss as a normalized density, p(x) ∝ exp(−H_α((x − μ)/σ)).

H_α(z) = z²/2 for |z| ≤ α, α|z| − α²/2 otherwise (Gaussian core, Laplace tails). Its exact
normalizer over z is Z(α) = √(2π)·erf(α/√2) + 2·exp(−α²/2)/α, so per dimension
−log p(x) = H_α((x − μ)/σ) + log σ + log Z(α).
"""

import math

import keras
from keras import ops

from losses.base import check_positive
from losses.location_scale import LocationScale


def huber_log_normalizer(alpha):
    """log Z(α) = log(√(2π)·erf(α/√2) + 2·exp(−α²/2)/α), in float64 (α is a number).

    α → ∞ gives the Gaussian's log √(2π); α → 0 the Laplace-like 2/α.
    """
    alpha = float(alpha)
    return math.log(math.sqrt(2.0 * math.pi) * math.erf(alpha / math.sqrt(2.0))
                    + 2.0 * math.exp(-0.5 * alpha * alpha) / alpha)


def huber_function(z, alpha):
    """H_α(z) = z²/2 if |z| ≤ α else α|z| − α²/2; elementwise."""
    a = ops.abs(z)
    return ops.where(a <= alpha, 0.5 * ops.square(z), alpha * a - 0.5 * alpha * alpha)


def huber_log_prob(x, loc, log_scale, alpha):
    """log p(x) = −H_α((x − μ)/σ) − log σ − log Z(α); elementwise, nats."""
    z = (x - loc) * ops.exp(-log_scale)
    return -huber_function(z, alpha) - log_scale - huber_log_normalizer(alpha)


@keras.saving.register_keras_serializable(package="zoo")
class Huber(LocationScale):
    """Huber density p(x | μ, σ) = exp(−H_α((x − μ)/σ)) / (σ·Z(α)).

    Args:
        alpha: the Huber threshold α > 0 (in units of σ): quadratic inside, linear outside.
        scale, init_scale, min_log_scale, max_log_scale: as in ``Gaussian`` (no "optimal").

    Example:
    >>> Huber(alpha=1.0, scale=1.0).log_prob([[0.0]], [[0.0]])   # −log Z(1) = −1.0730586
    """

    default_name = "huber"

    def __init__(self, alpha=1.0, scale="shared", **kwargs):
        self.alpha = check_positive("alpha", alpha, "Huber")
        self.log_normalizer = huber_log_normalizer(self.alpha)
        super().__init__(scale=scale, **kwargs)

    def log_density(self, x, loc, log_scale, params):
        return huber_log_prob(x, loc, log_scale, self.alpha)

    def standard_sample(self, shape, params, seed):
        # A mixture: the Gaussian core on [−α, α] (a truncated normal, by inverse CDF) with
        # mass √(2π)·erf(α/√2)/Z, else an exponential tail α + Exp(α) with a random sign.
        seed = seed if isinstance(seed, keras.random.SeedGenerator) else keras.random.SeedGenerator(seed)
        alpha = self.alpha
        erf_a = math.erf(alpha / math.sqrt(2.0))
        core_mass = math.sqrt(2.0 * math.pi) * erf_a / math.exp(self.log_normalizer)
        pick = keras.random.uniform(shape, seed=seed, dtype=self.dtype)
        u = keras.random.uniform(shape, minval=1e-7, maxval=1.0 - 1e-7, seed=seed, dtype=self.dtype)
        core = math.sqrt(2.0) * ops.erfinv(erf_a * (2.0 * u - 1.0))
        side = ops.where(pick < core_mass + (1.0 - core_mass) / 2.0, 1.0, -1.0)
        tail = side * (alpha - ops.log(u) / alpha)
        return ops.where(pick < core_mass, core, tail)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}
