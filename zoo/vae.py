"""The base VAE: encoder → q(z|x) (``zoo.posteriors``), prior p(z) (``zoo.priors``), decoder → p(x|z).

Trained through ``compute_loss``, so ``model.compile(optimizer=...)``, ``model.fit(x)``,
``model.evaluate(x)`` and ``model.predict(x)`` work as for any Keras model. The objective,
with k importance samples z_j ~ q(z|x) (Burda et al. 2016; k = 1 is the usual ELBO):

    log w_j = log p(x | z_j) + log p(z_j) − log q(z_j | x)
    bound   = log (1/k) Σ_j w_j      ≤ log p(x)

log q comes from the posterior object (a flow's includes its log-determinants) and log p(z)
from the prior object, so the bound and ``zoo.log_likelihood`` stay exact for every family.
For k = 1 the KL term is analytic where it has a closed form (standard normal prior, Gaussian
posterior: ``kl="auto"`` or ``"analytic"``), else the single-sample log q(z|x) − log p(z) of
the TensorFlow CVAE tutorial (``kl="monte_carlo"``, and what ``"auto"`` means for a mixture or
VampPrior prior or a flow posterior).

Other bounds on the same samples (Rainforth et al. 2018), ``bound=``: ``"miwae"`` averages m
IWAE bounds of k samples each; ``"ciwae"`` is β_c·ELBO + (1 − β_c)·IWAE_k; ``"piwae"`` trains
the generative network on IWAE_{m·k} and the inference network on MIWAE(m, k). For these three
the logged ``elbo`` is the plain ELBO (the mean of log w_j over all samples).

Discrete data and a continuous likelihood: with ``data_levels=L`` the data x = k/(L−1) is
dequantized to y = (k + u)/L, u ~ U[0, 1), fresh each step, and log p(y|z) − D·log L is
used, so every number is a bound on the discrete data's log P(x) (DESIGN.md).

Grey data and a Bernoulli likelihood: with ``dynamic_binarization=True`` each training step
sees a fresh binarization x_b ~ Bernoulli(x) of data in [0, 1] (the MNIST protocol of Burda et
al. 2016 and most later papers; it regularizes). Validation and test data must be binary:
binarize them once (``zoo.datasets.binarize``), so every evaluation scores the same images.

Logged metrics, per example, summed over dimensions, in nats: ``loss`` (what is minimized:
β, KL warm-up and free bits included), ``elbo`` (the bound at β = 1), ``reconstruction``
(−E log p(x|z)), ``kl`` (E[log q − log p], or analytic) and ``bits_per_dim`` (−elbo/(D ln 2)).
"""

import math
import warnings

import numpy as np
import keras
from keras import ops

import losses
from losses import DataError
from losses.base import check_integer, check_non_negative, random_uniform
from zoo import posteriors, priors
from zoo.heads import LikelihoodHead
from zoo.training.callbacks import ProgressBar, StopOnNaN
from zoo.training.distribution import (PaddedBatches, check_batch_size, device_count, pad_batches,
                                       sum_over_replicas)
from zoo.training.batches import ContiguousBatches, torch_loader
from zoo.training.batches import arrays as _arrays
from zoo.training.jax_cpu_check import check_reductions
from zoo.training.multistep import scanned, steps_per_execution_for
from zoo.training.torch_graph import compiled_test_function, compiled_train_function

KL_ESTIMATORS = ("auto", "analytic", "monte_carlo")
BOUNDS = ("iwae", "miwae", "piwae", "ciwae")
#: ``compile``'s default ``steps_per_execution`` by backend (others: Keras' 1). Keras' TensorFlow
#: ``fit`` spends ~1.5–2 ms of Python per call of its compiled step (the iterator's
#: get_next_as_optional, tf.function argument binding), as long as the whole 784-200-200-50
#: VAE step at batch 20; 10 steps per call measured 1.5–1.9× faster (bench/README.md). On JAX
#: the zoo scans the N steps in one jitted call (``zoo.training.multistep``), which Keras does not.
DEFAULT_STEPS_PER_EXECUTION = {"tensorflow": 10, "jax": 10}
#: ``compile``'s default ``jit_compile`` by backend (others: Keras' "auto", XLA on JAX, eager
#: on PyTorch). Keras' "auto" leaves XLA off on a TensorFlow CPU; on the VAE step XLA measured
#: 1.85 against 2.7 ms at batch 128 and 0.77 against 1.3 at batch 20 (bench/README.md).
#: On PyTorch "auto" traces the step into one graph of aten ops after a few eager steps and runs
#: it without torch.compile (``zoo/training/torch_graph.py``): hand-written eager speed, no C++
#: compiler, no ~15 s compile; jit_compile=True adds torch.compile.
DEFAULT_JIT_COMPILE = {"tensorflow": True}
#: ``jit_compile`` values by their command-line spelling (train.py, bench/likelihood.py).
JIT_COMPILE_OPTIONS = {"auto": "auto", "true": True, "false": False}


