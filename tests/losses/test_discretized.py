import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from keras import ops
from scipy import stats

import losses
from tests.helpers import gradient, soft_clip_np, to_numpy
from tests.losses.common import assert_log_prob_matches


def reference_log_pmf(k, levels, loc, scale):
    """log P(k) from scipy's logistic CDF in float64 (bins k/(L−1) ± 1/(2(L−1)), open ends)."""
    h = 0.5 / (levels - 1)
    x = k / (levels - 1)
    upper = np.where(k == levels - 1, np.inf, x + h)
    lower = np.where(k == 0, -np.inf, x - h)
    # Difference of survival functions is accurate in the right tail, of CDFs in the left.
    mass = np.where(
        loc < x,
        stats.logistic.sf(lower, loc, scale) - stats.logistic.sf(upper, loc, scale),
        stats.logistic.cdf(upper, loc, scale) - stats.logistic.cdf(lower, loc, scale),
    )
    return np.log(mass)


@settings(max_examples=15, deadline=None)
@given(
    levels=st.sampled_from([2, 5, 17, 256]),
    seed=st.integers(0, 2**16),
    batch=st.integers(1, 4),
    dims=st.integers(1, 6),
)
def test_matches_scipy(levels, seed, batch, dims):
    rng = np.random.default_rng(seed)
    k = rng.integers(0, levels, size=(batch, dims))
    loc = rng.uniform(-0.2, 1.2, size=k.shape).astype("float32")
    raw = rng.uniform(-5, 0, size=k.shape).astype("float32")
    x = (k / (levels - 1)).astype("float32")
    ours = to_numpy(losses.DiscretizedLogistic(levels=levels).log_prob(x, np.stack([loc, raw], -1)))
    scale = np.exp(soft_clip_np(raw, -7, 7))
    assert_log_prob_matches(ours, reference_log_pmf(k, levels, loc.astype("float64"), scale))


@pytest.mark.parametrize("levels", [2, 17, 256])
@pytest.mark.parametrize("loc,log_scale", [(0.5, -1.0), (-3.0, -6.0), (0.01, 2.0), (1.7, -4.0)])
def test_pmf_sums_to_one(levels, loc, log_scale):
    x = (np.arange(levels) / (levels - 1)).astype("float32")[:, None]
    params = np.broadcast_to(np.float32([loc, log_scale]), (levels, 1, 2))
    logp = to_numpy(losses.DiscretizedLogistic(levels=levels).log_prob(x, params)).astype("float64")
    assert np.all(np.isfinite(logp))
    assert abs(np.exp(logp).sum() - 1.0) < 1e-6


def test_tiny_scale_gradients_are_finite():
    x = np.float32([[0.0, 0.5, 1.0, 0.25]])
    lik = losses.DiscretizedLogistic(levels=5)
    loc = np.float32([[0.9, 0.5, 0.0, 0.3]])
    raw = np.full((1, 4), -50.0, "float32")
    grad = gradient(lambda m: lik.log_prob(x, ops.stack([m, ops.convert_to_tensor(raw)], axis=-1)), loc)
    assert np.all(np.isfinite(grad))
    assert np.all(np.isfinite(to_numpy(lik.log_prob(x, np.stack([loc, raw], -1)))))


def test_mean_and_sample():
    levels = 17
    lik = losses.DiscretizedLogistic(levels=levels, scale=0.1)
    loc = np.float32([[0.3, 0.95]])
    grid = np.arange(levels) / (levels - 1)
    pmf = np.exp(reference_log_pmf(np.arange(levels)[:, None], levels, loc, 0.1))
    np.testing.assert_allclose(to_numpy(lik.mean(loc)), (grid[:, None] * pmf).sum(0)[None], rtol=1e-5)
    s = to_numpy(lik.sample(np.broadcast_to(loc, (20000, 2)), seed=4))
    np.testing.assert_allclose(s * (levels - 1), np.round(s * (levels - 1)), atol=1e-5)
    np.testing.assert_allclose(s.mean(0), (grid[:, None] * pmf).sum(0), atol=0.01)


def test_off_grid_data_and_bad_levels_are_rejected():
    with pytest.raises(losses.DataError, match="levels"):
        losses.DiscretizedLogistic(levels=17).check_data(np.array([[0.0, 0.03]]))
    losses.DiscretizedLogistic(levels=17).check_data(np.arange(17)[None] / 16)
    for bad in (1, 2.5, "256"):
        with pytest.raises(ValueError, match="levels"):
            losses.DiscretizedLogistic(levels=bad)
