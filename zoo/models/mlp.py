"""The MLP VAE: dense encoder and decoder (Kingma & Welling 2014; Burda et al. 2016)."""

import math

import keras
from keras import ops

from zoo.vae import VAE


@keras.saving.register_keras_serializable(package="zoo")
class MLP(keras.layers.Layer):
    """Dense layers applied in turn (after flattening, with ``flatten=True``).

    ``activation="gated"`` makes each layer a gated unit, h = (W·x + b) ⊙ sigmoid(V·x + c)
    (Dauphin et al. 2017; the VampPrior paper's "GatedDense"), as one Dense layer of twice the
    width split in two. ``batch_norm=True`` normalizes each layer's pre-activations (Ioffe &
    Szegedy 2015; the Ladder VAE's layers).

    A plain loop rather than a ``keras.Sequential``, whose functional-graph bookkeeping was one
    of the largest Python costs in a profile of eager PyTorch steps (bench/README.md).
    """

    def __init__(self, hidden, activation="tanh", flatten=False, batch_norm=False, **kwargs):
        super().__init__(**kwargs)
        self.hidden = tuple(int(h) for h in hidden)
        self.activation = activation
        self.flatten = flatten
        self.batch_norm = bool(batch_norm)
        self.gated = activation == "gated"
        dense_activation = None if self.gated or self.batch_norm else activation
        self.dense_layers = [keras.layers.Dense(units * (2 if self.gated else 1), activation=dense_activation,
                                                name=f"dense_{i}") for i, units in enumerate(self.hidden)]
        self.norm_layers = [keras.layers.BatchNormalization(name=f"batch_norm_{i}")
                            for i in range(len(self.hidden))] if self.batch_norm else []
        self.act = None if self.gated else keras.activations.get(activation)

    def build(self, input_shape):
        shape = (input_shape[0], math.prod(input_shape[1:])) if self.flatten else tuple(input_shape)
        for i, layer in enumerate(self.dense_layers):
            layer.build(shape)
            if self.batch_norm:
                self.norm_layers[i].build((shape[0], layer.units))
            shape = (shape[0], self.hidden[i])  # a gated layer's 2·units halve
        self.built = True

    def call(self, x, training=None):
        if self.flatten:
            x = ops.reshape(x, (ops.shape(x)[0], -1))
        for i, layer in enumerate(self.dense_layers):
            x = layer(x)
            if self.batch_norm:
                x = self.norm_layers[i](x, training=training)
            if self.gated:
                value, gate = ops.split(x, 2, axis=-1)
                x = value * ops.sigmoid(gate)
            elif self.batch_norm:
                x = self.act(x)
        return x

    def compute_output_shape(self, input_shape):
        if self.hidden:
            return (input_shape[0], self.hidden[-1])
        return (input_shape[0], math.prod(input_shape[1:])) if self.flatten else tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "hidden": list(self.hidden), "activation": self.activation,
                "flatten": self.flatten, "batch_norm": self.batch_norm}


def mlp(hidden, activation, name, flatten=False, batch_norm=False):
    return MLP(hidden, activation, flatten=flatten, batch_norm=batch_norm, name=name)


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
