"""The two-level hierarchical VAE of the VampPrior paper (Tomczak & Welling 2018, "HVAE (L = 2)").

Generative model:  z2 ~ p(z2) (the model's prior: a VampPrior in the paper),
                   z1 ~ p(z1 | z2) = N(μ(z2), σ²(z2)),   x ~ p(x | z1, z2).
Inference:         z2 ~ q(z2 | x),   z1 ~ q(z1 | x, z2)   (top first, then the bottom given it).
Importance weight: log w = log p(x|z1, z2) + log p(z1|z2) + log p(z2) − log q(z1|x, z2) − log q(z2|x).

``encode(x)`` is q(z2 | x), the posterior the VampPrior is built from: p(z2) = (1/K) Σ_k q(z2|u_k).
The KL has no closed form, so the estimator is Monte Carlo (log q − log p at the sampled z).
"""

import math

import keras
from keras import ops

import losses
from losses.base import check_integer
from zoo.models.mlp import MLPVAE, mlp
from zoo.posteriors import sample_diagonal_gaussian, tile_samples
from zoo.vae import VAE


@keras.saving.register_keras_serializable(package="zoo")
class HVAE(MLPVAE):
    """A VAE with two stochastic layers, z2 on top and z1 below, the decoder seeing both.

    Networks (the paper's, with ``hidden=(300, 300)``, ``activation="gated"``):
    q(z2|x) x → hidden → z2; q(z1|x, z2) x → h, z2 → h, [·,·] → h → z1; p(z1|z2) z2 → hidden →
    z1; p(x|z1, z2) z1 → h, z2 → h, [·,·] → h → x, with h = ``hidden[-1]`` units.

    Args:
        input_shape: shape of one example.
        latent_dim: size of z2, the top layer (40 in the paper).
        hidden_dim: size of z1 (40).
        hidden: widths of the q(z2|x) and p(z1|z2) networks; the others use one layer of
            ``hidden[-1]`` units per branch.
        activation: hidden activation (``"gated"``: the paper's gated units).
        likelihood, prior, k, bound, …: as in ``MLPVAE`` / ``VAE`` (the KL is Monte Carlo).
    """

    POSTERIORS = ("gaussian",)

    def __init__(self, input_shape=(28, 28, 1), latent_dim=40, hidden_dim=40, hidden=(300, 300),
                 activation="gated", likelihood="bernoulli", **kwargs):
        if kwargs.pop("kl", "auto") not in ("auto", "monte_carlo"):
            raise ValueError("HVAE: the KL of two stochastic layers has no closed form; it always uses "
                             "kl='monte_carlo'.")
        self.hidden_dim = check_integer("hidden_dim", hidden_dim, "HVAE")
        self.hidden = tuple(int(h) for h in hidden)
        if not self.hidden:
            raise ValueError("HVAE: `hidden` needs at least one layer width.")
        self.activation = activation
        # MLPVAE's configuration, not its networks: the decoder is one joint layer here.
        VAE.__init__(self, encoder=mlp(self.hidden, activation, "encoder", flatten=True),
                     decoder=mlp(self.hidden[-1:], activation, "decoder"), input_shape=input_shape,
                     latent_dim=latent_dim, likelihood=likelihood, kl="monte_carlo", **kwargs)

    def build(self, input_shape=None):
        width, act = (self.hidden[-1],), self.activation
        # `encoder` (x → hidden, for q(z2|x)) and `decoder` (the joint layer of p(x|z1, z2))
        # came with the base; the rest is made here.
        self.encoder_z1_x = mlp(width, act, "encoder_z1_x", flatten=True)
        self.encoder_z1_z2 = mlp(width, act, "encoder_z1_z2")
        self.encoder_z1_joint = mlp(width, act, "encoder_z1_joint")
        self.posterior_z1 = keras.layers.Dense(2 * self.hidden_dim, name="posterior_z1")
        self.prior_z1_net = mlp(self.hidden, act, "prior_z1_net")
        self.prior_z1 = keras.layers.Dense(2 * self.hidden_dim, name="prior_z1")
        self.decoder_z1 = mlp(width, act, "decoder_z1")
        self.decoder_z2 = mlp(width, act, "decoder_z2")

        data = keras.KerasTensor((None,) + self.data_shape)
        top = keras.KerasTensor((None, self.latent_dim))
        bottom = keras.KerasTensor((None, self.hidden_dim))
        self.posterior.build(math.prod(self.encoder(data).shape[1:]), self.latent_dim)
        self.prior.build(self.latent_dim, self.data_shape)
        joint = (None, 2 * width[0])
        self.encoder_z1_x(data), self.encoder_z1_z2(top)
        self.posterior_z1.build(self.encoder_z1_joint.compute_output_shape(joint))
        self.encoder_z1_joint.build(joint)
        self.prior_z1.build(self.prior_z1_net(top).shape)
        self.decoder_z1(bottom), self.decoder_z2(top)
        self.decoder.build(joint)
        self.head.build(self.decoder.compute_output_shape(joint))
        self.built = True

    def encode_z1(self, x_features, z2):
        """q(z1 | x, z2): (mean, log_var), each (batch, hidden_dim), from x's branch
        ``encoder_z1_x(x)`` and z2."""
        features = ops.concatenate([x_features, self.encoder_z1_z2(z2)], axis=-1)
        return self.posterior.split(self.posterior_z1(self.encoder_z1_joint(features)))

    def prior_z1_params(self, z2):
        """p(z1 | z2): (mean, log_var)."""
        return self.posterior.split(self.prior_z1(self.prior_z1_net(z2)))

    def decode_both(self, z1, z2):
        """p(x | z1, z2): the likelihood's params."""
        features = ops.concatenate([self.decoder_z1(z1), self.decoder_z2(z2)], axis=-1)
        return self.head(self.decoder(features))

    def decode(self, z, condition=None):
        """p(x | z1 = E[z1 | z2 = z], z2 = z): likelihood params for a top-layer z."""
        return self.decode_both(self.prior_z1_params(z)[0], z)

    def reconstruct(self, x, condition=None):
        z2 = self.encode(x)[0]
        return self.likelihood.mean(self.decode_both(self.encode_z1(self.encoder_z1_x(x), z2)[0], z2))

    def sample_posterior(self, x, k, condition=None, with_log_q=True):
        z2, log_q2, z2_mean, z2_log_var = self.posterior.sample(self.posterior_params(x), k, self.seed_generator)
        x_features = tile_samples(self.encoder_z1_x(x), k)  # x's branch once, not once per sample
        z1, log_q1, _, _ = sample_diagonal_gaussian(*self.encode_z1(x_features, z2), 1, self.seed_generator,
                                                copies=k)
        return (z1, z2), log_q1 + log_q2, z2_mean, z2_log_var

    def log_joint(self, observed, latents, k, condition=None, with_prior=True):
        z1, z2 = latents
        log_px = self._log_px(observed, k, self.decode_both(z1, z2))
        log_p = (losses.diagonal_gaussian_log_prob(z1, *self.prior_z1_params(z2))
                 + self.prior.log_prob(z2, self.encode))
        return log_px, log_p

    def get_config(self):
        config = super().get_config()
        config.pop("kl")
        return {**config, "hidden_dim": self.hidden_dim}
