"""Normalized likelihoods p(x | params) and KL terms, in keras.ops, for every Keras backend.

Every ``log_prob`` is per example, summed over data dimensions, in nats, with all its
normalizing constants, so ELBOs of different likelihoods can be compared (see ``bits``).

>>> import losses
>>> lik = losses.get("huber", alpha=1.0)
>>> lik.log_prob(x, params)          # shape (batch,)
>>> model.compile(loss=losses.get("bernoulli"))   # as a Keras loss: −log p per example
"""

import functools

from losses.base import DataError, Likelihood, from_registry, soft_clip, sum_over_event_dims
from losses.bernoulli import Bernoulli, bernoulli_log_prob, bernoulli_sample
from losses.bits import bits_per_dim, dequantization_nats
from losses.continuous_bernoulli import (
    ContinuousBernoulli,
    continuous_bernoulli_log_normalizer,
    continuous_bernoulli_log_prob,
    continuous_bernoulli_mean,
)
from losses.discretized import DiscretizedLogistic, discretized_logistic_log_prob
from losses.gaussian import Gaussian, gaussian_log_prob
from losses.huber import Huber, huber_function, huber_log_normalizer, huber_log_prob
from losses.kl import (
    mixture_of_gaussians_log_prob,
    diagonal_gaussian_log_prob,
    gaussian_kl,
    gaussian_kl_per_dim,
    monte_carlo_kl,
    standard_normal_log_prob,
)
from losses.laplace import Laplace, laplace_log_prob
from losses.location_scale import LocationScale
from losses.logistic import Logistic, logistic_log_prob
from losses.student_t import StudentT, lgamma, student_t_log_prob

_REGISTRY = {
    "bernoulli": Bernoulli,
    "continuous_bernoulli": ContinuousBernoulli,
    "gaussian": Gaussian,
    "sigma_vae": functools.partial(Gaussian, scale="optimal"),
    "laplace": Laplace,
    "logistic": Logistic,
    "student_t": StudentT,
    "huber": Huber,
    "discretized_logistic": DiscretizedLogistic,
}


def names():
    """The likelihood names ``get`` accepts."""
    return sorted(_REGISTRY)


def get(identifier, **kwargs):
    """A likelihood from a name (with constructor arguments), a config dict, or an instance.

    >>> get("huber", alpha=1.345, scale="learned")
    >>> get("sigma_vae")                       # Gaussian with σ² = batch MSE
    """
    return from_registry(identifier, kwargs, _REGISTRY, Likelihood, "likelihood")


__all__ = [name for name in dir() if not name.startswith("_") and name not in ("functools", "from_registry")]
