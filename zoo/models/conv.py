"""The convolutional VAE, for images of any size (the TF CVAE tutorial's architecture)."""

import math

import keras

from zoo.vae import VAE


def conv_encoder(filters, kernel_size, activation):
    layers = [keras.layers.Conv2D(f, kernel_size, strides=2, padding="same", activation=activation)
              for f in filters]
    return keras.Sequential(layers + [keras.layers.Flatten()], name="encoder")


def conv_decoder(image_shape, filters, kernel_size, activation):
    """Dense → a grid 2^n times smaller → n stride-2 transposed convolutions → crop to size."""
    height, width = image_shape[:2]
    scale = 2 ** len(filters)
    small = (math.ceil(height / scale), math.ceil(width / scale))
    layers = [
        keras.layers.Dense(small[0] * small[1] * filters[0], activation=activation),
        keras.layers.Reshape(small + (filters[0],)),
    ]
    layers += [keras.layers.Conv2DTranspose(f, kernel_size, strides=2, padding="same",
                                            activation=activation) for f in reversed(filters)]
    extra = (small[0] * scale - height, small[1] * scale - width)
    if any(extra):
        layers.append(keras.layers.Cropping2D(((0, extra[0]), (0, extra[1]))))
    return keras.Sequential(layers, name="decoder")


@keras.saving.register_keras_serializable(package="zoo")
class ConvVAE(VAE):
    """A VAE with stride-2 convolutions in the encoder and transposed ones in the decoder.

    Args:
        input_shape: ``(height, width, channels)``, any size (the decoder crops to it).
        latent_dim: size of z.
        filters: encoder filters per stride-2 layer (decoder: reversed).
        kernel_size: convolution kernel size.
        activation: hidden activation.
        likelihood, **kwargs: as in ``VAE``.

    Example (TensorFlow's CVAE tutorial, 28×28, latent 2):
    >>> model = ConvVAE(input_shape=(28, 28, 1), latent_dim=2, filters=(32, 64), kl="monte_carlo")
    """

    def __init__(self, input_shape=(28, 28, 1), latent_dim=16, filters=(32, 64), kernel_size=3,
                 activation="relu", likelihood="bernoulli", **kwargs):
        input_shape = tuple(input_shape)
        if len(input_shape) != 3:
            raise ValueError(
                f"ConvVAE: input_shape must be (height, width, channels), got {input_shape}; "
                f"for grey images add a channel axis: {input_shape + (1,)}."
            )
        self.filters = tuple(int(f) for f in filters)
        if not self.filters:
            raise ValueError("ConvVAE: `filters` needs at least one layer.")
        self.kernel_size = int(kernel_size)
        self.activation = activation
        super().__init__(
            encoder=conv_encoder(self.filters, self.kernel_size, activation),
            decoder=conv_decoder(input_shape, self.filters, self.kernel_size, activation),
            input_shape=input_shape, latent_dim=latent_dim, likelihood=likelihood, **kwargs,
        )

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable, "filters": list(self.filters),
                "kernel_size": self.kernel_size, "activation": self.activation,
                **self._vae_config()}
