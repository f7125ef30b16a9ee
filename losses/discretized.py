"""Discretized logistic likelihood for data with L levels (Salimans et al. 2017, one component).

Data with L levels is represented on [0, 1] as x = k/(L − 1), k = 0 … L − 1. Bin k spans
x ± h, h = 1/(2(L − 1)), with the first and last bins open to −∞ and +∞, so the mass
P(k) = F((x + h − μ)/s) − F((x − h − μ)/s), F = sigmoid, sums to 1 over the L bins.
All three cases are computed in log space:
- middle: log σ(u) + log σ(−l) + log(−expm1(l − u)), since σ(u) − σ(l) = σ(u)·σ(−l)·(1 − e^{l−u});
- first bin: log σ(u); last bin: log σ(−l).
"""

import math

import numpy as np
import keras
from keras import ops

from losses.base import DataError, check_integer, check_unit_interval, log_sigmoid
from losses.location_scale import LocationScale
from losses.logistic import standard_logistic_sample


def discretized_logistic_log_prob(x, loc, log_scale, levels):
    """log P(x | μ, s) for x = k/(L − 1) (see the module docstring); elementwise, nats.

    x is snapped to the nearest level; ``check_data`` rejects data off the grid.
    """
    last = levels - 1
    # Edges from the bin index, so bin k's upper edge is bin k+1's lower edge to the bit and
    # the masses telescope to 1 in float32.
    k = ops.round(x * last)
    inv_scale = ops.exp(-log_scale)
    upper = ((k + 0.5) / last - loc) * inv_scale
    lower = ((k - 0.5) / last - loc) * inv_scale
    log_cdf_upper = log_sigmoid(upper)
    log_sf_lower = log_sigmoid(-lower)
    # lower − upper = −1/((L−1)·s) < 0, so −expm1 is in (0, 1): finite for every s.
    log_middle = log_cdf_upper + log_sf_lower + ops.log(-ops.expm1(lower - upper))
    return ops.where(k < 0.5, log_cdf_upper, ops.where(k > last - 0.5, log_sf_lower, log_middle))


@keras.saving.register_keras_serializable(package="zoo")
class DiscretizedLogistic(LocationScale):
    """Discretized logistic P(x | μ, s) over L levels x = k/(L − 1) on [0, 1].

    A probability mass (``is_discrete``): −log P is a code length for the discrete data,
    comparable with a Bernoulli's and with a continuous density's dequantized bound.

    Args:
        levels: number of levels L ≥ 2 (256 for 8-bit images, 17 for scikit-learn digits).
        scale, init_scale, min_log_scale, max_log_scale: as in ``Gaussian`` (no "optimal").
    """

    is_discrete = True
    default_name = "discretized_logistic"

    def __init__(self, levels=256, scale="learned", **kwargs):
        self.levels = check_integer("levels", levels, "DiscretizedLogistic", minimum=2)
        super().__init__(scale=scale, **kwargs)

    def log_density(self, x, loc, log_scale, params):
        return discretized_logistic_log_prob(x, loc, log_scale, self.levels)

    def mean(self, params):
        """E[x] = Σ_{k≥1} (1/(L−1))·P(X ≥ x_k) = (1/(L−1))·Σ_{k=1}^{L−1} σ((μ − e_k)/s), e_k = x_k − h."""
        parts = self.split_output_params(params)
        loc = parts["loc"]
        scale = ops.exp(self.log_scale(None, parts))
        step = 1.0 / (self.levels - 1)
        edges = ops.convert_to_tensor(
            np.arange(1, self.levels, dtype="float32") * step - 0.5 * step, dtype=loc.dtype
        )
        above = ops.sigmoid((ops.expand_dims(loc, -1) - edges) / ops.expand_dims(scale, -1))
        return step * ops.sum(above, axis=-1)

    def sample(self, params, seed=None):
        continuous = super().sample(params, seed)
        k = ops.clip(ops.round(continuous * (self.levels - 1)), 0, self.levels - 1)
        return k / (self.levels - 1)

    def standard_sample(self, shape, params, seed):
        return standard_logistic_sample(shape, seed, self.dtype)

    def check_data(self, x):
        super().check_data(x)
        check_unit_interval(self, x, f"Represent level k of {self.levels} as k/{self.levels - 1}.")
        x = np.asarray(x, dtype="float64")
        off_grid = np.abs(x * (self.levels - 1) - np.round(x * (self.levels - 1))) > 1e-3
        if off_grid.any():
            raise DataError(
                f"{self.name}: data must lie on the grid k/{self.levels - 1} (levels={self.levels}), "
                f"but {int(off_grid.sum())} values do not (e.g. {x.flat[np.argmax(off_grid)]!r}). "
                f"Pass the right `levels`, or use a continuous likelihood."
            )

    def get_config(self):
        return {**super().get_config(), "levels": self.levels}