class ObjectiveMeans(keras.metrics.Metric):
    """Running means of several per-example terms, reported by name.

    One variable and one update per step instead of a ``keras.metrics.Mean`` per term: in
    eager PyTorch each Mean costs a handful of small ops every step.
    """

    def __init__(self, names, name="objective_means", **kwargs):
        super().__init__(name=name, **kwargs)
        self.names = tuple(names)
        self.totals = self.add_variable(shape=(len(self.names),), initializer="zeros", name="totals")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, values, weights=None):
        """``values``: (number of names, batch); ``weights``: (batch,) per example, or None."""
        values = ops.cast(values, self.dtype)
        if weights is None:
            self.totals.assign_add(ops.sum(values, axis=1))
            self.count.assign_add(ops.cast(ops.shape(values)[1], self.dtype))
            return
        weights = ops.cast(weights, self.dtype)
        self.totals.assign_add(ops.sum(values * weights, axis=1))
        self.count.assign_add(ops.sum(weights))

    def result(self):
        means = self.totals / ops.maximum(self.count, 1.0)
        return {name: means[i] for i, name in enumerate(self.names)}

    def get_config(self):
        return {**super().get_config(), "names": list(self.names)}


def with_progress_bar(callbacks, verbose):
    """``callbacks`` as a list, with the zoo's ``ProgressBar`` where Keras would add its own.

    A ``CallbackList`` passes through: that is ``fit`` validating through ``evaluate``."""
    if isinstance(callbacks, keras.callbacks.CallbackList):
        return callbacks
    callbacks = list(callbacks or [])
    if verbose != 0 and not any(isinstance(c, keras.callbacks.ProgbarLogger) for c in callbacks):
        callbacks.append(ProgressBar())
    return callbacks


