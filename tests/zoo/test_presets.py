import math

import numpy as np
import pytest

import losses
import zoo
from tests.helpers import to_numpy


@pytest.mark.parametrize("name", zoo.presets.names())
def test_every_preset_builds_with_a_citation(name):
    model = zoo.presets.get(name)
    assert model.built and len(zoo.presets.describe(name)) > 40


def test_iwae_architecture():
    model = zoo.presets.get("iwae_mnist_k50")
    assert model.k == 50 and model.latent_dim == 50 and model.hidden == (200, 200)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == (784 * 200 + 200) + (200 * 200 + 200) + (200 * 100 + 100) \
        + (50 * 200 + 200) + (200 * 200 + 200) + (200 * 784 + 784)


def test_keras_guide_objective_is_a_gaussian_elbo_up_to_a_constant():
    """mean-MSE + mean-KL (the guide) = −ELBO_β of N(μ, D/2), β = 1/L, minus D·log σ + D/2·log 2π."""
    model = zoo.presets.get("keras_guide")
    d, latent = 784, 32
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(5, d)).astype("float32")
    z_mean, z_log_var = (to_numpy(t) for t in model.encode(x))
    assert z_mean.shape == (5, latent)  # the guide's 32-dimensional code
    mu = to_numpy(model.decode(z_mean))
    kl_terms = 0.5 * (z_mean**2 + np.exp(z_log_var) - 1 - z_log_var)
    guide = np.mean((x - mu) ** 2, axis=1) + np.mean(kl_terms, axis=1)
    ours = -to_numpy(model.likelihood.log_prob(x, mu)) + model.beta * kl_terms.sum(1)
    sigma = math.sqrt(d / 2)
    constant = d * math.log(sigma) + d / 2 * math.log(2 * math.pi)
    # float32 −log p is ~3000 here, resolved to ~2.4e-4: compare to that precision.
    np.testing.assert_allclose(ours - constant, guide, rtol=0, atol=2e-3)


def test_overrides_and_unknown_names():
    assert zoo.presets.get("tf_cvae_tutorial", latent_dim=4).latent_dim == 4
    assert zoo.presets.get("tf_cvae_tutorial").kl == "monte_carlo"
    with pytest.raises(ValueError, match="Valid presets"):
        zoo.presets.get("vq_vae")
