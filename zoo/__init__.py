"""Keras 3 VAE models with normalized likelihoods, for TensorFlow, JAX and PyTorch.

>>> import zoo
>>> model = zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=8, likelihood="huber", data_levels=17)
>>> model.compile(optimizer="adam")
>>> model.fit(x, epochs=10)
>>> zoo.log_likelihood(model, x, num_samples=1000)     # importance-sampled log p(x), nats
"""

from importlib import metadata as _metadata

from zoo.training.jax_cpu_check import MiscompileError, disable_ynn_fusion

disable_ynn_fusion()  # before JAX first computes: it reads XLA_FLAGS then (jax_cpu_check.py)

from zoo.heads import LikelihoodHead
from zoo.training.callbacks import (EpochTimer, HistoryCSV, ProgressBar, ResumableEarlyStopping, StopOnNaN,
                                    TimeBudget)
from zoo.training.optimizers import AdamClipped, AdamNormGrad
from zoo.vae import VAE
from zoo.models.mlp import MLPVAE
from zoo.models.conv import ConvVAE
from zoo.models.conditional import ConditionalVAE
from zoo.models.two_layer import TwoLayerVAE
from zoo.models.hierarchical import HVAE
from zoo.models.ladder import LadderVAE
from zoo import bounds, posteriors, priors
from zoo.evaluation import (active_unit_counts, active_units, bits_per_dim, kl_per_dim, log_likelihood,
                            posterior_means)
from zoo import presets, protocols
from zoo.saving import BackupAndRestore, ModelFileError, save_model
from zoo import datasets, factory, plots
from zoo.trained import from_preset, load_model, save_preset

try:
    __version__ = _metadata.version("vae-zoo")
except _metadata.PackageNotFoundError:  # a checkout that was not pip-installed
    __version__ = "0+unknown"
