"""Bounds on log p(x) from importance samples: one small class per bound, as priors and posteriors.

With m·k samples z_j ~ q(z|x) per example and log w_j = log p(x|z_j) + log p(z_j) − log q(z_j|x):

    IWAE_k       = log (1/k) Σ_j w_j                 (Burda et al. 2016; the ELBO for k = 1)
    MIWAE(m, k)  = (1/m) Σ_i IWAE_k(the i-th k)      (Rainforth et al. 2018)
    CIWAE_β      = β·ELBO + (1 − β)·IWAE_k
    PIWAE(m, k)  : the generative network trains on IWAE_{m·k}, the inference network on MIWAE(m, k)

A bound turns the per-sample terms the model computes, log p(x|z) and log q − log p (each
(samples, batch)), and the KL weight (β and its warm-up) into the per-example terms the model
logs: ``loss`` (what is minimized), ``elbo`` (the bound at weight 1: IWAE's own value; for MIWAE,
PIWAE and CIWAE the plain ELBO, the mean log-weight, which compares across them),
``reconstruction`` and ``kl``. The model keeps what is not a bound's business: the analytic KL
and free bits of the one-sample ELBO (IWAE with k = 1).

>>> zoo.MLPVAE(bound="miwae", k=3, m=2)
>>> zoo.MLPVAE(bound=zoo.bounds.CIWAE(k=4, beta=0.3))
"""

import math

import keras
from keras import ops

import losses
from losses.base import check_integer, check_non_negative


class Bound:
    """IWAE_{m·k}: the bound of all samples together (m is 1 for this bound)."""

    name = "iwae"
    takes_groups = False  # whether m > 1 means something

    def __init__(self, k=1, m=1, owner=None):
        owner = owner or type(self).__name__
        self.k = check_integer("k", k, owner)
        self.m = check_integer("m", m, owner)
        if self.m > 1 and not self.takes_groups:
            raise ValueError(f"{owner}: m={self.m} (bounds averaged) applies to bound='miwae' or "
                             f"'piwae', not {self.name!r}.")

    @property
    def num_samples(self):
        """Samples of z per example in each step: m·k."""
        return self.m * self.k

    def value(self, log_w):
        """The bound of ``log_w`` (samples, batch), per example."""
        return ops.logsumexp(log_w, axis=0) - math.log(ops.shape(log_w)[0])

    def logged_elbo(self, log_w):
        """What the model logs as ``elbo``: the bound itself here."""
        return self.value(log_w)

    def terms(self, log_px, log_ratio, kl_weight, loss=None):
        """The logged per-example terms from log p(x|z) and log q − log p, each (samples, batch)."""
        log_w = log_px - log_ratio
        return {
            "loss": -self.value(log_px - kl_weight * log_ratio) if loss is None else loss,
            "elbo": self.logged_elbo(log_w),
            "reconstruction": -ops.mean(log_px, axis=0),
            "kl": ops.mean(log_ratio, axis=0),
        }

    def objective(self, model, x, condition, kl_weight):
        """The terms for a batch: m·k draws from the model's posterior, scored by the model."""
        log_px, log_ratio, _, _ = model.log_weight_terms(x, self.num_samples, condition)
        return self.terms(log_px, log_ratio, kl_weight)

    def get_config(self):
        return {"name": self.name, "k": self.k, "m": self.m}

    def describe(self):
        return f"{self.name} (k={self.k}" + (f", m={self.m})" if self.takes_groups else ")")

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_config().items() if k != 'name')})"


class IWAE(Bound):
    """IWAE_k (Burda et al. 2016); for k = 1 the ELBO, whose KL the model may have in closed form."""

    def objective(self, model, x, condition, kl_weight):
        if self.num_samples > 1:
            return super().objective(model, x, condition, kl_weight)
        # The one-sample ELBO: the KL analytic where prior and posterior have it (model.analytic_kl),
        # with the model's free bits.
        log_px, log_ratio, z_mean, z_log_var = model.log_weight_terms(x, 1, condition, with_ratio=not model.analytic_kl)
        reconstruction = -log_px[0]
        if model.analytic_kl:
            kl_per_dim = losses.gaussian_kl_per_dim(z_mean, z_log_var)
            kl = ops.sum(kl_per_dim, axis=-1)
        else:
            kl = log_ratio[0]
        kl_in_loss = kl
        if model.free_bits:
            # Each latent dimension's batch-mean KL counts at least free_bits nats (Kingma et
            # al. 2016); shifting the per-example KL keeps its gradient zero-mean.
            floor = ops.sum(ops.maximum(ops.mean(kl_per_dim, axis=0), model.free_bits))
            kl_in_loss = kl - ops.mean(kl) + floor
        return {"loss": reconstruction + kl_weight * kl_in_loss, "elbo": -(reconstruction + kl),
                "reconstruction": reconstruction, "kl": kl}


