import math

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy import integrate, special

import losses
from losses.continuous_bernoulli import continuous_bernoulli_log_normalizer
from tests.helpers import gauss_legendre, gradient, to_numpy
from tests.losses.common import arrays, assert_log_prob_matches, shapes


def _reference_log_c(logit):
    """log C(λ) = log(2·artanh(1 − 2λ)/(1 − 2λ)) in 50-digit arithmetic (the paper's λ-form)."""
    if logit == 0:
        return math.log(2.0)
    with mpmath.workdps(60):
        lam = 1 / (1 + mpmath.exp(-mpmath.mpf(float(logit))))
        return float(mpmath.log(2 * mpmath.atanh(1 - 2 * lam) / (1 - 2 * lam)))


def reference_log_prob(x, logits):
    """log C(λ) + x·log λ + (1 − x)·log(1 − λ), elementwise, float64."""
    x, logits = np.broadcast_arrays(np.asarray(x, "float64"), np.asarray(logits, "float64"))
    log_c = np.vectorize(_reference_log_c)(logits)
    return log_c + x * special.log_expit(logits) + (1 - x) * special.log_expit(-logits)


@settings(max_examples=30, deadline=None)
@given(data=st.data(), shape=shapes)
def test_matches_reference(data, shape):
    x = data.draw(arrays(shape, 0, 1))
    logits = data.draw(arrays(shape, -20, 20))
    ours = to_numpy(losses.ContinuousBernoulli().log_prob(x, logits))
    assert_log_prob_matches(ours, reference_log_prob(x, logits))


def test_normalizer_is_continuous_across_the_series_threshold():
    logits = np.array([0.0, 1e-6, -0.0999, 0.0999, 0.1, 0.1001, 1.0, 30.0, 100.0], "float32")
    ours = to_numpy(continuous_bernoulli_log_normalizer(logits))
    np.testing.assert_allclose(ours, np.vectorize(_reference_log_c)(logits), rtol=1e-6)


@pytest.mark.parametrize("logit", [-100.0, -8.0, -1e-3, 0.0, 0.05, 2.0, 100.0])
def test_integrates_to_one_on_unit_interval(logit):
    points, weights = gauss_legendre(0.0, 1.0, segments=50, order=20)
    x = points.astype("float32")[:, None]
    logp = to_numpy(losses.ContinuousBernoulli().log_prob(x, np.full_like(x, logit)))
    if abs(logit) > 50:
        # The mass piles up within ~1/|l| of an edge: check the values against the reference
        # there, and the normalization on a grid fine enough to resolve it.
        np.testing.assert_allclose(logp, reference_log_prob(points, logit), rtol=1e-5, atol=1e-5)
        points, weights = gauss_legendre(0.0, 1.0, segments=4000, order=20)
        logp = reference_log_prob(points, logit)
    total = np.sum(np.exp(np.asarray(logp, "float64")) * weights)
    assert abs(total - 1.0) < 1e-6


@pytest.mark.parametrize("logit", [-100.0, -1.0, -1e-4, 0.0, 1e-4, 0.1, 3.0, 100.0])
def test_gradients_are_finite(logit):
    x = np.array([[0.0, 0.3, 1.0]], "float32")
    grad = gradient(lambda l: losses.ContinuousBernoulli().log_prob(x, l), np.full((1, 3), logit, "float32"))
    assert np.all(np.isfinite(grad))


@pytest.mark.parametrize("logit", [-5.0, -0.05, 0.0, 0.07, 1.0, 9.0])
def test_mean_matches_quadrature_and_samples(logit):
    lik = losses.ContinuousBernoulli()
    expected = integrate.quad(lambda v: v * np.exp(reference_log_prob(v, logit)), 0, 1)[0]
    np.testing.assert_allclose(to_numpy(lik.mean(np.float32([[logit]]))), [[expected]], rtol=1e-5)
    s = to_numpy(lik.sample(np.full((20000, 1), logit, "float32"), seed=2))
    assert s.min() >= 0 and s.max() <= 1 and abs(s.mean() - expected) < 0.01


def test_check_data():
    with pytest.raises(losses.DataError, match="255"):
        losses.ContinuousBernoulli().check_data(np.array([[0.0, 200.0]]))
    losses.ContinuousBernoulli().check_data(np.array([[0.0, 0.3, 1.0]]))
