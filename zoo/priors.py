"""Priors p(z) over a model's top latent layer: standard normal, a learned mixture, the VampPrior.

A prior is a Keras layer (its parameters are weights, trained and saved with the model) with

    log_prob(z, encode)       → (n,): log p(z), summed over latent dims, nats
    sample(n, seed, encode)   → (n, latent_dim)

``encode`` is the model's q(z|x) → (mean, log_var); the VampPrior is built from it. Only the
standard normal has a closed-form KL to a Gaussian q(z|x); with the other priors a model
uses the Monte-Carlo KL log q(z|x) − log p(z).

>>> zoo.MLPVAE(prior="vampprior")                           # K = 500 pseudo-inputs
>>> zoo.MLPVAE(prior=zoo.priors.MixtureOfGaussians(num_components=50))
"""

import math

import keras
from keras import ops

import losses
from losses.base import check_integer, check_positive, from_registry, soft_clip
from zoo.posteriors import MAX_LOG_VAR, MIN_LOG_VAR


@keras.saving.register_keras_serializable(package="zoo")
class StandardNormal(keras.layers.Layer):
    """p(z) = N(0, I), the usual prior; the base of the others. The model builds it:
    ``build(latent_dim, data_shape)``."""

    has_analytic_kl = True
    uses_encoder = False

    def get_build_config(self):
        return None  # built by the model that owns it

    def build(self, latent_dim, data_shape=None):
        if self.built:
            raise ValueError(f"{type(self).__name__}: this prior belongs to another model already; "
                             f"pass a new one (or its name) to each model.")
        self.latent_dim = check_integer("latent_dim", latent_dim, type(self).__name__)
        self.build_components(self.latent_dim, tuple(data_shape or ()))

    def build_components(self, latent_dim, data_shape):
        """Create the prior's variables (none for the standard normal)."""

    def log_prob(self, z, encode=None):
        return losses.standard_normal_log_prob(z)

    def sample(self, num_samples, seed, encode=None):
        return keras.random.normal((num_samples, self.latent_dim), seed=seed)

    def describe(self):
        return "N(0, I)"


class _Mixture(StandardNormal):
    """A mixture of K diagonal Gaussians, (means, log_vars, log_weights) from ``components``."""

    has_analytic_kl = False

    def __init__(self, num_components, **kwargs):
        super().__init__(**kwargs)
        self.num_components = check_integer("num_components", num_components, type(self).__name__)

    def components(self, encode=None):
        raise NotImplementedError

    def log_prob(self, z, encode=None):
        return losses.mixture_of_gaussians_log_prob(z, *self.components(encode))

    def sample(self, num_samples, seed, encode=None):
        means, log_vars, log_weights = self.components(encode)
        which = keras.random.categorical(log_weights[None], num_samples, seed=seed, dtype="int32")[0]
        eps = keras.random.normal((num_samples, self.latent_dim), seed=seed)
        return ops.take(means, which, axis=0) + ops.exp(0.5 * ops.take(log_vars, which, axis=0)) * eps

    def get_config(self):
        return {**super().get_config(), "num_components": self.num_components}


@keras.saving.register_keras_serializable(package="zoo")
class MixtureOfGaussians(_Mixture):
    """p(z) = Σ_k π_k·N(z; μ_k, diag σ_k²) with learned means, variances and weights.

    Args:
        num_components: K.
        init_spread: the means start as N(0, init_spread²) draws, the variances at 1, the
            weights equal.
    """

    def __init__(self, num_components=500, init_spread=1.0, **kwargs):
        super().__init__(num_components, **kwargs)
        self.init_spread = check_positive("init_spread", init_spread, "MixtureOfGaussians")

    def build_components(self, latent_dim, data_shape):
        shape = (self.num_components, latent_dim)
        self.means = self.add_weight(shape=shape, name="means",
                                     initializer=keras.initializers.RandomNormal(stddev=self.init_spread))
        self.log_vars = self.add_weight(shape=shape, initializer="zeros", name="log_vars")
        self.logits = self.add_weight(shape=(self.num_components,), initializer="zeros", name="logits")

    def components(self, encode=None):
        return (self.means, soft_clip(self.log_vars, MIN_LOG_VAR, MAX_LOG_VAR),
                ops.log_softmax(self.logits))

    def describe(self):
        return f"mixture of {self.num_components} Gaussians"

    def get_config(self):
        return {**super().get_config(), "init_spread": self.init_spread}


