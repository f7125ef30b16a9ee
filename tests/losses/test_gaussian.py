import math

import numpy as np
import pytest
from scipy import stats

import losses
from losses.gaussian import gaussian_log_prob
from tests.helpers import to_numpy
from tests.losses.common import assert_log_prob_matches


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
