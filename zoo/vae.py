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

Other bounds on the same samples (Rainforth et al. 2018), ``bound=``: ``"miwae"``, ``"ciwae"``,
``"piwae"`` — parts of their own in ``zoo.bounds``, as priors and posteriors are. For these three
the logged ``elbo`` is the plain ELBO (the mean of log w_j over all samples).

Discrete data and a continuous likelihood: with ``data_levels=L`` the data x = k/(L−1) is
dequantized to y = (k + u)/L, u ~ U[0, 1), fresh each step, and log p(y|z) − D·log L is
used, so every number is a bound on the discrete data's log P(x) (DESIGN.md).

Grey data and a Bernoulli likelihood: with ``dynamic_binarization=True`` each training step
sees a fresh binarization x_b ~ Bernoulli(x) of data in [0, 1] (the MNIST protocol of Burda et
al. 2016 and most later papers; it regularizes). Validation and test data must be binary:
binarize them once (``zoo.datasets.binarize``), so every evaluation scores the same images.

This module is the model's math: the parts (``zoo.priors``, ``zoo.posteriors``, ``zoo.bounds``,
the likelihood from ``losses``) and how they combine. What ``compile`` / ``fit`` / ``evaluate`` /
``predict`` add for speed and clear data errors is ``zoo.training.fitting``.

Logged metrics, per example, summed over dimensions, in nats: ``loss`` (what is minimized:
β, KL warm-up and free bits included), ``elbo`` (the bound at β = 1), ``reconstruction``
(−E log p(x|z)), ``kl`` (E[log q − log p], or analytic) and ``bits_per_dim`` (−elbo/(D ln 2)).
"""

import math

import keras
from keras import ops

import losses
from losses.base import check_integer, check_non_negative, random_uniform
from zoo import bounds, posteriors, priors
from zoo.arguments import (KL_ESTIMATORS, analytic_kl, checked_dynamic_binarization,  # noqa: F401
                           checked_free_bits, checked_levels, checked_part)
from zoo.heads import LikelihoodHead
# Re-exported: what compile() defaults to, by backend, lives with the rest of fit's machinery.
from zoo.training.fitting import (DEFAULT_JIT_COMPILE, DEFAULT_STEPS_PER_EXECUTION,  # noqa: F401
                                  JIT_COMPILE_OPTIONS, Fitting, ObjectiveMeans)

BOUNDS = bounds.NAMES  # ("iwae", "miwae", "piwae", "ciwae")


@keras.saving.register_keras_serializable(package="zoo")
class VAE(Fitting, keras.Model):
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
            (Rainforth et al. 2018), or a ``zoo.bounds`` object, which carries its own k and m.
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
        self.prior = checked_part("prior", prior, priors, self.PRIORS, owner)
        self.posterior = checked_part("posterior", posterior, posteriors, self.POSTERIORS, owner)
        if self.prior.uses_encoder and self.condition_dim:
            raise ValueError(f"{owner}: prior={self.prior.name!r} is built from q(z|x), which a conditional "
                             f"model also conditions on labels; use prior='standard_normal' or 'mog'.")
        self.beta = check_non_negative("beta", beta, owner)
        #: The bound object (zoo.bounds); ``bound`` is its name, ``k``, ``m``, ``ciwae_beta`` its settings.
        self.lower_bound = bounds.get(bound, k, m, ciwae_beta, owner)
        self.kl = kl
        #: The analytic KL replaces the sampled log-ratio (one sample, a closed form, not refused).
        self.analytic_kl = analytic_kl(kl, self.prior, self.posterior, self.lower_bound, owner)
        self.kl_warmup_steps = int(check_non_negative("kl_warmup_steps", kl_warmup_steps, owner))
        self.free_bits = checked_free_bits(free_bits, self.analytic_kl, self, owner)
        self.data_levels = checked_levels(data_levels, self.likelihood, owner)
        self.dynamic_binarization = checked_dynamic_binarization(dynamic_binarization, self.likelihood, owner)
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

    # The bound's name (``zoo.bounds.names()``) and settings; m·k samples of z per example a step.
    bound = property(lambda self: self.lower_bound.name)
    k = property(lambda self: self.lower_bound.k)
    m = property(lambda self: self.lower_bound.m)
    ciwae_beta = property(lambda self: getattr(self.lower_bound, "beta", None))
    num_samples = property(lambda self: self.lower_bound.num_samples)

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
        """Per-example terms (batch,): loss, elbo, reconstruction, kl (all nats), from the bound."""
        return self.lower_bound.objective(self, x, condition, self.kl_weight())

    def _split_inputs(self, x, y=None):
        """(data, condition) from what Keras passes; the conditional model overrides it."""
        return x, None

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
