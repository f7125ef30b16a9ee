"""The KerasTuner search spaces: likelihood, latent size, Huber α (only for Huber), lr, size; or,
from a trained preset, the fine-tuning learning rate."""

import math

import keras
import keras_tuner as kt

import losses
from zoo import factory

#: What ``model=`` takes: architectures whose size is searched (but conv's), and presets of the
#: families whose networks stay as published (a ladder's per-layer sizes are not one latent size).
MODELS = ("mlp", "conv", "two_layer", "hvae", "vampprior_mnist", "mog_prior_mnist",
          "hvae_vampprior_mnist", "planar_mnist", "iaf_mnist")
SIZED_MODELS = ("mlp", "two_layer", "hvae")

#: The objective every trial is ranked on: validation bits/dim of the β = 1 bound, on the
#: discrete data's scale, so trials with different likelihoods compare (DESIGN.md).
OBJECTIVE = kt.Objective("val_bits_per_dim", direction="min")


def applicable_likelihoods(levels):
    """The likelihoods that are proper for data with ``levels`` levels (None: continuous)."""
    names = [n for n in losses.names() if n not in ("bernoulli", "discretized_logistic")]
    if levels == 2:
        names.append("bernoulli")
    elif levels:
        names.append("discretized_logistic")
    return sorted(names)


def _choices(name, values):
    values = list(values)
    if not values:
        raise ValueError(f"VAEHyperModel: the choice `{name}` is empty; give at least one value.")
    return values


def _log_range(name, bounds):
    low, high = (float(b) for b in bounds)
    if not (low > 0 and high > 0 and math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"VAEHyperModel: `{name}` range must be > 0, got ({low}, {high}).")
    if low > high:
        raise ValueError(f"VAEHyperModel: `{name}` range must be (low, high) with low ≤ high, got ({low}, {high}).")
    return low, high


class VAEHyperModel(kt.HyperModel):
    """Builds a zoo VAE for a trial; every dimension of the space can be narrowed or fixed.

    Hyperparameters: ``likelihood`` (choice), ``huber_alpha`` (log-uniform, active only when
    the likelihood is ``huber``), ``latent_dim`` (choice), ``learning_rate`` (log-uniform),
    ``hidden_units`` and ``hidden_layers`` (model size, MLP models).

    Args:
        input_shape: shape of one example.
        data_levels: levels of the data (2 binary, 17 digits, 256 8-bit, None continuous);
            decides which likelihoods apply and the dequantization.
        likelihoods: names to search (default: all that apply); one name fixes it.
        latent_dims: latent sizes to search.
        huber_alpha: (low, high) range of α, searched on a log scale; equal ends fix it.
        learning_rate: (low, high), log scale.
        hidden_units, hidden_layers: width choices and (min, max) depth of the MLP.
        model: one of ``MODELS``: ``mlp``, ``conv``, ``two_layer``, ``hvae`` (the MLP size
            searched but for conv), or a preset of the families (its networks kept).
        vae_options: other ``VAE`` arguments (beta, k, kl_warmup_steps, …), fixed.
    """

    def __init__(self, input_shape, data_levels, likelihoods=None, latent_dims=(2, 4, 8, 16, 32),
                 huber_alpha=(0.1, 10.0), learning_rate=(3e-4, 1e-2), hidden_units=(64, 128, 256),
                 hidden_layers=(1, 2), model="mlp", **vae_options):
        super().__init__(name="vae")
        allowed = applicable_likelihoods(data_levels)
        self.likelihoods = _choices("likelihoods", allowed if likelihoods is None else likelihoods)
        for name in self.likelihoods:
            if name not in losses.names():
                raise ValueError(f"VAEHyperModel: unknown likelihood {name!r}; valid: {', '.join(losses.names())}.")
            if name not in allowed:
                raise ValueError(f"VAEHyperModel: likelihood {name!r} does not apply to this data "
                                 f"(levels={data_levels}); applicable: {', '.join(allowed)}.")
        self.latent_dims = [int(d) for d in _choices("latent_dims", latent_dims)]
        if min(self.latent_dims) <= 0:
            raise ValueError(f"VAEHyperModel: latent sizes must be > 0, got {self.latent_dims}.")
        self.huber_alpha = _log_range("huber_alpha", huber_alpha)
        self.learning_rate = _log_range("learning_rate", learning_rate)
        self.hidden_units = [int(u) for u in _choices("hidden_units", hidden_units)]
        self.hidden_layers = tuple(int(n) for n in hidden_layers)
        if len(self.hidden_layers) != 2 or not 1 <= self.hidden_layers[0] <= self.hidden_layers[1]:
            raise ValueError(f"VAEHyperModel: `hidden_layers` is (min, max) with 1 ≤ min ≤ max, got {hidden_layers}.")
        self.input_shape = tuple(input_shape)
        self.data_levels = data_levels
        if model not in MODELS:
            raise ValueError(f"VAEHyperModel: unknown model {model!r}; valid: {', '.join(MODELS)}.")
        self.model = model
        self.vae_options = vae_options

    @staticmethod
    def _float(hp, name, bounds):
        low, high = bounds
        if low == high:
            return hp.Fixed(name, low)
        return hp.Float(name, low, high, sampling="log")

    def build(self, hp):
        likelihood_name = hp.Choice("likelihood", self.likelihoods)
        alpha = None
        if "huber" in self.likelihoods:
            # Registered for every trial, active (not None) only when the likelihood is huber.
            with hp.conditional_scope("likelihood", ["huber"]):
                alpha = self._float(hp, "huber_alpha", self.huber_alpha)
        latent_dim = hp.Choice("latent_dim", self.latent_dims)
        learning_rate = self._float(hp, "learning_rate", self.learning_rate)
        hidden = None
        if self.model in SIZED_MODELS:
            units = hp.Choice("hidden_units", self.hidden_units)
            layers = hp.Int("hidden_layers", *self.hidden_layers)
            hidden = [units] * layers
        likelihood = factory.make_likelihood(likelihood_name, self.data_levels, huber_alpha=alpha)
        model = factory.make_model(self.model, self.input_shape, likelihood, self.data_levels,
                                   latent_dim=latent_dim, hidden=hidden, **self.vae_options)
        model.compile(optimizer=keras.optimizers.Adam(learning_rate))
        return model

    def fit(self, hp, model, *args, **kwargs):
        return model.fit(*args, **kwargs)


class PresetHyperModel(kt.HyperModel):
    """Fine-tunes a trained preset (``zoo.from_preset``) in every trial: its architecture and
    weights are kept, the learning rate (log-uniform over ``learning_rate``) is searched. The
    preset's likelihood and latent size are recorded as fixed hyperparameters, so the results'
    columns are those of ``VAEHyperModel``."""

    def __init__(self, preset, learning_rate=(1e-5, 1e-3)):
        super().__init__(name="vae")
        from zoo import trained

        # An unknown name or a bad folder fails here, not in a trial.
        self.input_shape = tuple(trained.from_preset(preset, load_weights=False).data_shape)
        self.preset = str(preset)
        self.learning_rate = _log_range("learning_rate", learning_rate)

    def build(self, hp):
        from zoo import trained

        model = trained.from_preset(self.preset)
        hp.Fixed("likelihood", model.likelihood.name)
        hp.Fixed("latent_dim", model.latent_dim)
        learning_rate = VAEHyperModel._float(hp, "learning_rate", self.learning_rate)
        model.compile(optimizer=keras.optimizers.Adam(learning_rate))
        return model

    def fit(self, hp, model, *args, **kwargs):
        return model.fit(*args, **kwargs)
