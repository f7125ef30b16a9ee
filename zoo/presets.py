"""Named presets: each reproduces a known system's architecture and objective, as data.

>>> zoo.presets.names()
>>> model = zoo.presets.get("iwae_mnist_k5", latent_dim=20)   # overrides are allowed
"""

import math

from zoo.conv import ConvVAE
from zoo.mlp import MLPVAE
from zoo.two_layer import TwoLayerVAE

_MNIST = (28, 28, 1)
_KERAS_GUIDE_DIMS, _KERAS_GUIDE_LATENT = 784, 32

PRESETS = {
    "iwae_mnist": {
        "doc": "Burda, Grosse & Salakhutdinov 2016 (IWAE), Table 3: 1 stochastic layer, "
               "784-200-200-50 tanh, Bernoulli, k=1 (the VAE): 88.71 nats test NLL.",
        "class": MLPVAE,
        "config": {"input_shape": _MNIST, "latent_dim": 50, "hidden": (200, 200),
                   "activation": "tanh", "likelihood": "bernoulli", "k": 1},
    },
    "iwae_mnist_k5": {
        "doc": "As iwae_mnist, trained on the IWAE bound with k=5 (paper: 87.63 nats).",
        "class": MLPVAE,
        "config": {"input_shape": _MNIST, "latent_dim": 50, "hidden": (200, 200),
                   "activation": "tanh", "likelihood": "bernoulli", "k": 5},
    },
    "iwae_mnist_k50": {
        "doc": "As iwae_mnist, trained on the IWAE bound with k=50 (paper: 87.10 nats).",
        "class": MLPVAE,
        "config": {"input_shape": _MNIST, "latent_dim": 50, "hidden": (200, 200),
                   "activation": "tanh", "likelihood": "bernoulli", "k": 50},
    },
    "iwae_mnist_2layer": {
        "doc": "Burda et al. 2016, Table 3: 2 stochastic layers 784-(200-200)-100-(100-100)-50 "
               "tanh, Bernoulli, IWAE k=50 (paper: 85.32 nats; the VAE with k=1: 88.08).",
        "class": TwoLayerVAE,
        "config": {"input_shape": _MNIST, "latent_dim": 50, "hidden_dim": 100,
                   "hidden": (200, 200), "hidden2": (100, 100), "activation": "tanh",
                   "likelihood": "bernoulli", "k": 50},
    },
    "kingma_welling_mnist": {
        "doc": "Kingma & Welling 2014 (AEVB), MNIST: one hidden layer of 500 tanh units, "
               "Bernoulli decoder, latent 20.",
        "class": MLPVAE,
        "config": {"input_shape": _MNIST, "latent_dim": 20, "hidden": (500,),
                   "activation": "tanh", "likelihood": "bernoulli"},
    },
    "tf_cvae_tutorial": {
        "doc": "TensorFlow's 'Convolutional Variational Autoencoder' tutorial: Conv 32/64 "
               "stride 2, Bernoulli logits, latent 2, single-sample Monte Carlo ELBO "
               "log p(x|z) + log p(z) − log q(z|x). (Its last decoder layer is a 3×3 transposed "
               "convolution; here a 1×1 likelihood head.)",
        "class": ConvVAE,
        "config": {"input_shape": _MNIST, "latent_dim": 2, "filters": (32, 64),
                   "kernel_size": 3, "activation": "relu", "likelihood": "bernoulli",
                   "kl": "monte_carlo"},
    },
    "keras_guide": {
        "doc": "The Keras guide 'Making new layers and models via subclassing' VAE: 784-64-32 "
               "relu MLP, loss = mean-over-pixels MSE + mean-over-latents KL. That objective "
               "is −ELBO of a Gaussian with fixed σ² = D/2 (so ‖x−μ‖²/(2σ²) = mean MSE) and "
               "β = 1/L (the KL averaged over L latents), up to the constant "
               "D·log σ + (D/2)·log 2π. Its ELBO is honest; it is just a poor density "
               "(σ ≈ 19.8 on [0, 1] pixels).",
        "class": MLPVAE,
        "config": {"input_shape": (_KERAS_GUIDE_DIMS,), "latent_dim": _KERAS_GUIDE_LATENT,
                   "hidden": (64,), "activation": "relu",
                   "likelihood": {"name": "gaussian", "scale": math.sqrt(_KERAS_GUIDE_DIMS / 2)},
                   "beta": 1.0 / _KERAS_GUIDE_LATENT},
    },
}


def names():
    """The preset names ``get`` accepts."""
    return sorted(PRESETS)


def describe(name):
    """The preset's citation and what it reproduces."""
    return _lookup(name)["doc"]


def config(name, **overrides):
    """The preset's constructor arguments, with ``overrides`` applied."""
    return {**_lookup(name)["config"], **overrides}


def get(name, **overrides):
    """Build the preset model; keyword arguments override its configuration."""
    import losses

    preset = _lookup(name)
    arguments = config(name, **overrides)
    if isinstance(arguments.get("likelihood"), dict):
        spec = dict(arguments["likelihood"])
        arguments["likelihood"] = losses.get(spec.pop("name"), **spec)
    return preset["class"](**arguments)


def _lookup(name):
    if name not in PRESETS:
        raise ValueError(f"Unknown preset {name!r}. Valid presets: {', '.join(names())}.")
    return PRESETS[name]
