"""One configuration of every likelihood, with data in its support, for cross-cutting tests."""

import numpy as np

import losses

CASES = [
    ("bernoulli", {}),
    ("continuous_bernoulli", {}),
    ("gaussian", {"scale": "learned"}),
    ("gaussian", {"scale": 0.3}),
    ("sigma_vae", {}),
    ("laplace", {"scale": "learned"}),
    ("logistic", {"scale": "learned"}),
    ("student_t", {"df": "learned", "scale": "learned"}),
    ("huber", {"alpha": 1.345, "scale": "learned"}),
    ("discretized_logistic", {"levels": 17}),
]
IDS = [name + "".join(f"-{v}" for v in kwargs.values()) for name, kwargs in CASES]


def make(name, kwargs):
    return losses.get(name, **kwargs)


def data_for(lik, shape, rng):
    """Data in the likelihood's support: binary, on the L-level grid, or in [0, 1]."""
    if lik.levels is not None:
        return (rng.integers(0, lik.levels, size=shape) / (lik.levels - 1)).astype("float32")
    return rng.uniform(0.02, 0.98, size=shape).astype("float32")


def params_for(lik, shape, rng):
    """Raw params of the right layout: loc/logits channel first, then log-scales etc."""
    channels = [rng.normal(scale=1.0, size=shape) if n == "logits" else rng.uniform(0, 1, size=shape)
                if n == "loc" else rng.uniform(-3, 0.5, size=shape) for n in lik.param_names]
    stacked = np.stack(channels, -1).astype("float32")
    return stacked[..., 0] if lik.params_per_dim == 1 else stacked
