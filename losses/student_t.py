"""Student-t likelihood, with ν degrees of freedom fixed or learned (one shared ν).

log t_ν(x; μ, σ) = lgamma((ν+1)/2) − lgamma(ν/2) − ½·log(νπ) − log σ − (ν+1)/2·log(1 + z²/ν),
z = (x − μ)/σ.
"""

import math

import keras
from keras import ops

from losses.base import check_positive, soft_clip
from losses.location_scale import LocationScale

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
# Learned log ν is soft-clipped into [log 0.2, log 1000].
_MIN_LOG_DF, _MAX_LOG_DF = math.log(0.2), math.log(1000.0)


def lgamma(x):
    """log Γ(x) for x > 0 in keras.ops (Keras has none): shift to x + 6, then Stirling's series.

    log Γ(x) = log Γ(x+6) − log(x(x+1)…(x+5)), and for y ≥ 6
    log Γ(y) ≈ (y − ½)·log y − y + ½·log 2π + 1/(12y) − 1/(360y³) + 1/(1260y⁵) (error < 1e-8).
    """
    shift = x * (x + 1.0) * (x + 2.0) * (x + 3.0) * (x + 4.0) * (x + 5.0)
    y = x + 6.0
    inv = 1.0 / y
    inv2 = inv * inv
    series = inv * (1.0 / 12.0 - inv2 * (1.0 / 360.0 - inv2 / 1260.0))
    return (y - 0.5) * ops.log(y) - y + _HALF_LOG_2PI + series - ops.log(shift)


def student_t_log_normalizer(df):
    """lgamma((ν+1)/2) − lgamma(ν/2) − ½·log(νπ), for a number or a tensor ν > 0."""
    if isinstance(df, (int, float)):
        return math.lgamma((df + 1.0) / 2.0) - math.lgamma(df / 2.0) - 0.5 * math.log(df * math.pi)
    return lgamma((df + 1.0) / 2.0) - lgamma(df / 2.0) - 0.5 * ops.log(df * math.pi)


def student_t_log_prob(x, loc, log_scale, df):
    """log t_ν(x; μ, σ) = log-normalizer(ν) − log σ − (ν+1)/2·log1p(z²/ν); elementwise, nats."""
    z = (x - loc) * ops.exp(-log_scale)
    return student_t_log_normalizer(df) - log_scale - 0.5 * (df + 1.0) * ops.log1p(ops.square(z) / df)


@keras.saving.register_keras_serializable(package="zoo")
class StudentT(LocationScale):
    """Student-t p(x | μ, σ, ν); σ as in Gaussian, ν a number or ``"learned"`` (one shared ν).

    Args:
        df: degrees of freedom ν > 0, or ``"learned"`` (starts at ``init_df``).
        init_df: initial ν when learned.
        scale, init_scale, min_log_scale, max_log_scale: as in ``Gaussian``.
    """

    default_name = "student_t"

    def __init__(self, df=5.0, init_df=5.0, scale="shared", **kwargs):
        if isinstance(df, str) and df != "learned":
            raise ValueError(f"StudentT: `df` must be a number > 0 or 'learned', got {df!r}.")
        if df != "learned":
            df = check_positive("df", df, "StudentT")
        self.df = df
        self.init_df = check_positive("init_df", init_df, "StudentT")
        super().__init__(scale=scale, **kwargs)

    @property
    def extra_param_names(self):
        return ("log_df",) if self.df == "learned" else ()

    @property
    def extra_shared_param_names(self):
        return self.extra_param_names

    @property
    def initial_params(self):
        initial = super().initial_params
        if self.df == "learned":
            initial["log_df"] = math.log(self.init_df)
        return initial

    def degrees_of_freedom(self, params):
        if self.df == "learned":
            return ops.exp(soft_clip(params["log_df"], _MIN_LOG_DF, _MAX_LOG_DF))
        return self.df

    def log_density(self, x, loc, log_scale, params):
        return student_t_log_prob(x, loc, log_scale, self.degrees_of_freedom(params))

    def standard_sample(self, shape, params, seed):
        # t = ε / sqrt(χ²_ν / ν), χ²_ν = 2·Gamma(ν/2); one generator, two independent draws.
        seed = seed if isinstance(seed, keras.random.SeedGenerator) else keras.random.SeedGenerator(seed)
        df = ops.broadcast_to(ops.convert_to_tensor(self.degrees_of_freedom(params), self.dtype), shape)
        normal = keras.random.normal(shape, seed=seed, dtype=self.dtype)
        chi2 = 2.0 * keras.random.gamma(shape, alpha=df / 2.0, seed=seed, dtype=self.dtype)
        return normal * ops.sqrt(df / ops.maximum(chi2, 1e-30))

    def mean(self, params):
        """The location μ (the mean when ν > 1; for ν ≤ 1 the mean does not exist)."""
        return super().mean(params)

    def get_config(self):
        return {**super().get_config(), "df": self.df, "init_df": self.init_df}