@keras.saving.register_keras_serializable(package="zoo")
class VampPrior(_Mixture):
    """The VampPrior (Tomczak & Welling 2018): p(z) = (1/K)·Σ_k q(z | u_k), the encoder's
    posterior at K learned pseudo-inputs u_k.

    The pseudo-inputs have the data's shape and are clipped into ``pseudo_input_range`` (the
    paper's hardtanh into [0, 1]); they start at N(init_mean, init_std²) values inside it, or
    at data: ``prior.initialize_from(x)``.

    Args:
        num_components: K, the number of pseudo-inputs.
        pseudo_input_range: (low, high) of the data, or None for unbounded data.
        init_mean, init_std: the pseudo-inputs' initial values.
    """

    uses_encoder = True

    def __init__(self, num_components=500, pseudo_input_range=(0.0, 1.0), init_mean=0.05,
                 init_std=0.01, **kwargs):
        super().__init__(num_components, **kwargs)
        if pseudo_input_range is not None:
            low, high = (float(v) for v in pseudo_input_range)
            if not (math.isfinite(low) and math.isfinite(high) and low < high):
                raise ValueError(f"VampPrior: `pseudo_input_range` must be (low, high) with low < high, "
                                 f"or None, got {pseudo_input_range!r}.")
            pseudo_input_range = (low, high)
        self.pseudo_input_range = pseudo_input_range
        self.init_mean = float(init_mean)
        self.init_std = check_positive("init_std", init_std, "VampPrior")

    def build_components(self, latent_dim, data_shape):
        if not data_shape:
            raise ValueError("VampPrior: its pseudo-inputs need the data's shape; build it through a model.")
        self.pseudo_inputs = self.add_weight(
            shape=(self.num_components,) + data_shape, name="pseudo_inputs",
            initializer=keras.initializers.RandomNormal(self.init_mean, self.init_std))

    def inputs(self):
        """The K pseudo-inputs, (K, *data_shape), inside ``pseudo_input_range``."""
        if self.pseudo_input_range is None:
            return self.pseudo_inputs
        return ops.clip(self.pseudo_inputs, *self.pseudo_input_range)

    def initialize_from(self, x, seed=0):
        """Start the pseudo-inputs at K examples of ``x`` drawn without replacement."""
        import numpy as np

        x = np.asarray(x, "float32")
        if x.shape[1:] != tuple(self.pseudo_inputs.shape[1:]) or len(x) < self.num_components:
            raise ValueError(f"VampPrior.initialize_from: need at least {self.num_components} examples of "
                             f"shape {tuple(self.pseudo_inputs.shape[1:])}, got {x.shape}.")
        chosen = np.random.default_rng(seed).choice(len(x), self.num_components, replace=False)
        self.pseudo_inputs.assign(x[chosen])

    def components(self, encode=None):
        if encode is None:
            raise ValueError("VampPrior: log_prob and sample need the model's encoder (encode=model.encode).")
        means, log_vars = encode(self.inputs())
        return means, log_vars, ops.full((self.num_components,), -math.log(self.num_components), means.dtype)

    def describe(self):
        return f"VampPrior, {self.num_components} pseudo-inputs"

    def get_config(self):
        return {**super().get_config(), "init_mean": self.init_mean, "init_std": self.init_std,
                "pseudo_input_range": None if self.pseudo_input_range is None else list(self.pseudo_input_range)}


_REGISTRY = {"standard_normal": StandardNormal, "mog": MixtureOfGaussians, "vampprior": VampPrior}


def names():
    """The prior names ``get`` accepts."""
    return sorted(_REGISTRY)


def get(identifier, **kwargs):
    """A prior layer from a name (with arguments), a config dict, or an instance."""
    return from_registry(identifier, kwargs, _REGISTRY, StandardNormal, "prior")
