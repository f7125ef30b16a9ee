"""The MLP VAE: dense encoder and decoder (Kingma & Welling 2014; Burda et al. 2016)."""

import keras

from zoo.vae import VAE


def mlp(hidden, activation, name, flatten=False):
    layers = [keras.layers.Flatten()] if flatten else []
    layers += [keras.layers.Dense(units, activation=activation) for units in hidden]
    return keras.Sequential(layers, name=name)


@keras.saving.register_keras_serializable(package="zoo")
class MLPVAE(VAE):
    """A VAE whose encoder and decoder are MLPs; the decoder mirrors the encoder.

    Args:
        input_shape: shape of one example (flattened for the encoder).
        latent_dim: size of z.
        hidden: widths of the encoder's hidden layers (the decoder uses them reversed).
        activation: activation of the hidden layers.
        likelihood: a name for ``losses.get`` or a ``losses.Likelihood``.
        **kwargs: the ``VAE`` options (beta, kl, k, kl_warmup_steps, free_bits,
            data_levels, seed, name).

    Example (the IWAE paper's 784-200-200-50 tanh model):
    >>> model = MLPVAE(input_shape=(28, 28, 1), latent_dim=50, hidden=(200, 200))
    """

    def __init__(self, input_shape=(28, 28, 1), latent_dim=50, hidden=(200, 200),
                 activation="tanh", likelihood="bernoulli", **kwargs):
        self.hidden = tuple(int(h) for h in hidden)
        self.activation = activation
        super().__init__(
            encoder=mlp(self.hidden, activation, "encoder", flatten=True),
            decoder=mlp(self.hidden[::-1], activation, "decoder"),
            input_shape=input_shape, latent_dim=latent_dim, likelihood=likelihood, **kwargs,
        )

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable, "hidden": list(self.hidden),
                "activation": self.activation, **self._vae_config()}