@keras.saving.register_keras_serializable(package="zoo")
class VAE(keras.Model):
    """A variational autoencoder with a normalized likelihood p(x|z), for every Keras backend.

    Args:
        encoder: a layer mapping x (batch, *input_shape) to features (batch, ...).
        decoder: a layer mapping z (batch, latent_dim) to features, flat or with the
            data's spatial shape; a ``LikelihoodHead`` turns them into likelihood params.
        input_shape: shape of one example, e.g. ``(28, 28, 1)``.
        latent_dim: size of z.
        likelihood: a name for ``losses.get`` or a ``losses.Likelihood``.
        prior: p(z), a name for ``zoo.priors.get`` (``standard_normal``, ``mog``,
            ``vampprior``) or a prior layer.
        posterior: q(z|x), a name for ``zoo.posteriors.get`` (``gaussian``, ``planar``,
            ``iaf``) or a posterior layer.
        beta: weight of the KL term in the loss (the logged ``elbo`` always uses 1).
        kl: ``"auto"`` (analytic where there is a closed form, else Monte Carlo),
            ``"analytic"`` or ``"monte_carlo"`` (k = 1 only; k > 1 uses importance weights).
        k: importance samples per example (per bound, for MIWAE / PIWAE); k > 1 trains the
            IWAE bound.
        bound: ``"iwae"`` (the ELBO for k = 1), ``"miwae"``, ``"piwae"`` or ``"ciwae"``
            (Rainforth et al. 2018; see the module docstring).
        m: how many k-sample bounds MIWAE and PIWAE average (m·k samples per example).
        ciwae_beta: β_c of CIWAE, in [0, 1] (default 0.5).
        kl_warmup_steps: ramp the KL weight linearly from 0 to β over this many steps.
        free_bits: minimum nats per latent dimension in the loss (batch-averaged KL).
        data_levels: number of levels of discrete data (2 binary, 17 digits, 256 8-bit)
            stored as k/(L−1); continuous likelihoods then see dequantized data. None for
            data that is continuous already.
        dynamic_binarization: train on x_b ~ Bernoulli(x), drawn afresh each step, from data
            in [0, 1]; needs the Bernoulli likelihood. Evaluation data must be binary.
        seed: seed of the model's ``SeedGenerator`` (None: from Keras' global seed).

    Example:
    >>> model = zoo.MLPVAE(input_shape=(28, 28, 1), latent_dim=50, likelihood="bernoulli")
    >>> model.compile(optimizer="adam")
    >>> model.fit(x_train, epochs=10, validation_data=(x_valid,))
    """

    def __init__(
        self,
        encoder,
        decoder,
        input_shape,
        latent_dim,
        likelihood="bernoulli",
        prior="standard_normal",
        posterior="gaussian",
        beta=1.0,
        kl="auto",
        k=1,
        bound="iwae",
        m=1,
        ciwae_beta=None,
        kl_warmup_steps=0,
        free_bits=0.0,
        data_levels=None,
        dynamic_binarization=False,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.data_shape = tuple(check_integer("input_shape entries", d, owner) for d in input_shape)
        self.latent_dim = check_integer("latent_dim", latent_dim, owner)
        self.likelihood = losses.get(likelihood)
        self.prior = self._checked_part("prior", prior, priors, self.PRIORS, owner)
        self.posterior = self._checked_part("posterior", posterior, posteriors, self.POSTERIORS, owner)
        if self.prior.uses_encoder and self.condition_dim:
            raise ValueError(f"{owner}: prior={self.prior.name!r} is built from q(z|x), which a conditional "
                             f"model also conditions on labels; use prior='standard_normal' or 'mog'.")
        self.beta = check_non_negative("beta", beta, owner)
        self.k = check_integer("k", k, owner)
        self._check_bound(bound, m, ciwae_beta, owner)
        if kl not in KL_ESTIMATORS:
            raise ValueError(f"{owner}: `kl` must be one of {KL_ESTIMATORS}, got {kl!r}.")
        closed_form = self.prior.has_analytic_kl and self.posterior.has_analytic_kl
        if kl == "analytic" and not closed_form:
            raise ValueError(
                f"{owner}: kl='analytic' needs a closed-form KL(q‖p), which q = {self.posterior.describe()} "
                f"and p(z) = {self.prior.describe()} do not have; use kl='auto' or 'monte_carlo' "
                f"(log q(z|x) − log p(z) at the sampled z).")
        self.kl = kl
        #: The analytic KL replaces the sampled log-ratio (one sample, a closed form, not refused).
        self.analytic_kl = closed_form and kl != "monte_carlo" and self.num_samples == 1
        self.kl_warmup_steps = int(check_non_negative("kl_warmup_steps", kl_warmup_steps, owner))
        self.free_bits = check_non_negative("free_bits", free_bits, owner)
        if self.free_bits and not self.analytic_kl:
            raise ValueError(f"{owner}: free_bits needs a per-dimension analytic KL: one sample (k=1, "
                             f"bound='iwae'), kl='auto' or 'analytic', a standard normal prior and a "
                             f"Gaussian posterior; got k={self.k}, bound={self.bound!r}, kl={kl!r}, prior "
                             f"{self.prior.describe()}, posterior {self.posterior.describe()}.")
        self.data_levels = self._check_levels(data_levels, owner)
        self.dynamic_binarization = bool(dynamic_binarization)
        if self.dynamic_binarization and not (self.likelihood.is_discrete and self.likelihood.levels == 2):
            raise ValueError(f"{owner}: dynamic_binarization draws binary data, which needs the "
                             f"bernoulli likelihood, not {self.likelihood.name!r}.")
        self.seed = seed
        self.num_dims = math.prod(self.data_shape)

        self.encoder = encoder
        self.decoder = decoder
        self.head = LikelihoodHead(self.likelihood, self.data_shape, name="likelihood_head")
        self.seed_generator = keras.random.SeedGenerator(seed)
        # Counts training steps for the KL warm-up; saved with the model, so a resumed run
        # continues the ramp.
        self.training_steps = self.add_weight(shape=(), initializer="zeros", trainable=False,
                                              dtype="float32", name="training_steps",
                                              aggregation="only_first_replica")  # one count per step
        self.objective_means = ObjectiveMeans(("loss", "elbo", "reconstruction", "kl", "bits_per_dim"))
        self.build((None,) + self.data_shape)

    #: The prior and posterior names this architecture can take (a subclass narrows them).
    PRIORS = ("standard_normal", "mog", "vampprior")
    POSTERIORS = ("gaussian", "planar", "iaf")

    @staticmethod
    def _checked_part(argument, identifier, module, allowed, owner):
        """The prior or posterior layer, if this architecture can use it; else a one-line error."""
        try:
            part = module.get(identifier)
        except ValueError as error:
            raise ValueError(f"{owner}: `{argument}`: {error}") from None
        name = next((n for n, cls in module._REGISTRY.items() if type(part) is cls), None)
        if name not in allowed:
            raise ValueError(f"{owner}: {argument}={name or type(part).__name__!r} does not work with this "
                             f"model; valid choices: {', '.join(allowed)}.")
        return part

    def _check_bound(self, bound, m, ciwae_beta, owner):
        if bound not in BOUNDS:
            raise ValueError(f"{owner}: `bound` must be one of {BOUNDS}, got {bound!r}.")
        self.bound = bound
        self.m = check_integer("m", m, owner)
        if self.m > 1 and bound not in ("miwae", "piwae"):
            raise ValueError(f"{owner}: m={self.m} (bounds averaged) applies to bound='miwae' or "
                             f"'piwae', not {bound!r}.")
        if ciwae_beta is not None and bound != "ciwae":
            raise ValueError(f"{owner}: ciwae_beta applies to bound='ciwae', not {bound!r}.")
        if bound == "ciwae":
            ciwae_beta = 0.5 if ciwae_beta is None else check_non_negative("ciwae_beta", ciwae_beta, owner)
            if ciwae_beta > 1:
                raise ValueError(f"{owner}: `ciwae_beta` must lie in [0, 1], got {ciwae_beta}.")
        self.ciwae_beta = ciwae_beta

    @property
    def num_samples(self):
        """Samples of z per example in each training step: m·k."""
        return self.m * self.k

    def _check_levels(self, levels, owner):
        if levels is None:
            return None
        levels = check_integer("data_levels", levels, owner)
        if levels < 2:
            raise ValueError(f"{owner}: `data_levels` must be ≥ 2, got {levels}.")
        lik = self.likelihood
        if lik.is_discrete and lik.levels != levels:
            raise ValueError(
                f"{owner}: likelihood {lik.name!r} models {lik.levels}-level data, but "
                f"data_levels={levels}. "
                + ("Binarize the data or use a continuous likelihood (e.g. continuous_bernoulli)."
                   if lik.levels == 2 else f"Use {lik.name}(levels={levels}).")
            )
        return levels

    def __setattr__(self, name, value):
        # Keras' JAX `fit` stores the whole training state in `self._jax_state` after every
        # step; Layer.__setattr__ then walks it (thousands of calls) looking for variables to
        # track, none of which it holds: ~0.35 ms a step, ~8% of the 784-200-200-50 VAE's step
        # at batch 128 (bench/README.md). A plain attribute is all `jax_state_sync` needs.
        if name == "_jax_state":
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    # -- networks -------------------------------------------------------------------------
    def build(self, input_shape=None):
        """Build every sublayer from the data shape (symbolically, no computation)."""
        features = self.encoder(keras.KerasTensor((None,) + self.data_shape))
        self.posterior.build(math.prod(features.shape[1:]) + self.condition_dim, self.posterior_dim)
        self.prior.build(self.latent_dim, self.data_shape)
        decoded = self.decoder(keras.KerasTensor((None, self.latent_dim + self.condition_dim)))
        self.head.build(decoded.shape)
        self.built = True

    #: Width of the condition vector concatenated to encoder features and to z (0: none).
    condition_dim = 0

    @property
    def posterior_dim(self):
        """Size of the latent layer the encoder's posterior head describes."""
        return self.latent_dim

    def _with_condition(self, tensor, condition):
        return tensor if condition is None else ops.concatenate([tensor, condition], axis=-1)

    def posterior_params(self, x, condition=None):
        """q(z|x)'s parameters, (batch, posterior.param_count): the Gaussian's and a flow's."""
        features = self.encoder(x)
        features = ops.reshape(features, (ops.shape(features)[0], -1))
        return self.posterior(self._with_condition(features, condition))

    def encode(self, x, condition=None):
        """q(z|x): returns (z_mean, z_log_var), each (batch, latent_dim) — for a flow
        posterior, of its base Gaussian."""
        return self.posterior.gaussian(self.posterior_params(x, condition))

    def decode(self, z, condition=None):
        """p(x|z): the likelihood's params, shape (batch, *input_shape (, params_per_dim))."""
        return self.head(self.decoder(self._with_condition(z, condition)))

    def call(self, x, training=False):
        """The reconstruction E[x | z = E_q z] (deterministic).

        In training mode (``fit``) it returns the per-example objective terms instead, which
        ``compute_loss`` reduces: each training step then runs the networks once.
        """
        x, condition = self._split_inputs(x)
        if training:
            if self.dynamic_binarization:
                x = losses.bernoulli_sample(x, seed=self.seed_generator)
            return self.objective(x, condition)
        return self.reconstruct(x, condition)

    def reconstruct(self, x, condition=None):
        z = self.posterior.point(self.posterior_params(x, condition))
        return self.likelihood.mean(self.decode(z, condition))

    def sample(self, num_samples, seed=None, mean=True):
        """Decode z ~ p(z): the likelihood's mean (``mean=True``) or a draw from it."""
        return self._sample_prior(num_samples, None, seed, mean)

    def _sample_prior(self, num_samples, condition, seed, mean):
        seed = self.seed_generator if seed is None else seed
        z = self.prior.sample(num_samples, seed, self.encode)
        params = self.decode(z, condition)
        return self.likelihood.mean(params) if mean else self.likelihood.sample(params, seed=seed)

    # -- the objective ----------------------------------------------------------------------
    def kl_weight(self):
        """β times the warm-up ramp min(1, step / kl_warmup_steps)."""
        if not self.kl_warmup_steps:
            return self.beta
        return self.beta * ops.minimum(1.0, self.training_steps / self.kl_warmup_steps)

    def observe(self, x, k):
        """What log p(x | z) scores for k samples per example, and the nats that put it on the
        discrete scale: x itself (broadcast against the samples), or with ``data_levels`` and a
        continuous likelihood y = (round(x·(L−1)) + u)/L, fresh u ~ U[0, 1)^D per sample,
        (k·batch, ...) sample-major, and D·log L."""
        if self.data_levels is None or self.likelihood.is_discrete:
            return x, 0.0
        levels = self.data_levels
        shape = ops.shape(x)
        # Drawn example-major, as the posterior's (zoo.posteriors.example_major_normal).
        noise = random_uniform((shape[0], k) + tuple(shape[1:]), seed=self.seed_generator, dtype=x.dtype)
        noise = ops.moveaxis(noise, 1, 0) if k > 1 else ops.reshape(noise, (1,) + tuple(shape))
        y = (ops.round(x * (levels - 1)) + noise) / levels
        return ops.reshape(y, (-1,) + tuple(shape[1:])), losses.dequantization_nats(self.num_dims, levels)

    def _log_px(self, observed, k, params):
        """log p(x | z_j) on the discrete scale, (k, batch), for ``observed = observe(x, k)`` and
        the params of k samples per example stacked sample-major, (k·batch, ...).

        Scored on flat (rows, D) views of the data and params: the data's shape is what users
        see, not what the likelihood sums over, so (28, 28, 1) costs what (784,) does."""
        target, offset = observed
        target = ops.reshape(target, (-1, self.num_dims))
        channels = tuple(params.shape[1 + len(self.data_shape):])  # (c,) for c > 1 per dim
        if isinstance(offset, float) and not offset:
            # x broadcasts against the k samples: no k-fold copy of the data (eager PyTorch
            # would make one per evaluation step).
            params = ops.reshape(params, (k, -1, self.num_dims) + channels)
            return self.likelihood.log_prob(target, params)
        params = ops.reshape(params, (-1, self.num_dims) + channels)
        return ops.reshape(self.likelihood.log_prob(target, params) - offset, (k, -1))

    # -- inference and generation: what a hierarchical model overrides ------------------------
    def sample_posterior(self, x, k, condition=None, with_log_q=True):
        """k draws of the latents per example from q(·|x), sample-major (k·batch, ...), with
        log q (k·batch,; may be None unless ``with_log_q``) and the base Gaussian's (mean,
        log_var) per draw (for the analytic KL)."""
        return self.posterior.sample(self.posterior_params(x, condition), k, self.seed_generator, with_log_q)

    def log_joint(self, observed, latents, k, condition=None, with_prior=True):
        """log p(x | latents) (k, batch) and log p(latents) (k·batch,), for ``observed`` from
        ``observe`` and latents from ``sample_posterior`` (``with_prior=False``: None)."""
        if condition is not None and k > 1:
            condition = ops.tile(condition, (k, 1))
        log_px = self._log_px(observed, k, self.decode(latents, condition))
        return log_px, self.prior.log_prob(latents, self.encode) if with_prior else None

    def log_weight_terms(self, x, k, condition=None, with_ratio=True):
        """Per-sample terms, each (k, batch): log p(x|z) on the discrete scale and
        log q(z|x) − log p(z), for z_j ~ q(z|x); also returns (z_mean, z_log_var).

        ``with_ratio=False`` skips the ratio (None) where the analytic KL replaces it."""
        latents, log_q, z_mean, z_log_var = self.sample_posterior(x, k, condition, with_log_q=with_ratio)
        log_px, log_p = self.log_joint(self.observe(x, k), latents, k, condition, with_prior=with_ratio)
        log_ratio = ops.reshape(log_q - log_p, (k, -1)) if with_ratio else None
        return log_px, log_ratio, z_mean, z_log_var

    def objective(self, x, condition=None):
        """Per-example terms (batch,): loss, elbo, reconstruction, kl (all nats)."""
        samples = self.num_samples
        if self.bound == "piwae":
            return self._piwae_objective(x, condition)
        log_px, log_ratio, z_mean, z_log_var = self.log_weight_terms(
            x, samples, condition, with_ratio=not self.analytic_kl)
        weight = self.kl_weight()
        if samples > 1 or self.bound != "iwae":
            return self._bound_terms(log_px, log_ratio, log_px - weight * log_ratio)
        reconstruction = -log_px[0]
        if self.analytic_kl:
            kl_per_dim = losses.gaussian_kl_per_dim(z_mean, z_log_var)
            kl = ops.sum(kl_per_dim, axis=-1)
        else:
            kl = log_ratio[0]
        kl_in_loss = kl
        if self.free_bits:
            # Each latent dimension's batch-mean KL counts at least free_bits nats (Kingma et
            # al. 2016); shifting the per-example KL keeps its gradient zero-mean.
            floor = ops.sum(ops.maximum(ops.mean(kl_per_dim, axis=0), self.free_bits))
            kl_in_loss = kl - ops.mean(kl) + floor
        return {
            "loss": reconstruction + weight * kl_in_loss,
            "elbo": -(reconstruction + kl),
            "reconstruction": reconstruction,
            "kl": kl,
        }

    def _bound(self, log_w, bound=None):
        """The bound of ``log_w`` (samples, batch), per example: IWAE over all samples,
        MIWAE's mean of m IWAE bounds of k, or CIWAE's mix of the ELBO and IWAE."""
        bound = bound or self.bound
        if bound == "miwae":
            groups = ops.reshape(log_w, (self.m, self.k, -1))
            return ops.mean(ops.logsumexp(groups, axis=1), axis=0) - math.log(self.k)
        iwae = ops.logsumexp(log_w, axis=0) - math.log(ops.shape(log_w)[0])
        if bound == "ciwae":
            return self.ciwae_beta * ops.mean(log_w, axis=0) + (1.0 - self.ciwae_beta) * iwae
        return iwae

    def _bound_terms(self, log_px, log_ratio, weighted_log_w, loss=None):
        log_w = log_px - log_ratio
        plain = self.bound == "iwae"
        return {
            "loss": -self._bound(weighted_log_w) if loss is None else loss,
            # The IWAE bound itself; for MIWAE / PIWAE / CIWAE the plain ELBO, comparable across them.
            "elbo": self._bound(log_w) if plain else ops.mean(log_w, axis=0),
            "reconstruction": -ops.mean(log_px, axis=0),
            "kl": ops.mean(log_ratio, axis=0),
        }

    def _piwae_objective(self, x, condition):
        """PIWAE (Rainforth et al. 2018): the generative network's gradient is IWAE_{m·k}'s, the
        inference network's MIWAE(m, k)'s, from one set of m·k samples. With log w̄ the weights
        at stopped latents and stopped log q (a function of the generative parameters only),

            loss = −[IWAE_{mk}(log w̄) + MIWAE(log w) − MIWAE(log w̄)]:

        MIWAE(log w) and MIWAE(log w̄) are equal in value and in their generative gradient, so
        the generative parameters see IWAE_{mk}'s gradient and the inference ones MIWAE's.
        The generative terms are evaluated twice (a second decoder pass), on the same data."""
        samples = self.num_samples
        latents, log_q, _, _ = self.sample_posterior(x, samples, condition)
        observed = self.observe(x, samples)
        log_px, log_p = self.log_joint(observed, latents, samples, condition)
        fixed = keras.tree.map_structure(ops.stop_gradient, latents)
        fixed_log_px, fixed_log_p = self.log_joint(observed, fixed, samples, condition)
        weight = self.kl_weight()
        log_q = ops.reshape(log_q, (samples, -1))
        log_ratio = log_q - ops.reshape(log_p, (samples, -1))
        fixed_ratio = ops.stop_gradient(log_q) - ops.reshape(fixed_log_p, (samples, -1))
        weighted = log_px - weight * log_ratio
        fixed_weighted = fixed_log_px - weight * fixed_ratio
        loss = -(self._bound(fixed_weighted, "iwae") + self._bound(weighted, "miwae")
                 - self._bound(fixed_weighted, "miwae"))
        return self._bound_terms(log_px, log_ratio, weighted, loss=loss)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The batch's mean of the per-example loss, weighted by ``sample_weight`` (batch,) if
        given: the mask of a batch padded for data parallelism (zoo.training.distribution)."""
        terms = y_pred if isinstance(y_pred, dict) else self.objective(*self._split_inputs(x, y))
        if training and self.kl_warmup_steps:
            self.training_steps.assign_add(1.0)
        weights = None if sample_weight is None else ops.reshape(ops.cast(sample_weight, terms["loss"].dtype), (-1,))
        # `loss` is tracked here too, per example: Keras' own tracker weighs a batch by its size,
        # padding included; ours, reported under the same name, overrides it.
        self.objective_means.update_state(ops.stack([
            terms["loss"], terms["elbo"], terms["reconstruction"], terms["kl"],
            losses.bits_per_dim(-terms["elbo"], self.num_dims),
        ]), weights)
        if weights is None:
            return ops.mean(terms["loss"])
        # Over a tf.distribute strategy each replica holds part of the batch and their gradients
        # are summed: each divides by the whole batch's weight.
        return ops.sum(weights * terms["loss"]) / ops.maximum(sum_over_replicas(ops.sum(weights)), 1e-12)

    def _split_inputs(self, x, y=None):
        """(data, condition) from what Keras passes; the conditional model overrides it."""
        return x, None

    # -- input checks, on arrays, before Keras sees them --------------------------------------
    def check_data(self, x, training=False):
        """Raise ``DataError`` naming the problem and the fix if x cannot be modelled.

        ``training``: x is training data, which may be grey under dynamic binarization."""
        x = np.asarray(x)
        if x.ndim == len(self.data_shape) and x.shape == self.data_shape:
            raise DataError(f"{self.name}: got one example of shape {x.shape}; add a batch axis "
                            f"(x[None]).")
        if x.shape[1:] != self.data_shape:
            hint = ""
            if math.prod(x.shape[1:]) == self.num_dims:
                hint = f" Reshape it: x.reshape(-1, {', '.join(map(str, self.data_shape))})."
            raise DataError(f"{self.name}: data of shape {x.shape} does not match the model's "
                            f"input_shape {self.data_shape} (plus a batch axis).{hint}")
        if training and self.dynamic_binarization:
            losses.ContinuousBernoulli(name=f"{self.name} (dynamic_binarization)").check_data(x)
            return
        try:
            self.likelihood.check_data(x)
        except DataError as error:
            if not self.dynamic_binarization:
                raise
            raise DataError(f"{error} With dynamic_binarization, only training data may be grey: "
                            f"binarize validation and test data once, zoo.datasets.binarize(x).") from None
        if self.data_levels is not None and not self.likelihood.is_discrete:
            losses.DiscretizedLogistic(levels=self.data_levels, name=f"data_levels={self.data_levels}") \
                .check_data(x)
        elif np.issubdtype(x.dtype, np.integer) and not self.likelihood.is_discrete:
            # A density on integers is not a bound on anything: say how to make it one.
            warnings.warn(
                f"{self.name}: integer data ({x.dtype}, values {x.min()}…{x.max()}) under the "
                f"continuous likelihood {self.likelihood.name!r} without data_levels: its numbers "
                f"are densities, not bounds on the data's log-probability. Scale level k of L to "
                f"k/(L−1) and pass data_levels=L (8-bit: x / 255, data_levels=256).",
                stacklevel=3)

    def _checked(self, x, training=False):
        if isinstance(x, list) and x and not isinstance(x[0], np.ndarray):
            # Keras would answer "Unrecognized data type" and print the whole list.
            raise DataError(f"{self.name}: got a Python list of {len(x)} items; pass a numpy array "
                            f"(np.asarray(x, 'float32')) or a tf.data / torch DataLoader / generator.")
        if isinstance(x, np.ndarray):
            self.check_data(x, training)

    def compile(self, *args, steps_per_execution=None, jit_compile="auto", **kwargs):
        """Keras' ``compile``; ``steps_per_execution`` defaults to
        ``DEFAULT_STEPS_PER_EXECUTION`` (10 on TensorFlow and JAX, 1 on PyTorch), and on JAX
        ``fit`` on arrays then chooses it from the data: ~1/20 of an epoch per compiled call,
        at least 10 (``zoo.training.multistep.steps_per_execution_for``). With N > 1
        Keras calls batch-level callbacks every N steps, with the logs of the last one: pass
        ``steps_per_execution=1`` for a callback that must see every step. ``jit_compile``
        "auto" is ``DEFAULT_JIT_COMPILE`` (XLA on TensorFlow, too) unless ``run_eagerly``.
        Both are saved as "the default", so a file loads with the loading backend's. On PyTorch
        "auto" runs Keras' eager step for the first ``TRACE_AFTER_STEPS`` steps, then the step
        traced into one graph of aten ops (``zoo/training/torch_graph.py``), as fast as a
        hand-written eager loop; ``jit_compile=True`` compiles that graph with torch.compile
        (~15 s on a CPU, a C++ compiler); ``jit_compile=False`` keeps Keras' eager step. The
        traced steps draw their training noise from torch's default generator
        (``losses.base.random_normal``; ``keras.utils.set_random_seed`` seeds it)."""
        backend = keras.backend.backend()
        # Under a tf.distribute MirroredStrategy Keras' multi-step loop and XLA both fail (a
        # placeholder with no value; XLA's "variable on a different device"): one plain step.
        mirrored = device_count() > 1 and backend == "tensorflow"
        self._default_steps_per_execution = steps_per_execution is None
        if steps_per_execution is None:
            steps_per_execution = 1 if mirrored else DEFAULT_STEPS_PER_EXECUTION.get(backend, 1)
        self._default_jit_compile = jit_compile == "auto"
        if jit_compile == "auto" and not kwargs.get("run_eagerly"):
            jit_compile = False if mirrored else DEFAULT_JIT_COMPILE.get(backend, "auto")
        super().compile(*args, steps_per_execution=steps_per_execution, jit_compile=jit_compile,
                        **kwargs)
        if getattr(self, "optimizer", None) is not None and not self.optimizer.built:
            # Now, not at the first step (the model is built in __init__): a fresh model's
            # optimizer then has the saved one's variables, so `load_weights` restores Adam's
            # state instead of skipping it with a warning, and so does loading an untrained save.
            self.optimizer.build(self.trainable_variables)

    def make_train_function(self, force=False):
        if self.train_function is None or force:
            check_reductions()
            super().make_train_function(force)
            self.train_function = scanned(self, self.train_step, self.train_function)
            self.train_function = compiled_train_function(self, self.train_function)
        return self.train_function

    def make_test_function(self, force=False):
        if self.test_function is None or force:
            check_reductions()
            super().make_test_function(force)
            self.test_function = scanned(self, self.test_step, self.test_function)
            self.test_function = compiled_test_function(self, self.test_function)
        return self.test_function

    def make_predict_function(self, force=False):
        check_reductions()
        return super().make_predict_function(force)

    def get_compile_config(self):
        config = super().get_compile_config()
        if config and getattr(self, "_default_steps_per_execution", False):
            # Saved as "the loading backend's default": PyTorch refuses N > 1.
            config["steps_per_execution"] = None
        if config and getattr(self, "_default_jit_compile", False):
            # Likewise: JAX's resolved True would mean torch.compile on PyTorch.
            config["jit_compile"] = "auto"
        return config

    def compile_from_config(self, config):
        # Keras' own skips (with a warning) any model whose `compile` is overridden, as ours
        # is (for a default only): a reloaded model would come back uncompiled.
        # (`compile` builds the optimizer, so the saved optimizer state loads.)
        self.compile(**keras.saving.deserialize_keras_object(config))

    def fit(self, x=None, y=None, *args, validation_data=None, callbacks=None, **kwargs):
        self._checked(x, training=True)
        if isinstance(validation_data, (tuple, list)) and validation_data:
            self._checked(validation_data[0])
        elif isinstance(validation_data, np.ndarray):
            self._checked(validation_data)
            validation_data = (validation_data,)
        callbacks = with_progress_bar(callbacks, kwargs.get("verbose", "auto"))
        if not any(isinstance(c, StopOnNaN) for c in callbacks):
            callbacks.append(StopOnNaN())
        self._steps_per_execution_from_data(x, kwargs.get("batch_size"))
        padded = self._padded_batches(x, kwargs.get("batch_size"), kwargs.get("shuffle", True))
        if padded is None and self._contiguous_batches_apply(x, y, kwargs):
            x, y = ContiguousBatches(x, kwargs.pop("batch_size", None) or 32, kwargs.get("shuffle", True)), None
            if keras.backend.backend() == "torch":
                x = torch_loader(x)
            kwargs["shuffle"] = False  # the batches come in their epoch's order
        if padded is not None:
            kwargs.pop("batch_size", None)
            kwargs["shuffle"] = False  # PaddedBatches shuffles the examples, its pad stays last
            x, y = padded, None
            if isinstance(validation_data, (tuple, list)):
                batch_size = kwargs.get("validation_batch_size") or padded.batch_size
                validation_data = self._padded_batches(validation_data[0], batch_size, False) or validation_data
        return super().fit(x, y, *args, validation_data=validation_data, callbacks=callbacks,
                           **kwargs)

    def evaluate(self, x=None, y=None, *args, callbacks=None, **kwargs):
        self._checked(x)
        callbacks = with_progress_bar(callbacks, kwargs.get("verbose", "auto"))
        padded = self._padded_batches(x, kwargs.get("batch_size"), False)
        if padded is not None:
            kwargs.pop("batch_size", None)
            x, y = padded, None
        return super().evaluate(x, y, *args, callbacks=callbacks, **kwargs)

    def predict(self, x, *args, callbacks=None, **kwargs):
        callbacks = with_progress_bar(callbacks, kwargs.get("verbose", "auto"))
        devices = device_count()
        if devices > 1 and _arrays(x) and not args:
            # Every predict batch splits evenly over the devices; the padding is cut off again.
            x, kwargs["batch_size"], real = pad_batches(x, kwargs.get("batch_size") or 32, devices)
            return keras.tree.map_structure(lambda out: out[real], super().predict(x, callbacks=callbacks, **kwargs))
        return super().predict(x, *args, callbacks=callbacks, **kwargs)

    def _steps_per_execution_from_data(self, x, batch_size):
        """On JAX at compile()'s default, ``steps_per_execution`` from the size of ``x``
        (``zoo.training.multistep.steps_per_execution_for``), where the zoo scans the steps."""
        if not (getattr(self, "_default_steps_per_execution", False) and keras.backend.backend() == "jax"
                and device_count() == 1 and _arrays(x)):
            return
        leaves = keras.tree.flatten(x) if isinstance(x, (tuple, list)) else [x]
        example_bytes = sum(max(leaf.itemsize, 4) * int(np.prod(leaf.shape[1:])) for leaf in leaves)
        steps = steps_per_execution_for(len(leaves[0]), batch_size or 32, example_bytes)
        if steps != self.steps_per_execution:
            self.steps_per_execution = steps
            # Keras' step functions and the scan hold the group size: made anew at the next use.
            self.train_function = self.test_function = self.predict_function = None

    @staticmethod
    def _contiguous_batches_apply(x, y, fit_kwargs):
        """Whether ``fit`` feeds ``x`` as ``ContiguousBatches`` (zoo/training/batches.py): on JAX
        and PyTorch, for arrays alone (no targets, weights or split of Keras' to honour)."""
        others = ("sample_weight", "class_weight", "validation_split", "steps_per_epoch")
        return (keras.backend.backend() in ("jax", "torch") and y is None
                and not any(fit_kwargs.get(name) for name in others) and ContiguousBatches.applies(x))

    def _padded_batches(self, x, batch_size, shuffle):
        """Numpy data as ``PaddedBatches`` while batches are split over several devices
        (zoo.training.distribution); None otherwise. Targets are not the VAE's (a conditional
        model's labels travel inside x), so only x is batched."""
        devices = device_count()
        if devices == 1 or not _arrays(x):
            return None
        batch_size = batch_size or 32
        check_batch_size(batch_size, devices)
        return PaddedBatches(x, batch_size, devices, shuffle)

    # -- serialization ------------------------------------------------------------------------
    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "decoder": keras.saving.serialize_keras_object(self.decoder),
            **self._vae_config(),
        }

    def _vae_config(self):
        """The arguments every VAE subclass shares."""
        return {
            "input_shape": list(self.data_shape),
            "latent_dim": self.latent_dim,
            "likelihood": keras.saving.serialize_keras_object(self.likelihood),
            "prior": keras.saving.serialize_keras_object(self.prior),
            "posterior": keras.saving.serialize_keras_object(self.posterior),
            "beta": self.beta,
            "kl": self.kl,
            "k": self.k,
            "bound": self.bound,
            "m": self.m,
            "ciwae_beta": self.ciwae_beta,
            "kl_warmup_steps": self.kl_warmup_steps,
            "free_bits": self.free_bits,
            "data_levels": self.data_levels,
            "dynamic_binarization": self.dynamic_binarization,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("encoder", "decoder"):
            if key in config:
                config[key] = keras.saving.deserialize_keras_object(config[key])
        config["likelihood"] = losses.get(config["likelihood"])
        for key, module in (("prior", priors), ("posterior", posteriors)):
            if key in config:  # (absent in files saved before priors and posteriors existed)
                config[key] = module.get(config[key])
        return cls(**config)
