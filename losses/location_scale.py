"""Location-scale likelihoods p(x) = f((x − loc)/σ)/σ, and how their scale σ is set.

The scale is one of
- a positive number: fixed σ (params carry ``loc`` only);
- ``"learned"``: log σ per data dimension, a decoder output channel;
- ``"shared"``: one trainable log σ for all dimensions (the decoder head owns it);
- ``"optimal"`` (Gaussian only): σ² = mean squared error over the batch, the maximizer of
  the Gaussian likelihood for the current reconstructions (Rybkin et al. 2021, σ-VAE).
Every log σ is soft-clipped into ``[min_log_scale, max_log_scale]``, so a density never
returns inf or NaN; the clipped value is the one used, so it stays normalized.
"""

import math

import keras
from keras import ops

from losses.base import Likelihood, check_positive, soft_clip

SCALE_MODES = ("learned", "shared", "optimal")


class LocationScale(Likelihood):
    """Base of the location-scale families: handles ``scale`` and the parameter layout.

    Subclasses implement ``log_density(x, loc, log_scale, params)`` (elementwise) and
    ``standard_sample(shape, params, seed)`` (a draw of the standardized variable).
    """

    supports_optimal_scale = False
    #: Extra per-family parameter channels after loc and log_scale (e.g. Student-t's log_df).
    extra_param_names = ()
    extra_shared_param_names = ()

    def __init__(
        self,
        scale="shared",
        init_scale=0.1,
        min_log_scale=-7.0,
        max_log_scale=7.0,
        name=None,
        reduction="sum_over_batch_size",
        dtype=None,
    ):
        owner = type(self).__name__
        if isinstance(scale, str):
            if scale not in SCALE_MODES or (scale == "optimal" and not self.supports_optimal_scale):
                allowed = [m for m in SCALE_MODES if m != "optimal" or self.supports_optimal_scale]
                raise ValueError(
                    f"{owner}: `scale` must be a number > 0 (fixed σ) or one of {allowed}, "
                    f"got {scale!r}."
                )
        else:
            scale = check_positive("scale", scale, owner)
        self.scale = scale
        self.init_scale = check_positive("init_scale", init_scale, owner)
        if not (math.isfinite(min_log_scale) and math.isfinite(max_log_scale)
                and min_log_scale < max_log_scale):
            raise ValueError(
                f"{owner}: need finite min_log_scale < max_log_scale, got "
                f"{min_log_scale!r} and {max_log_scale!r}."
            )
        self.min_log_scale = float(min_log_scale)
        self.max_log_scale = float(max_log_scale)
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    @property
    def learns_scale(self):
        return self.scale in ("learned", "shared")

    @property
    def param_names(self):
        return ("loc",) + (("log_scale",) if self.learns_scale else ()) + self.extra_param_names

    @property
    def shared_param_names(self):
        return (("log_scale",) if self.scale == "shared" else ()) + self.extra_shared_param_names

    @property
    def initial_params(self):
        initial = {name: 0.0 for name in self.param_names}
        if self.learns_scale:
            initial["log_scale"] = math.log(self.init_scale)
        return initial

    def log_scale(self, x, params):
        """The log σ in use: fixed, from the params channel, or the batch's optimum."""
        if self.scale == "optimal":
            mse = ops.mean(ops.square(x - params["loc"]))
            raw = 0.5 * ops.log(mse + 1e-12)
        elif self.learns_scale:
            raw = params["log_scale"]
        else:
            return math.log(self.scale)
        return soft_clip(raw, self.min_log_scale, self.max_log_scale)

    def elementwise_log_prob(self, x, params):
        return self.log_density(x, params["loc"], self.log_scale(x, params), params)

    def log_density(self, x, loc, log_scale, params):
        raise NotImplementedError

    def standard_sample(self, shape, params, seed):
        raise NotImplementedError

    def mean(self, params):
        return self.split_output_params(params)["loc"]

    def sample(self, params, seed=None):
        if self.scale == "optimal":
            raise ValueError(
                f"{self.name}: with scale='optimal' σ is set by a data batch, so p(x | z) "
                f"cannot be sampled without data; show mean(params), or use scale='shared'."
            )
        parts = self.split_output_params(params)
        loc = parts["loc"]
        scale = ops.exp(self.log_scale(None, parts))
        return loc + scale * self.standard_sample(ops.shape(loc), parts, seed)

    def get_config(self):
        return {
            **super().get_config(),
            "scale": self.scale,
            "init_scale": self.init_scale,
            "min_log_scale": self.min_log_scale,
            "max_log_scale": self.max_log_scale,
        }
