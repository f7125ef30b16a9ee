"""The Ladder VAE (Sønderby et al. 2016): any number of stochastic layers, top-down inference.

Generative model:  z_L ~ p(z_L) (the model's prior),  z_i ~ p(z_i | z_{i+1}) = N(μ_p,i, σ²_p,i),
                   x ~ p(x | z_1).
Inference: a deterministic bottom-up pass d_1 = f_1(x), d_i = f_i(d_{i−1}) gives each layer an
estimate N(μ̂_i, σ̂²_i) from d_i; the top layer's posterior is that estimate, and going down
each layer's posterior merges its estimate with the generative p(z_i | z_{i+1}) by precision:

    σ_q⁻² = σ̂⁻² + σ_p⁻²,    μ_q = (μ̂·σ̂⁻² + μ_p·σ_p⁻²)·σ_q²,

so inference and generation share the top-down networks. log w = log p(x|z_1) + log p(z_L)
+ Σ_i log p(z_i|z_{i+1}) − Σ_i log q(z_i|·); the KL is Monte Carlo. Train it with a KL warm-up
(``kl_warmup_steps``), as the paper does, or the upper layers collapse.

The authors' code (github.com/casperkaae/LVAE, run_models.py, as its README runs it) differs
from that description in three ways, each an option here: the bottom-up pass feeds each block
the estimate's mean μ̂_{i−1}, not d_{i−1} (``bottom_up="means"``, its ``only_mu_up``); the
top-down pass of inference has networks of its own, not the generative ones
(``share_top_down=False``, its ``ladder_share_params False``); and each Gaussian head of the
ladder gives σ² = softplus(a) + 10⁻⁵ after batch normalization (``variance_head="softplus"``,
with ``batch_norm``), not a clipped log σ². The top layer's posterior stays the model's
``posterior`` (a clipped log σ², no batch normalization) in every case.
"""

import keras
from keras import ops

import losses
from losses.base import check_integer
from zoo.models.mlp import mlp
from zoo.posteriors import sample_diagonal_gaussian, tile_samples
from zoo.vae import VAE


def precision_weighted(mean_a, log_var_a, mean_b, log_var_b):
    """The product of N(μ_a, σ_a²) and N(μ_b, σ_b²), normalized: (mean, log_var)."""
    log_var = -ops.logaddexp(-log_var_a, -log_var_b)
    # σ⁻²_a / (σ⁻²_a + σ⁻²_b) = sigmoid(log σ²_b − log σ²_a), without overflow.
    weight_a = ops.sigmoid(log_var_b - log_var_a)
    return weight_a * mean_a + (1.0 - weight_a) * mean_b, log_var


