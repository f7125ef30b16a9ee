"""Named presets: each reproduces a known system's architecture and objective, as data.

>>> zoo.presets.names()
>>> model = zoo.presets.get("iwae_mnist_k5", latent_dim=20)   # overrides are allowed
"""

import math

from zoo import protocols

from zoo.models.conv import ConvVAE
from zoo.models.hierarchical import HVAE
from zoo.models.ladder import LadderVAE
from zoo.models.mlp import MLPVAE
from zoo.models.two_layer import TwoLayerVAE

_MNIST = (28, 28, 1)
_KERAS_GUIDE_DIMS, _KERAS_GUIDE_LATENT = 784, 32
# The VampPrior paper's networks (Tomczak & Welling 2018): two gated layers of 300, z of 40.
_GATED_MLP = {"input_shape": _MNIST, "latent_dim": 40, "hidden": (300, 300), "activation": "gated",
              "likelihood": "bernoulli"}
# Its KL warm-up: 100 epochs of 50,000 images at batch 100.
_VAMPPRIOR_WARMUP = 100 * 50000 // 100

PRESETS = {
    "iwae_mnist": {
        "doc": "Burda, Grosse & Salakhutdinov 2016 (IWAE): 1 stochastic layer, 784-200-200-50 tanh, "
               "Bernoulli, k=1 (the VAE).",
        "class": MLPVAE,
        "config": {"input_shape": _MNIST, "latent_dim": 50, "hidden": (200, 200),
                   "activation": "tanh", "likelihood": "bernoulli", "k": 1},
    },
    "iwae_mnist_k5": {
        "doc": "As iwae_mnist, trained on the IWAE bound with k=5.",
        "class": MLPVAE,
        "config": {"input_shape": _MNIST, "latent_dim": 50, "hidden": (200, 200),
                   "activation": "tanh", "likelihood": "bernoulli", "k": 5},
    },
    "iwae_mnist_k50": {
        "doc": "As iwae_mnist, trained on the IWAE bound with k=50.",
        "class": MLPVAE,
        "config": {"input_shape": _MNIST, "latent_dim": 50, "hidden": (200, 200),
                   "activation": "tanh", "likelihood": "bernoulli", "k": 50},
    },
    "iwae_mnist_2layer": {
        "doc": "Burda et al. 2016: 2 stochastic layers 784-(200-200)-100-(100-100)-50 tanh, "
               "Bernoulli, IWAE k=50.",
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
    "vampprior_mnist": {
        "doc": "Tomczak & Welling 2018 (VampPrior), 'VAE + VampPrior': gated MLP 784-300-300-40 (and "
               "back), Bernoulli, a VampPrior of K=500 learned pseudo-inputs, on static binarized "
               "MNIST. With the paper's KL warm-up over 100 epochs (of 50,000 images at "
               "batch 100); it trained with Adam 5e-4, batch 100 and early stopping.",
        "class": MLPVAE,
        "config": {**_GATED_MLP, "prior": {"name": "vampprior", "num_components": 500},
                   "kl_warmup_steps": _VAMPPRIOR_WARMUP},
    },
    "mog_prior_mnist": {
        "doc": "The vampprior_mnist networks with a learned mixture of K=500 diagonal Gaussians as the "
               "prior (the VampPrior paper's 'MoG' prior). We know of no published static-MNIST number "
               "for exactly this model; compare it with vampprior_mnist and the paper's VAE with a "
               "standard prior (88.56). The same KL warm-up.",
        "class": MLPVAE,
        "config": {**_GATED_MLP, "prior": {"name": "mog", "num_components": 500},
                   "kl_warmup_steps": _VAMPPRIOR_WARMUP},
    },
    "hvae_vampprior_mnist": {
        "doc": "Tomczak & Welling 2018, 'HVAE (L = 2) + VampPrior': z2 (40) on top with a VampPrior "
               "of K=500 pseudo-inputs on q(z2|x), z1 (40) below; q(z2|x), q(z1|x, z2), p(z1|z2), "
               "p(x|z1, z2) gated MLPs of 300; Bernoulli; the 100-epoch KL warm-up; static binarized "
               "MNIST.",
        "class": HVAE,
        "config": {"input_shape": _MNIST, "latent_dim": 40, "hidden_dim": 40, "hidden": (300, 300),
                   "activation": "gated", "likelihood": "bernoulli",
                   "prior": {"name": "vampprior", "num_components": 500}, "kl_warmup_steps": _VAMPPRIOR_WARMUP},
    },
    "planar_mnist": {
        "doc": "Rezende & Mohamed 2015 (normalizing flows), 'DLGM + NF (k = 80)': 40 latent units, a "
               "Gaussian posterior followed by 80 planar steps whose parameters the encoder outputs, "
               "Bernoulli, the KL weight annealed from 0 to 1 over the first 10,000 updates; its "
               "number is a variational bound. Here the deterministic layers are 784-400-400 "
               "tanh MLPs (and back).",
        "class": MLPVAE,
        "config": {"input_shape": _MNIST, "latent_dim": 40, "hidden": (400, 400), "activation": "tanh",
                   "likelihood": "bernoulli", "posterior": {"name": "planar", "num_steps": 80},
                   "kl_warmup_steps": 10000},
    },
    "iaf_mnist": {
        "doc": "Inverse autoregressive flow (Kingma et al. 2016), an MLP version: the vampprior_mnist "
               "networks (gated 300-300, z=40) with a standard prior and 4 IAF steps (MADE 300-300, elu, "
               "context of 40 from the encoder) on the Gaussian posterior. The paper's 79.88 (static MNIST) "
               "is a ResNet convolutional VAE with bidirectional inference and a deeper latent hierarchy: "
               "compare this preset with the other MLP presets (the same networks with a standard prior: "
               "88.56, Tomczak & Welling 2018), not with that number. It takes the "
               "VampPrior presets' 100-epoch KL warm-up (not part of the IAF paper's MNIST setup; chosen on "
               "validation: without it the model over-fits early with 16 of 40 latent units active).",
        "class": MLPVAE,
        "config": {**_GATED_MLP, "posterior": {"name": "iaf", "num_steps": 4, "hidden": (300, 300)},
                   "kl_warmup_steps": _VAMPPRIOR_WARMUP},
    },
    "ladder_mnist": {
        "doc": "Sønderby et al. 2016 (Ladder VAE), MNIST: 5 stochastic layers of 64-32-16-8-4 units, "
               "deterministic blocks of two 512/256/128/64/32-unit leaky-ReLU layers with batch "
               "normalization, precision-weighted top-down inference, Bernoulli, a KL warm-up over 200 "
               "epochs (of 60,000 images at batch 256); dynamically binarized MNIST. As the authors' code "
               "(casperkaae/LVAE) builds it: the bottom-up pass reads each estimate's mean, inference's "
               "top-down pass has networks of its own, the ladder's variances are softplus after batch "
               "normalization (3.9 nats better on validation than the paper's text in the same hour, "
               "bench/README.md).",
        "class": LadderVAE,
        "config": {"input_shape": _MNIST, "latent_dims": (64, 32, 16, 8, 4), "hidden": (512, 256, 128, 64, 32),
                   "layers_per_block": 2, "activation": "leaky_relu", "batch_norm": True,
                   "bottom_up": "means", "share_top_down": False, "variance_head": "softplus",
                   "likelihood": "bernoulli", "kl_warmup_steps": 200 * math.ceil(60000 / 256)},
    },
}

#: Each preset's paper number on the protocol its bench command runs (bench/likelihood.py; the
#: IWAE presets and ladder_mnist with --dynamic-binarization), as (nats, protocol). Every
#: published number, with its protocol, source and estimator: ``zoo.protocols.published``.
_BENCH_PROTOCOL = {"iwae_mnist": "dynamic-mnist", "iwae_mnist_k5": "dynamic-mnist",
                   "iwae_mnist_k50": "dynamic-mnist", "iwae_mnist_2layer": "dynamic-mnist",
                   "ladder_mnist": "dynamic-mnist"}
PAPER_NLL = {entry.preset: (entry.nll, entry.protocol) for entry in protocols.PUBLISHED
             if entry.protocol == _BENCH_PROTOCOL.get(entry.preset, "static-mnist")}


def names():
    """The preset names ``get`` accepts."""
    return sorted(PRESETS)


def describe(name):
    """The preset's citation and what it reproduces, with each published number and its protocol."""
    lines = [_lookup(name)["doc"]]
    for entry in protocols.published(name):
        note = f"; {entry.note}" if entry.note else ""
        lines.append(f"Published: {entry.nll:.2f} nats, {entry.source} ({entry.model}), on {entry.protocol}, "
                     f"{entry.estimator}{note}.")
    if len(lines) == 1:
        lines.append("Published: no number for this exact model; see the doc above for what to compare with.")
    return "\n".join(lines)


def config(name, **overrides):
    """The preset's constructor arguments, with ``overrides`` applied."""
    return {**_lookup(name)["config"], **overrides}


def get(name, **overrides):
    """Build the preset model; keyword arguments override its configuration."""
    import losses

    from zoo import posteriors, priors

    preset = _lookup(name)
    arguments = config(name, **overrides)
    # Specs as data ({"name": ..., **arguments}) become objects; a fresh one for every model.
    for key, module in (("likelihood", losses), ("prior", priors), ("posterior", posteriors)):
        if isinstance(arguments.get(key), dict) and "name" in arguments[key]:
            spec = dict(arguments[key])
            arguments[key] = module.get(spec.pop("name"), **spec)
    return preset["class"](**arguments)


def _lookup(name):
    if name not in PRESETS:
        raise ValueError(f"Unknown preset {name!r}. Valid presets: {', '.join(names())}.")
    return PRESETS[name]
