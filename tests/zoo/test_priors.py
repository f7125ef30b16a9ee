"""Priors (zoo/priors.py): normalized densities that match a direct computation, samplers, errors."""

import numpy as np
import pytest
from scipy import stats
import keras

import losses
import zoo
from tests.helpers import gauss_legendre, to_numpy


def model_with(prior, latent_dim=2, **kwargs):
    return zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=latent_dim, hidden=(16,), prior=prior, **kwargs)


def mixture_logpdf(z, means, log_vars, log_weights):
    """log Σ_k π_k N(z; μ_k, diag σ_k²), float64, with scipy's densities."""
    z = np.asarray(z, "float64")
    per_component = np.stack([
        stats.multivariate_normal(m, np.diag(np.exp(v))).logpdf(z).reshape(len(z))
        for m, v in zip(np.asarray(means, "float64"), np.asarray(log_vars, "float64"))], axis=1)
    from scipy.special import logsumexp

    return logsumexp(per_component + np.asarray(log_weights, "float64"), axis=1)


def randomized_mog(latent_dim, components=3, seed=0):
    model = model_with(zoo.priors.MixtureOfGaussians(num_components=components), latent_dim)
    rng = np.random.default_rng(seed)
    prior = model.prior
    prior.means.assign(rng.normal(scale=1.5, size=prior.means.shape))
    prior.log_vars.assign(rng.uniform(-1.5, 0.5, size=prior.log_vars.shape))
    prior.logits.assign(rng.normal(size=prior.logits.shape))
    return model


def vampprior_model(latent_dim, components=3):
    model = model_with(zoo.priors.VampPrior(num_components=components), latent_dim)
    # Pseudo-inputs spread over [0, 1] so the components differ.
    model.prior.pseudo_inputs.assign(np.random.default_rng(1).uniform(size=model.prior.pseudo_inputs.shape))
    return model


def grid(latent_dim, low=-9.0, high=9.0, segments=60):
    nodes, weights = gauss_legendre(low, high, segments=segments, order=8)
    if latent_dim == 1:
        return nodes[:, None], weights
    a, b = np.meshgrid(nodes, nodes, indexing="ij")
    return np.stack([a.ravel(), b.ravel()], 1), np.outer(weights, weights).ravel()