class MIWAE(Bound):
    """The mean of m IWAE bounds of k samples each."""

    name = "miwae"
    takes_groups = True

    def value(self, log_w):
        groups = ops.reshape(log_w, (self.m, self.k, -1))
        return ops.mean(ops.logsumexp(groups, axis=1), axis=0) - math.log(self.k)

    def logged_elbo(self, log_w):
        return ops.mean(log_w, axis=0)


class CIWAE(Bound):
    """β·ELBO + (1 − β)·IWAE_k, β in [0, 1]."""

    name = "ciwae"

    def __init__(self, k=1, m=1, beta=None, owner=None):
        super().__init__(k, m, owner)
        owner = owner or type(self).__name__
        self.beta = 0.5 if beta is None else check_non_negative("ciwae_beta", beta, owner)
        if self.beta > 1:
            raise ValueError(f"{owner}: `ciwae_beta` must lie in [0, 1], got {self.beta}.")

    def value(self, log_w):
        return self.beta * ops.mean(log_w, axis=0) + (1.0 - self.beta) * super().value(log_w)

    def logged_elbo(self, log_w):
        return ops.mean(log_w, axis=0)

    def get_config(self):
        return {**super().get_config(), "beta": self.beta}


class PIWAE(MIWAE):
    """The generative network's gradient is IWAE_{m·k}'s, the inference network's MIWAE(m, k)'s,
    from one set of m·k samples. With log w̄ the weights at stopped latents and stopped log q
    (a function of the generative parameters only),

        loss = −[IWAE_{mk}(log w̄) + MIWAE(log w) − MIWAE(log w̄)]:

    MIWAE(log w) and MIWAE(log w̄) are equal in value and in their generative gradient, so the
    generative parameters see IWAE_{mk}'s gradient and the inference ones MIWAE's. The
    generative terms are evaluated twice (a second decoder pass), on the same data."""

    name = "piwae"

    def objective(self, model, x, condition, kl_weight):
        samples = self.num_samples
        latents, log_q, _, _ = model.sample_posterior(x, samples, condition)
        observed = model.observe(x, samples)
        log_px, log_p = model.log_joint(observed, latents, samples, condition)
        fixed = keras.tree.map_structure(ops.stop_gradient, latents)
        fixed_log_px, fixed_log_p = model.log_joint(observed, fixed, samples, condition)
        log_q = ops.reshape(log_q, (samples, -1))
        log_ratio = log_q - ops.reshape(log_p, (samples, -1))
        fixed_ratio = ops.stop_gradient(log_q) - ops.reshape(fixed_log_p, (samples, -1))
        weighted = log_px - kl_weight * log_ratio
        fixed_weighted = fixed_log_px - kl_weight * fixed_ratio
        loss = -(Bound.value(self, fixed_weighted) + self.value(weighted) - self.value(fixed_weighted))
        return self.terms(log_px, log_ratio, kl_weight, loss=loss)


_REGISTRY = {"iwae": IWAE, "miwae": MIWAE, "piwae": PIWAE, "ciwae": CIWAE}
NAMES = tuple(_REGISTRY)


def names():
    """The bound names ``get`` accepts."""
    return sorted(_REGISTRY)


def get(identifier, k=1, m=1, ciwae_beta=None, owner="bound"):
    """A bound from a name with the model's k, m and ``ciwae_beta``, a config dict, or an instance.

    An instance carries its own k and m: the model's must then be left at their defaults or agree."""
    if isinstance(identifier, Bound):
        given = {"k": (k, 1), "m": (m, 1)}
        clashes = [f"{name}={value}" for name, (value, default) in given.items()
                   if value != default and value != getattr(identifier, name)]
        if clashes or (ciwae_beta is not None and ciwae_beta != getattr(identifier, "beta", None)):
            raise ValueError(f"{owner}: bound={identifier!r} carries its own k, m and beta; "
                             f"leave {', '.join(clashes) or 'ciwae_beta'} out.")
        return identifier
    if isinstance(identifier, dict):
        config = dict(identifier)
        identifier = config.pop("name", None)
        k, m = config.pop("k", k), config.pop("m", m)
        ciwae_beta = config.pop("beta", ciwae_beta)
    if identifier not in _REGISTRY:
        raise ValueError(f"{owner}: `bound` must be one of {NAMES}, got {identifier!r}.")
    cls = _REGISTRY[identifier]
    if cls is CIWAE:
        return CIWAE(k, m, ciwae_beta, owner=owner)
    if ciwae_beta is not None:
        raise ValueError(f"{owner}: ciwae_beta applies to bound='ciwae', not {identifier!r}.")
    return cls(k, m, owner=owner)
