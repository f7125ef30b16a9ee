import numpy as np
from scipy import stats

import losses
from tests.helpers import to_numpy


def test_analytic_kl_matches_monte_carlo():
    rng = np.random.default_rng(0)
    mean = rng.normal(size=(3, 4)).astype("float32")
    log_var = rng.normal(scale=0.7, size=(3, 4)).astype("float32")
    n = 200000
    z = mean + np.exp(0.5 * log_var) * rng.normal(size=(n, 3, 4)).astype("float32")
    mc = to_numpy(losses.monte_carlo_kl(z.reshape(-1, 4), np.tile(mean, (n, 1)), np.tile(log_var, (n, 1))))
    mc = mc.reshape(n, 3)
    analytic = to_numpy(losses.gaussian_kl(mean, log_var))
    stderr = mc.std(0) / np.sqrt(n)
    assert np.all(np.abs(mc.mean(0) - analytic) < 5 * stderr + 1e-4)


def test_log_probs_match_scipy():
    rng = np.random.default_rng(1)
    z, mean = rng.normal(size=(2, 5, 3)).astype("float32")
    log_var = rng.normal(size=(5, 3)).astype("float32")
    ref = stats.norm.logpdf(z, mean, np.exp(0.5 * log_var)).sum(1)
    np.testing.assert_allclose(to_numpy(losses.diagonal_gaussian_log_prob(z, mean, log_var)), ref, rtol=1e-5)
    np.testing.assert_allclose(to_numpy(losses.standard_normal_log_prob(z)), stats.norm.logpdf(z).sum(1), rtol=1e-5)


def test_kl_is_zero_at_the_prior_and_per_dim_sums():
    zeros = np.zeros((2, 3), "float32")
    np.testing.assert_allclose(to_numpy(losses.gaussian_kl(zeros, zeros)), [0.0, 0.0], atol=1e-7)
    mean = np.float32([[1.0, 0.0, 2.0]])
    per_dim = to_numpy(losses.gaussian_kl_per_dim(mean, np.zeros_like(mean)))
    np.testing.assert_allclose(per_dim, mean**2 / 2, rtol=1e-6)
    np.testing.assert_allclose(to_numpy(losses.gaussian_kl(mean, np.zeros_like(mean))), [2.5], rtol=1e-6)
