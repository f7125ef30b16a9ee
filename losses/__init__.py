"""Normalized likelihoods p(x | params) and KL terms, in keras.ops, for every Keras backend.

Every ``log_prob`` is per example, summed over data dimensions, in nats, with all its
normalizing constants, so ELBOs of different likelihoods can be compared (see ``bits``).

>>> import losses
>>> lik = losses.get("huber", alpha=1.0)
>>> lik.log_prob(x, params)          # shape (batch,)
>>> model.compile(loss=losses.get("bernoulli"))   # as a Keras loss: −log p per example
"""

import functools
import inspect

from losses.base import DataError, Likelihood, soft_clip, sum_over_event_dims
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
    if isinstance(identifier, Likelihood):
        if kwargs:
            raise ValueError(
                f"losses.get: got a likelihood instance {identifier!r} and arguments "
                f"{sorted(kwargs)}; pass a name to build one with arguments."
            )
        return identifier
    if isinstance(identifier, dict):
        import keras

        return keras.saving.deserialize_keras_object(identifier)
    if not isinstance(identifier, str):
        raise ValueError(
            f"losses.get: expected a likelihood name, config dict or Likelihood, "
            f"got {identifier!r}. Valid names: {', '.join(names())}."
        )
    key = identifier.strip().lower().replace("-", "_")
    if key not in _REGISTRY:
        raise ValueError(
            f"Unknown likelihood {identifier!r}. Valid names: {', '.join(names())}."
        )
    factory = _REGISTRY[key]
    try:
        return factory(**kwargs)
    except TypeError as error:
        cls = factory.func if isinstance(factory, functools.partial) else factory
        raise ValueError(
            f"likelihood {key!r} does not take {sorted(kwargs)}: {error}. "
            f"Its arguments: {_arguments(cls)}."
        ) from None


def _arguments(cls):
    params = []
    for klass in cls.__mro__:
        if "__init__" in vars(klass):
            params += [
                p for p in inspect.signature(klass.__init__).parameters
                if p not in ("self", "kwargs", "args") and p not in params
            ]
    return ", ".join(params)


__all__ = [name for name in dir() if not name.startswith("_") and name not in ("functools", "inspect")]
