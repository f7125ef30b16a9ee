"""Two stochastic layers (Burda et al. 2016): x ↔ h1 ↔ h2, for the VAE and IWAE bounds.

Generative model:  h2 ~ N(0, I),  h1 ~ p(h1 | h2) = N(μ(h2), σ²(h2)),  x ~ p(x | h1).
Recognition:       h1 ~ q(h1 | x),  h2 ~ q(h2 | h1).
Importance weight: log w = log p(x|h1) + log p(h1|h2) + log p(h2) − log q(h1|x) − log q(h2|h1):
``sample_posterior`` draws (h1, h2) with log q(h1, h2|x), ``log_joint`` scores log p(x|h1) and
log p(h1, h2); the base VAE's objectives and ``zoo.log_likelihood`` use them unchanged. The KL
has no closed form here, so the estimator is always Monte Carlo. p(h2) is the model's prior
(standard normal, or a learned mixture).
"""

import math

import keras

import losses
from zoo.models.mlp import MLPVAE, mlp
from zoo.posteriors import sample_diagonal_gaussian


@keras.saving.register_keras_serializable(package="zoo")
class TwoLayerVAE(MLPVAE):
    """A VAE/IWAE with two stochastic layers; the IWAE paper's is 784-(200-200)-100-(100-100)-50.

    Args:
        input_shape: shape of one example.
        latent_dim: size of the top layer h2 (50 in the paper).
        hidden_dim: size of the middle layer h1 (100).
        hidden: deterministic widths between x and h1 (200, 200).
        hidden2: deterministic widths between h1 and h2 (100, 100).
        activation, likelihood, k, …: as in ``MLPVAE`` / ``VAE`` (``kl`` is always Monte Carlo).
    """

    PRIORS = ("standard_normal", "mog")
    POSTERIORS = ("gaussian",)

    def __init__(self, input_shape=(28, 28, 1), latent_dim=50, hidden_dim=100,
                 hidden=(200, 200), hidden2=(100, 100), activation="tanh",
                 likelihood="bernoulli", **kwargs):
        if kwargs.pop("kl", "monte_carlo") not in ("monte_carlo", "auto"):
            raise ValueError("TwoLayerVAE: the KL of two stochastic layers has no closed form; "
                             "it always uses kl='monte_carlo'.")
        if not isinstance(hidden_dim, int) or hidden_dim <= 0:
            raise ValueError(f"TwoLayerVAE: `hidden_dim` must be a positive integer, got {hidden_dim!r}.")
        self.hidden_dim = hidden_dim
        self.hidden2 = tuple(int(h) for h in hidden2)
        super().__init__(input_shape=input_shape, latent_dim=latent_dim, hidden=hidden,
                         activation=activation, likelihood=likelihood, kl="monte_carlo", **kwargs)

    @property
    def posterior_dim(self):
        return self.hidden_dim

    def build(self, input_shape=None):
        # The layers between h1 and h2 (the base VAE made the rest in __init__).
        self.encoder2 = mlp(self.hidden2, self.activation, "encoder2")
        self.posterior2 = keras.layers.Dense(2 * self.latent_dim, name="posterior2")
        self.decoder2 = mlp(self.hidden2[::-1], self.activation, "decoder2")
        self.prior1 = keras.layers.Dense(2 * self.hidden_dim, name="prior1")
        features = self.encoder(keras.KerasTensor((None,) + self.data_shape))
        self.posterior.build(math.prod(features.shape[1:]), self.hidden_dim)
        self.prior.build(self.latent_dim, self.data_shape)
        self.posterior2.build(self.encoder2(keras.KerasTensor((None, self.hidden_dim))).shape)
        self.prior1.build(self.decoder2(keras.KerasTensor((None, self.latent_dim))).shape)
        self.head.build(self.decoder(keras.KerasTensor((None, self.hidden_dim))).shape)
        self.built = True

    def encode_h1(self, x):
        """q(h1 | x): (mean, log_var), each (batch, hidden_dim)."""
        return self.posterior.gaussian(self.posterior_params(x))

    def encode(self, x, condition=None):
        """q(h2 | h1 = E[h1 | x]): the top layer's (z_mean, z_log_var)."""
        h1_mean, _ = self.encode_h1(x)
        return self.posterior.split(self.posterior2(self.encoder2(h1_mean)))

    def prior_h1(self, h2):
        """p(h1 | h2): (mean, log_var)."""
        return self.posterior.split(self.prior1(self.decoder2(h2)))

    def decode_h1(self, h1):
        return self.head(self.decoder(h1))

    def decode(self, z, condition=None):
        """p(x | h1 = E[h1 | h2 = z]): likelihood params for a top-layer z."""
        return self.decode_h1(self.prior_h1(z)[0])

    def reconstruct(self, x, condition=None):
        return self.likelihood.mean(self.decode_h1(self.encode_h1(x)[0]))

    def sample_posterior(self, x, k, condition=None, with_log_q=True):
        h1, log_q1, _, _ = self.posterior.sample(self.posterior_params(x), k, self.seed_generator)
        h2_mean, h2_log_var = self.posterior.split(self.posterior2(self.encoder2(h1)))
        h2, log_q2, _, _ = sample_diagonal_gaussian(h2_mean, h2_log_var, 1, self.seed_generator, copies=k)
        return (h1, h2), log_q1 + log_q2, h2_mean, h2_log_var

    def log_joint(self, observed, latents, k, condition=None, with_prior=True):
        h1, h2 = latents
        prior_mean, prior_log_var = self.prior_h1(h2)
        log_px = self._log_px(observed, k, self.decode_h1(h1))
        log_p = losses.diagonal_gaussian_log_prob(h1, prior_mean, prior_log_var) + self.prior.log_prob(h2)
        return log_px, log_p

    def get_config(self):
        config = super().get_config()
        config.pop("kl")
        return {**config, "hidden_dim": self.hidden_dim, "hidden2": list(self.hidden2)}
