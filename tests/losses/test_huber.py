import math

import numpy as np
import pytest
from scipy import integrate, special

import losses
from losses.huber import huber_function, huber_log_normalizer
from tests.helpers import integrate_density, to_numpy

# log Z(α), from DESIGN.md (computed independently).
REFERENCE_LOG_Z = {0.5: 1.501816631673, 1.0: 1.073058590713, 1.345: 0.978598194572, 2.0: 0.927393392553}


@pytest.mark.parametrize("alpha,log_z", sorted(REFERENCE_LOG_Z.items()))
def test_log_normalizer_reference_values(alpha, log_z):
    assert huber_log_normalizer(alpha) == pytest.approx(log_z, abs=1e-11)
    assert losses.Huber(alpha=alpha).log_normalizer == pytest.approx(log_z, abs=1e-11)


@pytest.mark.parametrize("alpha", [1e-3, 0.1, 3.0, 40.0])
def test_log_normalizer_matches_quadrature(alpha):
    z = sum(integrate.quad(lambda v: np.exp(-special.huber(alpha, v)), a, b, epsabs=1e-13, epsrel=1e-12)[0]
            for a, b in [(-np.inf, -alpha), (-alpha, alpha), (alpha, np.inf)])
    assert huber_log_normalizer(alpha) == pytest.approx(math.log(z), rel=1e-9)


def test_limits_are_gaussian_and_laplace():
    assert huber_log_normalizer(50.0) == pytest.approx(0.5 * math.log(2 * math.pi), abs=1e-12)
    # α → 0: Z ≈ 2/α (a Laplace with rate α).
    assert huber_log_normalizer(1e-6) == pytest.approx(math.log(2e6), rel=1e-6)


def test_huber_function_matches_scipy():
    z = np.linspace(-5, 5, 101).astype("float32")
    for alpha in (0.1, 1.0, 2.5):
        np.testing.assert_allclose(to_numpy(huber_function(z, alpha)), special.huber(alpha, z), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("alpha", [0.1, 0.5, 1.0, 1.345, 2.0, 5.0])
@pytest.mark.parametrize("sigma", [0.3, 2.5])
def test_integrates_to_one(alpha, sigma):
    lik = losses.Huber(alpha=alpha, scale=sigma)
    loc = 0.4

    def log_density(points):
        p = np.full_like(points, loc)
        return to_numpy(lik.log_prob(points[:, None].astype("float32"), p[:, None].astype("float32")))

    breakpoints = [loc - 20 * sigma, loc - alpha * sigma, loc + alpha * sigma, loc + 20 * sigma]
    total = integrate_density(log_density, breakpoints)
    assert abs(total - 1.0) < 1e-6, total


def test_log_prob_keeps_every_constant():
    # −log p = H_α((x − μ)/σ) + log σ + log Z(α), per dimension, summed.
    x = np.array([[0.0, 3.0]], "float32")
    mu = np.array([[0.5, 0.0]], "float32")
    alpha, sigma = 1.345, 0.5
    z = (x - mu) / sigma
    expected = np.sum(special.huber(alpha, z) + math.log(sigma) + REFERENCE_LOG_Z[alpha])
    ours = -to_numpy(losses.Huber(alpha=alpha, scale=sigma).log_prob(x, mu))
    np.testing.assert_allclose(ours, [expected], rtol=1e-6)


@pytest.mark.parametrize("alpha", [0, -1.0, float("nan"), float("inf"), "1", None])
def test_bad_alpha_names_the_argument(alpha):
    with pytest.raises(ValueError, match="alpha"):
        losses.get("huber", alpha=alpha)


def test_config_round_trip():
    lik = losses.Huber(alpha=0.7, scale="learned", init_scale=0.2)
    again = losses.Huber.from_config(lik.get_config())
    assert again.get_config() == lik.get_config() and again.alpha == 0.7
