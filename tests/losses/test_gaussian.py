import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy import stats

import losses
from losses.gaussian import gaussian_log_prob
from tests.helpers import gradient, integrate_density, soft_clip_np, to_numpy
from tests.losses.common import arrays, assert_log_prob_matches, shapes


@settings(max_examples=30, deadline=None)
@given(data=st.data(), shape=shapes)
def test_learned_scale_matches_scipy(data, shape):
    x = data.draw(arrays(shape, -3, 3))
    loc = data.draw(arrays(shape, -3, 3))
    raw = data.draw(arrays(shape, -3, 2))
    lik = losses.get("gaussian", scale="learned")
    ours = to_numpy(lik.log_prob(x, np.stack([loc, raw], -1)))
    sigma = np.exp(soft_clip_np(raw, lik.min_log_scale, lik.max_log_scale))
    assert_log_prob_matches(ours, stats.norm.logpdf(x, loc, sigma))


@pytest.mark.parametrize("sigma", [0.01, 0.3, 1.0, 7.5])
def test_fixed_scale_matches_scipy(sigma):
    rng = np.random.default_rng(0)
    x, loc = rng.normal(size=(2, 6, 7)).astype("float32")
    ours = to_numpy(losses.Gaussian(scale=sigma).log_prob(x, loc))
    assert_log_prob_matches(ours, stats.norm.logpdf(x, loc, sigma))


def test_mse_is_gaussian_with_every_constant():
    # −log N = ‖x − μ‖²/(2σ²) + D·log σ + (D/2)·log 2π, DESIGN.md.
    x = np.array([[0.2, 0.9, 0.4]], "float32")
    mu = np.array([[0.1, 0.5, 0.5]], "float32")
    sigma, d = 0.5, 3
    expected = np.sum((x - mu) ** 2) / (2 * sigma**2) + d * math.log(sigma) + d / 2 * math.log(2 * math.pi)
    np.testing.assert_allclose(-to_numpy(losses.Gaussian(scale=sigma).log_prob(x, mu)), [expected], rtol=1e-6)


def test_optimal_scale_is_batch_mse_and_maximizes_likelihood():
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(8, 10)).astype("float32")
    loc = (x + rng.normal(scale=0.1, size=x.shape)).astype("float32")
    lik = losses.get("sigma_vae")
    assert lik.name == "sigma_vae" and lik.params_per_dim == 1
    ours = to_numpy(lik.log_prob(x, loc))
    sigma_star = np.sqrt(np.mean((x - loc) ** 2))
    assert_log_prob_matches(ours, stats.norm.logpdf(x, loc, sigma_star))
    for other in (0.8 * sigma_star, 1.25 * sigma_star):
        assert stats.norm.logpdf(x, loc, other).sum() < ours.sum()


@pytest.mark.parametrize("loc,log_scale", [(0.0, 0.0), (1.5, -2.0), (-3.0, 1.2)])
def test_integrates_to_one(loc, log_scale):
    lik = losses.Gaussian(scale="learned")

    def log_density(points):
        p = np.stack([np.full_like(points, loc), np.full_like(points, log_scale)], -1)
        return to_numpy(lik.log_prob(points[:, None].astype("float32"), p[:, None].astype("float32")))

    s = math.exp(soft_clip_np(log_scale, -7, 7))
    total = integrate_density(log_density, [loc - 12 * s, loc + 12 * s])
    assert abs(total - 1.0) < 1e-6


def test_tiny_and_huge_scales_stay_finite_with_finite_gradients():
    x = np.zeros((1, 3), "float32")
    raw = np.array([[-1e4, -50.0, 1e4]], "float32")
    lik = losses.Gaussian(scale="learned")
    loc = np.full((1, 3), 0.5, "float32")
    value = to_numpy(lik.log_prob(x, np.stack([loc, raw], -1)))
    assert np.all(np.isfinite(value))
    grad = gradient(lambda r: lik.log_prob(x, _stack(loc, r)), raw)
    assert np.all(np.isfinite(grad))


def _stack(loc, raw):
    from keras import ops

    return ops.stack([ops.convert_to_tensor(loc), raw], axis=-1)


def test_sample_moments():
    lik = losses.Gaussian(scale=0.5)
    loc = np.full((20000, 1), 2.0, "float32")
    s = to_numpy(lik.sample(loc, seed=3))
    assert abs(s.mean() - 2.0) < 0.02 and abs(s.std() - 0.5) < 0.02


def test_sampling_optimal_scale_says_what_to_do():
    with pytest.raises(ValueError, match="mean"):
        losses.get("sigma_vae").sample(np.zeros((1, 2), "float32"))


@pytest.mark.parametrize("scale", [0.0, -1.0, float("nan"), "fixed", "optimal_"])
def test_bad_scale_is_rejected(scale):
    with pytest.raises(ValueError, match="scale"):
        losses.Gaussian(scale=scale)


def test_element_function():
    np.testing.assert_allclose(
        to_numpy(gaussian_log_prob(np.float32(1.0), 0.0, 0.0)), stats.norm.logpdf(1.0), rtol=1e-6
    )