@keras.saving.register_keras_serializable(package="zoo")
class LadderVAE(VAE):
    """A Ladder VAE with ``len(latent_dims)`` stochastic layers, the first nearest the data.

    Args:
        input_shape: shape of one example.
        latent_dims: sizes of z_1 … z_L, bottom to top (the paper's MNIST model: 64, 32, 16, 8, 4).
        hidden: width of each layer's deterministic block, bottom to top (512, 256, 128, 64, 32);
            block i maps d_{i−1} → d_i bottom-up, and z_{i+1} → p(z_i | z_{i+1}) top-down;
            p(x | z_1) uses block 1's width.
        layers_per_block: dense layers per block (2).
        activation: hidden activation (the paper: leaky ReLU).
        batch_norm: batch normalization in every block (the paper uses it).
        bottom_up: ``"features"`` (d_i = f_i(d_{i−1}), the paper's description) or ``"means"``
            (d_i = f_i(μ̂_{i−1}), the authors' code).
        share_top_down: whether inference's top-down pass uses the generative networks
            p(z_i | z_{i+1}) (True, the paper's description) or networks of its own (False, the
            authors' code).
        variance_head: ``"log_var"`` (a Dense layer's log σ², clipped as the posterior's) or
            ``"softplus"`` (σ² = softplus(a) + 10⁻⁵, with a batch normalization of the head's
            outputs when ``batch_norm``, the authors' code), for the ladder's Gaussian heads.
        likelihood, prior, k, bound, kl_warmup_steps, …: as in ``VAE`` (the KL is Monte Carlo).
    """

    BOTTOM_UP = ("features", "means")
    VARIANCE_HEADS = ("log_var", "softplus")
    #: The authors' code's floor under a softplus variance (its ``lv_eps_z``).
    SOFTPLUS_VARIANCE_FLOOR = 1e-5

    POSTERIORS = ("gaussian",)

    def __init__(self, input_shape=(28, 28, 1), latent_dims=(64, 32, 16, 8, 4),
                 hidden=(512, 256, 128, 64, 32), layers_per_block=2, activation="leaky_relu",
                 batch_norm=True, bottom_up="features", share_top_down=True, variance_head="log_var",
                 likelihood="bernoulli", **kwargs):
        if kwargs.pop("kl", "auto") not in ("auto", "monte_carlo"):
            raise ValueError("LadderVAE: the KL of several stochastic layers has no closed form; it always "
                             "uses kl='monte_carlo'.")
        self.latent_dims = tuple(check_integer("latent_dims entries", d, "LadderVAE") for d in latent_dims)
        self.hidden = tuple(check_integer("hidden entries", h, "LadderVAE") for h in hidden)
        if not self.latent_dims or len(self.hidden) != len(self.latent_dims):
            raise ValueError(f"LadderVAE: need one `hidden` width per stochastic layer, got latent_dims="
                             f"{self.latent_dims} and hidden={self.hidden}.")
        self.layers_per_block = check_integer("layers_per_block", layers_per_block, "LadderVAE")
        self.activation = activation
        self.batch_norm = bool(batch_norm)
        for name, value, choices in (("bottom_up", bottom_up, self.BOTTOM_UP),
                                     ("variance_head", variance_head, self.VARIANCE_HEADS)):
            if value not in choices:
                raise ValueError(f"LadderVAE: `{name}` must be one of {', '.join(map(repr, choices))}, got {value!r}.")
        if not isinstance(share_top_down, bool):
            raise ValueError(f"LadderVAE: `share_top_down` must be True or False, got {share_top_down!r}.")
        self.bottom_up_from, self.share_top_down, self.variance_head = bottom_up, share_top_down, variance_head
        if kwargs.get("latent_dim", self.latent_dims[-1]) != self.latent_dims[-1]:
            raise ValueError(f"LadderVAE: set the layers' sizes with latent_dims (the top one is the "
                             f"latent_dim), got latent_dim={kwargs['latent_dim']} and latent_dims={self.latent_dims}.")
        kwargs.pop("latent_dim", None)
        super().__init__(encoder=self._block(0, "encoder", flatten=True), decoder=self._block(0, "decoder"),
                         input_shape=input_shape, latent_dim=self.latent_dims[-1], likelihood=likelihood,
                         kl="monte_carlo", **kwargs)

    def _block(self, i, name, flatten=False):
        return mlp((self.hidden[i],) * self.layers_per_block, self.activation, name, flatten=flatten,
                   batch_norm=self.batch_norm)

    def _gaussian_heads(self, name):
        """The ladder layers' Gaussian heads below the top, 2·dim outputs each: Dense layers, and
        (softplus variance with batch norm) a BatchNormalization of each one's outputs."""
        top = len(self.latent_dims) - 1
        dense = [keras.layers.Dense(2 * self.latent_dims[i], name=f"{name}_{i + 1}") for i in range(top)]
        normalized = self.variance_head == "softplus" and self.batch_norm
        norms = [keras.layers.BatchNormalization(name=f"{name}_{i + 1}_batch_norm") for i in range(top)] if normalized else []
        return dense, norms

    @staticmethod
    def _head(heads, i, inputs):
        dense, norms = heads
        outputs = dense[i](inputs)
        return norms[i](outputs) if norms else outputs

    def _gaussian(self, params):
        """(mean, log_var) from a ladder head's outputs, by ``variance_head``."""
        if self.variance_head == "softplus":
            mean, raw = ops.split(params, 2, axis=-1)
            return mean, ops.log(losses.base.softplus(raw) + self.SOFTPLUS_VARIANCE_FLOOR)
        return self.posterior.split(params)

    def build(self, input_shape=None):
        top = len(self.latent_dims) - 1
        # Bottom-up: `encoder` is block 1 (x → d_1), `blocks_up[i]` maps d_{i+1} (or its estimate's
        # mean) → d_{i+2}; each d_i below the top gives an estimate through `estimates[i]`, the top
        # one through `posterior`.
        self.blocks_up = [self._block(i, f"block_up_{i + 1}") for i in range(1, top + 1)]
        self.estimates, self.estimate_norms = self._gaussian_heads("estimate")
        # Top-down: `blocks_down[i]` maps z_{i+2} → p(z_{i+1} | z_{i+2}) through `priors_down[i]`;
        # without sharing, inference's own `inference_blocks[i]` and `inference_heads[i]` do the same for q.
        self.blocks_down = [self._block(i, f"block_down_{i + 1}") for i in range(top)]
        self.priors_down, self.prior_norms = self._gaussian_heads("prior")
        if not self.share_top_down:
            self.inference_blocks = [self._block(i, f"inference_down_{i + 1}") for i in range(top)]
            self.inference_heads, self.inference_norms = self._gaussian_heads("inference")
        # The passes themselves, on symbolic inputs, build their layers.
        features, _ = self.bottom_up(keras.KerasTensor((None,) + self.data_shape))
        for i in range(top):
            z_above = keras.KerasTensor((None, self.latent_dims[i + 1]))
            self.prior_params(i, z_above)
            self.top_down_params(i, z_above)
        self.posterior.build(features[-1].shape[-1], self.latent_dim)
        self.prior.build(self.latent_dim, self.data_shape)
        self.head.build(self.decoder(keras.KerasTensor((None, self.latent_dims[0]))).shape)
        self.built = True

    def bottom_up(self, x):
        """d_1 … d_L, the deterministic bottom-up features, and the estimates N(μ̂_i, σ̂²_i) of
        the layers below the top as (mean, log_var)."""
        features, estimates = [self.encoder(x)], []
        for i, block in enumerate(self.blocks_up):
            estimates.append(self._gaussian(self._head((self.estimates, self.estimate_norms), i, features[-1])))
            features.append(block(estimates[-1][0] if self.bottom_up_from == "means" else features[-1]))
        return features, estimates

    def posterior_params(self, x, condition=None):
        return self.posterior(self.bottom_up(x)[0][-1])

    def prior_params(self, i, z_above):
        """p(z_{i+1} | z_{i+2}) for 0-based i: (mean, log_var)."""
        return self._gaussian(self._head((self.priors_down, self.prior_norms), i, self.blocks_down[i](z_above)))

    def top_down_params(self, i, z_above):
        """Inference's top-down estimate of z_{i+1} from z_{i+2}: the generative p(z_{i+1} | z_{i+2})
        (``share_top_down``) or its own networks' Gaussian; (mean, log_var)."""
        if self.share_top_down:
            return self.prior_params(i, z_above)
        return self._gaussian(self._head((self.inference_heads, self.inference_norms), i,
                                         self.inference_blocks[i](z_above)))

    def _posteriors_down(self, estimates, z_top, k, sample):
        """Walk down from z_L: each layer's merged posterior, then a draw (``sample``) or its
        mean; returns the latents bottom to top and Σ log q of the draws below the top."""
        latents, log_q = [z_top], 0.0
        for i in reversed(range(len(self.latent_dims) - 1)):
            estimate = [tile_samples(t, k) for t in estimates[i]]
            mean, log_var = precision_weighted(*estimate, *self.top_down_params(i, latents[0]))
            if sample:
                z, log_q_i, _, _ = sample_diagonal_gaussian(mean, log_var, 1, self.seed_generator, copies=k)
                log_q = log_q + log_q_i
            else:
                z = mean
            latents.insert(0, z)
        return tuple(latents), log_q

    def sample_posterior(self, x, k, condition=None, with_log_q=True):
        features, estimates = self.bottom_up(x)
        z_top, log_q, top_mean, top_log_var = self.posterior.sample(self.posterior(features[-1]), k,
                                                                    self.seed_generator)
        latents, log_q_below = self._posteriors_down(estimates, z_top, k, sample=True)
        return latents, log_q + log_q_below, top_mean, top_log_var

    def log_joint(self, observed, latents, k, condition=None, with_prior=True):
        log_p = self.prior.log_prob(latents[-1], self.encode)
        for i in range(len(self.latent_dims) - 1):
            log_p = log_p + losses.diagonal_gaussian_log_prob(latents[i], *self.prior_params(i, latents[i + 1]))
        return self._log_px(observed, k, self.head(self.decoder(latents[0]))), log_p

    def decode(self, z, condition=None):
        """p(x | z_1), z_1 the mean of the generative path down from a top-layer z."""
        for i in reversed(range(len(self.latent_dims) - 1)):
            z = self.prior_params(i, z)[0]
        return self.head(self.decoder(z))

    def reconstruct(self, x, condition=None):
        features, estimates = self.bottom_up(x)
        z_top = self.posterior.gaussian(self.posterior(features[-1]))[0]
        latents, _ = self._posteriors_down(estimates, z_top, 1, sample=False)
        return self.likelihood.mean(self.head(self.decoder(latents[0])))

    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable, "latent_dims": list(self.latent_dims),
                  "hidden": list(self.hidden), "layers_per_block": self.layers_per_block,
                  "activation": self.activation, "batch_norm": self.batch_norm, "bottom_up": self.bottom_up_from,
                  "share_top_down": self.share_top_down, "variance_head": self.variance_head, **self._vae_config()}
        config.pop("kl")
        config.pop("latent_dim")
        return config