@pytest.mark.parametrize("make", [randomized_mog, vampprior_model], ids=["mog", "vampprior"])
@pytest.mark.parametrize("latent_dim", [1, 2])
def test_mixture_priors_integrate_to_one_and_match_a_direct_computation(make, latent_dim):
    model = make(latent_dim)
    z, weights = grid(latent_dim)
    log_p = to_numpy(model.prior.log_prob(z.astype("float32"), model.encode)).astype("float64")
    assert np.sum(np.exp(log_p) * weights) == pytest.approx(1.0, abs=2e-4)
    means, log_vars, log_weights = (to_numpy(t) for t in model.prior.components(model.encode))
    if isinstance(model.prior, zoo.priors.VampPrior):
        direct_means, direct_log_vars = (to_numpy(t) for t in model.encode(to_numpy(model.prior.inputs())))
        np.testing.assert_allclose(means, direct_means, rtol=1e-6)
        np.testing.assert_allclose(log_vars, direct_log_vars, rtol=1e-6)
        np.testing.assert_allclose(log_weights, -np.log(3.0), rtol=1e-6)
    sample = z[:: max(1, len(z) // 500)]
    np.testing.assert_allclose(log_p[:: max(1, len(z) // 500)], mixture_logpdf(sample, means, log_vars, log_weights),
                               rtol=1e-5, atol=2e-4)


def test_the_quadratic_forms_keep_float32_precision_at_realistic_scales():
    rng = np.random.default_rng(3)
    means = rng.normal(scale=2.0, size=(500, 40))
    log_vars = rng.uniform(2 * np.log(0.05), 0.0, size=(500, 40))  # σ from 0.05 to 1
    z = means[rng.integers(0, 500, 64)] + rng.normal(scale=0.1, size=(64, 40))  # near components
    log_weights = np.full(500, -np.log(500.0))
    ours = to_numpy(losses.mixture_of_gaussians_log_prob(*(a.astype("float32") for a in (z, means, log_vars, log_weights))))
    np.testing.assert_allclose(ours, mixture_logpdf(z, means, log_vars, log_weights), atol=2e-2, rtol=0)


def test_standard_normal_is_n01_and_keeps_the_analytic_kl():
    model = model_with("standard_normal", 3)
    z = np.random.default_rng(0).normal(size=(5, 3)).astype("float32")
    np.testing.assert_allclose(to_numpy(model.prior.log_prob(z)), stats.norm.logpdf(z).sum(1), rtol=1e-6)
    assert model.analytic_kl and not model_with("mog", 3).analytic_kl


@pytest.mark.parametrize("make", [randomized_mog, vampprior_model], ids=["mog", "vampprior"])
def test_samples_follow_the_mixture(make):
    model = make(2)
    draws = to_numpy(model.prior.sample(20000, keras.random.SeedGenerator(0), model.encode)).astype("float64")
    means, log_vars, log_weights = (to_numpy(t).astype("float64") for t in model.prior.components(model.encode))
    weights = np.exp(log_weights)
    mean = weights @ means
    second = weights @ (np.exp(log_vars) + means ** 2)
    np.testing.assert_allclose(draws.mean(0), mean, atol=0.06)
    np.testing.assert_allclose(draws.var(0), second - mean ** 2, rtol=0.06, atol=0.02)
    assert to_numpy(model.sample(3)).shape == (3, 8, 8, 1)


def test_vampprior_pseudo_inputs_stay_in_range_and_start_from_data():
    model = model_with("vampprior", 2, seed=0)
    prior = model.prior
    assert prior.num_components == 500 and tuple(prior.pseudo_inputs.shape) == (500, 8, 8, 1)
    prior.pseudo_inputs.assign(np.full(prior.pseudo_inputs.shape, 3.0))
    assert to_numpy(prior.inputs()).max() == 1.0
    data = np.random.default_rng(0).uniform(size=(600, 8, 8, 1)).astype("float32")
    prior.initialize_from(data)
    chosen = to_numpy(prior.pseudo_inputs)
    assert all(any(np.array_equal(row, d) for d in data) for row in chosen[:5])
    with pytest.raises(ValueError, match="at least 500 examples"):
        prior.initialize_from(data[:10])


@pytest.mark.parametrize("kwargs,match", [
    ({"prior": "gaussian_mixture"}, "Unknown prior 'gaussian_mixture'. Valid names: mog, standard_normal, vampprior"),
    ({"prior": "mog", "kl": "analytic"}, "kl='analytic' needs a closed-form KL"),
])
def test_bad_priors_are_refused_at_construction(kwargs, match):
    with pytest.raises(ValueError, match=match):
        zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=2, hidden=(8,), **kwargs)


def test_vampprior_refuses_a_conditional_model_and_a_shared_instance():
    with pytest.raises(ValueError, match="prior=.*conditional model"):
        zoo.ConditionalVAE(num_classes=3, input_shape=(8, 8, 1), latent_dim=2, hidden=(8,), prior="vampprior")
    with pytest.raises(ValueError, match="does not work with this model; valid choices: standard_normal, mog"):
        zoo.TwoLayerVAE(input_shape=(8, 8, 1), latent_dim=2, hidden_dim=3, hidden=(8,), hidden2=(4,), prior="vampprior")
    prior = zoo.priors.get("mog", num_components=2)
    model_with(prior)
    with pytest.raises(ValueError, match="belongs to another model"):
        model_with(prior)
    for bad in (0, -1, 2.5):
        with pytest.raises(ValueError, match="`num_components` must be a positive integer"):
            zoo.priors.get("vampprior", num_components=bad)
        with pytest.raises(ValueError, match="`num_components` must be a positive integer"):
            zoo.priors.MixtureOfGaussians(num_components=bad)


@pytest.mark.parametrize("prior", ["mog", "vampprior"])
def test_each_prior_passes_the_family_checks(prior, tmp_path):
    from tests.zoo.common import digits, run_family_checks

    run_family_checks(lambda: model_with(zoo.priors.get(prior, num_components=20), 3), digits(), tmp_path)
