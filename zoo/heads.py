"""The decoder's last layer: features → the likelihood's params, with shared parameters."""

import math

import numpy as np
import keras
from keras import ops

import losses


@keras.saving.register_keras_serializable(package="zoo")
class LikelihoodHead(keras.layers.Layer):
    """Maps decoder features to ``params`` of shape ``data_shape (+ (params_per_dim,))``.

    Per-dimension channels come from a Dense layer on the features' last axis: flat
    features give all ``prod(data_shape)·c`` outputs, features with the data's spatial
    shape give ``channels·c`` per position (a 1×1 convolution). Channels the likelihood
    lists in ``shared_param_names`` are one trainable scalar each, broadcast over all
    dimensions. Biases start at the likelihood's ``initial_params`` (e.g. log σ = log 0.1).

    Args:
        likelihood: a ``losses.Likelihood`` (or a name / config).
        data_shape: shape of one example, e.g. ``(28, 28, 1)``.
    """

    def __init__(self, likelihood, data_shape, **kwargs):
        super().__init__(**kwargs)
        self.likelihood = losses.get(likelihood)
        self.data_shape = tuple(int(d) for d in data_shape)
        names = self.likelihood.param_names
        self.decoded_names = [n for n in names if n not in self.likelihood.shared_param_names]
        self.shared_names = [n for n in names if n in self.likelihood.shared_param_names]

    def build(self, features_shape):
        count = len(self.decoded_names)
        spatial = tuple(features_shape[1:-1])
        if spatial and spatial != self.data_shape[:-1]:
            raise ValueError(
                f"LikelihoodHead: decoder features of spatial shape {spatial} do not match the "
                f"data's {self.data_shape[:-1]}; flatten them or fix the decoder."
            )
        self.per_position = bool(spatial)
        units = (self.data_shape[-1] if spatial else math.prod(self.data_shape)) * count
        self.dense = keras.layers.Dense(units, name="params")
        self.dense.build(features_shape)
        initial = self.likelihood.initial_params
        bias = np.tile(np.array([initial[n] for n in self.decoded_names], "float32"), units // count)
        self.dense.bias.assign(bias)
        self.shared = {
            name: self.add_weight(
                shape=(), name=f"shared_{name}",
                initializer=keras.initializers.Constant(initial[name]),
            )
            for name in self.shared_names
        }

    def call(self, features):
        decoded = self.dense(features)
        count = len(self.decoded_names)
        channels = ops.reshape(decoded, (-1,) + self.data_shape + (count,))
        if self.likelihood.params_per_dim == 1:
            return channels[..., 0]
        by_name = {name: channels[..., i] for i, name in enumerate(self.decoded_names)}
        reference = channels[..., 0]
        for name, weight in self.shared.items():
            by_name[name] = ops.zeros_like(reference) + ops.cast(weight, reference.dtype)
        return ops.stack([by_name[n] for n in self.likelihood.param_names], axis=-1)

    def compute_output_shape(self, features_shape):
        count = self.likelihood.params_per_dim
        extra = () if count == 1 else (count,)
        return (features_shape[0],) + self.data_shape + extra

    def get_config(self):
        return {
            **super().get_config(),
            "likelihood": keras.saving.serialize_keras_object(self.likelihood),
            "data_shape": list(self.data_shape),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["likelihood"] = losses.get(config["likelihood"])
        return cls(**config)
