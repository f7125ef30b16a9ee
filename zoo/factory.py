"""Build a likelihood and a model for a dataset from plain options (the CLIs use these)."""

import losses
from zoo import posteriors, presets, priors
from zoo.models.conditional import ConditionalVAE
from zoo.models.conv import ConvVAE
from zoo.models.hierarchical import HVAE
from zoo.models.ladder import LadderVAE
from zoo.models.mlp import MLPVAE
from zoo.models.two_layer import TwoLayerVAE

MODELS = ("mlp", "conv", "conditional", "two_layer", "hvae", "ladder")
LOCATION_SCALE = ("gaussian", "laplace", "logistic", "student_t", "huber", "discretized_logistic")


def default_likelihood(levels):
    """Bernoulli for binary data, discretized logistic for L levels, Gaussian if continuous."""
    if levels == 2:
        return "bernoulli"
    return "discretized_logistic" if levels else "gaussian"


def make_likelihood(name, levels, scale=None, huber_alpha=None, student_df=None):
    """A likelihood for data with ``levels`` levels; options that do not apply are errors."""
    name = (name or default_likelihood(levels)).replace("-", "_")
    if name not in losses.names():
        raise ValueError(f"unknown likelihood {name!r}; choose one of {', '.join(losses.names())}.")
    kwargs = {}
    if huber_alpha is not None:
        if name != "huber":
            raise ValueError(f"--huber-alpha applies to the huber likelihood, not {name}.")
        kwargs["alpha"] = huber_alpha
    if student_df is not None:
        if name != "student_t":
            raise ValueError(f"--student-df applies to the student_t likelihood, not {name}.")
        kwargs["df"] = student_df if student_df == "learned" else float(student_df)
    if scale is not None:
        if name not in LOCATION_SCALE:
            raise ValueError(f"--scale applies to location-scale likelihoods ({', '.join(LOCATION_SCALE)}), "
                             f"not {name}.")
        kwargs["scale"] = scale if scale in ("learned", "shared", "optimal") else float(scale)
    if name == "discretized_logistic":
        if not levels:
            raise ValueError("discretized_logistic needs discrete data (e.g. 8-bit or 17-level "
                             "images); this data is continuous: use gaussian, laplace, huber, ….")
        kwargs["levels"] = levels
    return losses.get(name, **kwargs)


def make_prior(name=None, num_components=None):
    """A prior by name (None: the model's default); ``num_components`` for the mixtures."""
    if num_components is not None and name not in ("mog", "vampprior"):
        raise ValueError(f"--prior-components applies to --prior mog or vampprior, not {name or 'the default'}.")
    if name is None:
        return None
    return priors.get(name, **({} if num_components is None else {"num_components": num_components}))


def make_posterior(name=None, num_steps=None):
    """A posterior by name (None: the model's default); ``num_steps`` for the flows."""
    if num_steps is not None and name not in ("planar", "iaf"):
        raise ValueError(f"--flow-steps applies to --posterior planar or iaf, not {name or 'the default'}.")
    if name is None:
        return None
    return posteriors.get(name, **({} if num_steps is None else {"num_steps": num_steps}))


def make_model(kind, input_shape, likelihood, levels, latent_dim=None, hidden=None,
               num_classes=None, **vae_options):
    """A zoo model: one of ``MODELS`` or a preset, for this data shape. ``vae_options`` whose
    value is None (e.g. ``prior=None``) are left to the model's (or preset's) default."""
    vae_options = {key: value for key, value in vae_options.items() if value is not None}
    options = dict(vae_options, likelihood=likelihood, data_levels=levels,
                   input_shape=tuple(input_shape))
    if latent_dim is not None:
        options["latent_dim"] = latent_dim
    if kind in presets.names():
        return presets.get(kind, **options)
    if kind not in MODELS:
        raise ValueError(f"unknown model {kind!r}; choose one of {', '.join(MODELS + tuple(presets.names()))}.")
    if kind == "ladder":
        if latent_dim is not None:
            raise ValueError("--model ladder has one size per stochastic layer (64,32,16,8,4 by default): "
                             "set them in Python, zoo.LadderVAE(latent_dims=...), not with --latent-dim.")
        options.pop("latent_dim", None)
        if hidden is not None:
            options["hidden"] = tuple(hidden)
        return LadderVAE(**options)
    options.setdefault("latent_dim", 16)
    if kind == "conv":
        if len(input_shape) != 3:
            raise ValueError(f"--model conv needs images (height, width, channels); this data has "
                             f"shape {tuple(input_shape)}: use --model mlp.")
        return ConvVAE(**options)
    if hidden is not None:
        options["hidden"] = tuple(hidden)
    if kind == "conditional":
        if not num_classes:
            raise ValueError("--model conditional needs labels; this dataset has none.")
        return ConditionalVAE(num_classes=num_classes, **options)
    if kind == "two_layer":
        options.pop("kl", None)  # always Monte Carlo
        return TwoLayerVAE(**options)
    if kind == "hvae":
        return HVAE(**options)
    return MLPVAE(**options)
