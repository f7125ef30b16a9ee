"""Checks every location-scale family must pass: scipy, normalization, scale modes, samples."""

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from keras import ops
from scipy import special, stats

import losses
from losses.base import soft_clip
from tests.helpers import gradient, integrate_density, soft_clip_np, to_numpy
from tests.losses.common import arrays, assert_log_prob_matches, shapes


def huber_reference(alpha):
    """Huber density from scipy.special.huber and log Z from quadrature, in float64."""
    from scipy import integrate

    z_total = sum(
        integrate.quad(lambda z: np.exp(-special.huber(alpha, z)), a, b)[0]
        for a, b in [(-np.inf, -alpha), (-alpha, alpha), (alpha, np.inf)]
    )

    class Ref:
        @staticmethod
        def logpdf(x, loc, scale):
            return -special.huber(alpha, (x - loc) / scale) - np.log(scale) - np.log(z_total)

    return Ref


class scipy_reference:
    """A scipy distribution with its shape arguments bound: logpdf/cdf(x, loc, scale)."""

    def __init__(self, dist, *shape_args):
        self.dist, self.args = dist, shape_args

    def logpdf(self, x, loc, scale):
        return self.dist.logpdf(x, *self.args, loc=loc, scale=scale)

    def cdf(self, x, loc, scale):
        return self.dist.cdf(x, *self.args, loc=loc, scale=scale)


# name, kwargs, reference with logpdf(x, loc, scale)
FAMILIES = [
    ("gaussian", {}, scipy_reference(stats.norm)),
    ("laplace", {}, scipy_reference(stats.laplace)),
    ("logistic", {}, scipy_reference(stats.logistic)),
    ("student_t", {"df": 3.0}, scipy_reference(stats.t, 3.0)),
    ("student_t", {"df": 0.7}, scipy_reference(stats.t, 0.7)),
    ("huber", {"alpha": 1.345}, huber_reference(1.345)),
    ("huber", {"alpha": 0.1}, huber_reference(0.1)),
]
IDS = [f"{n}-{'-'.join(map(str, k.values()))}" if k else n for n, k, _ in FAMILIES]


@pytest.mark.parametrize("name,kwargs,ref", FAMILIES, ids=IDS)
@settings(max_examples=10, deadline=None)
@given(data=st.data(), shape=shapes)
def test_learned_scale_matches_scipy(name, kwargs, ref, data, shape):
    x = data.draw(arrays(shape, -3, 3))
    loc = data.draw(arrays(shape, -3, 3))
    raw = data.draw(arrays(shape, -3, 2))
    lik = losses.get(name, scale="learned", **kwargs)
    ours = to_numpy(lik.log_prob(x, np.stack([loc, raw], -1)))
    # The density is checked at the log-scale the backend's float32 soft clip gave: that clip
    # sums terms up to ~10× the clip bounds, so its rounding (~1e-6 absolute, found by
    # hypothesis at x = μ, where the log-density cancels to ~0) is the clip's, checked here
    # against the float64 clip, not the density's.
    clipped = to_numpy(soft_clip(raw, lik.min_log_scale, lik.max_log_scale)).astype("float64")
    np.testing.assert_allclose(clipped, soft_clip_np(raw, lik.min_log_scale, lik.max_log_scale), atol=5e-6)
    assert_log_prob_matches(ours, ref.logpdf(x.astype("float64"), loc, np.exp(clipped)))


@pytest.mark.parametrize("name,kwargs,ref", FAMILIES, ids=IDS)
@pytest.mark.parametrize("sigma", [0.05, 1.0, 4.0])
def test_fixed_scale_matches_scipy(name, kwargs, ref, sigma):
    rng = np.random.default_rng(0)
    x, loc = rng.normal(size=(2, 5, 4, 3)).astype("float32")
    ours = to_numpy(losses.get(name, scale=sigma, **kwargs).log_prob(x, loc))
    assert_log_prob_matches(ours, ref.logpdf(x.astype("float64"), loc, sigma))


# Tails decaying like |x|^-1.7 (ν = 0.7) defeat the quadrature's tail map; the scipy
# match above covers ν < 1.
INTEGRABLE = [f for f in FAMILIES if f[1].get("df") != 0.7]


@pytest.mark.parametrize("name,kwargs,ref", INTEGRABLE, ids=[i for f, i in zip(FAMILIES, IDS) if f in INTEGRABLE])
@pytest.mark.parametrize("loc,log_scale", [(0.0, 0.0), (0.7, -1.5), (-2.0, 1.0)])
def test_integrates_to_one(name, kwargs, ref, loc, log_scale):
    lik = losses.get(name, scale="learned", **kwargs)

    def log_density(points):
        p = np.stack([np.full_like(points, loc), np.full_like(points, log_scale)], -1)
        return to_numpy(lik.log_prob(points[:, None].astype("float32"), p[:, None].astype("float32")))

    s = math.exp(log_scale)
    kinks = [loc - kwargs.get("alpha", 1.0) * s, loc + kwargs.get("alpha", 1.0) * s]
    total = integrate_density(log_density, [loc - 30 * s] + kinks + [loc + 30 * s])
    assert abs(total - 1.0) < 1e-6, total


@pytest.mark.parametrize("name,kwargs,ref", FAMILIES, ids=IDS)
def test_sample_follows_the_density(name, kwargs, ref):
    lik = losses.get(name, scale=0.5, **kwargs)
    loc = np.full((40000,), 1.0, "float32")
    s = to_numpy(lik.sample(loc, seed=5)).astype("float64")
    assert s.shape == loc.shape and np.all(np.isfinite(s))
    if hasattr(ref, "cdf"):
        # Kolmogorov-Smirnov against scipy's distribution (fails with p < 1e-4).
        assert stats.kstest(s, lambda v: ref.cdf(v, 1.0, 0.5)).pvalue > 1e-4
    else:  # Huber: compare the histogram with the density, bin by bin
        hist, edges = np.histogram(s, bins=40, range=(-2, 4))
        centers = (edges[:-1] + edges[1:]) / 2
        expected = np.exp(ref.logpdf(centers, 1.0, 0.5)) * len(s) * (edges[1] - edges[0])
        assert np.all(np.abs(hist - expected) < 5 * np.sqrt(expected) + 5)


@pytest.mark.parametrize("name,kwargs,ref", FAMILIES, ids=IDS)
def test_extreme_scales_stay_finite_with_finite_gradients(name, kwargs, ref):
    lik = losses.get(name, scale="learned", **kwargs)
    x = np.zeros((1, 4), "float32")
    loc = np.full((1, 4), 0.5, "float32")
    raw = np.array([[-1e4, -50.0, 50.0, 1e4]], "float32")
    params = np.stack([loc, raw], -1)
    assert np.all(np.isfinite(to_numpy(lik.log_prob(x, params))))

    def by_raw(r):
        return lik.log_prob(x, ops.stack([ops.convert_to_tensor(loc), r], axis=-1))

    def by_loc(m):
        return lik.log_prob(x, ops.stack([m, ops.convert_to_tensor(raw)], axis=-1))

    assert np.all(np.isfinite(gradient(by_raw, raw)))
    assert np.all(np.isfinite(gradient(by_loc, loc)))


def test_scale_modes_set_the_parameter_layout():
    fixed, learned, shared = (losses.Huber(scale=s) for s in (0.2, "learned", "shared"))
    assert fixed.param_names == ("loc",) and fixed.shared_param_names == ()
    assert learned.param_names == ("loc", "log_scale") and learned.shared_param_names == ()
    assert shared.param_names == ("loc", "log_scale") and shared.shared_param_names == ("log_scale",)
    assert shared.initial_params == {"loc": 0.0, "log_scale": math.log(0.1)}
    t = losses.StudentT(df="learned", scale="shared")
    assert t.param_names == ("loc", "log_scale", "log_df") and t.params_per_dim == 3
    assert t.shared_param_names == ("log_scale", "log_df")


@pytest.mark.parametrize("name", ["laplace", "logistic", "student_t", "huber"])
def test_optimal_scale_is_gaussian_only(name):
    with pytest.raises(ValueError, match="scale"):
        losses.get(name, scale="optimal")


def test_inverted_log_scale_bounds_are_rejected():
    with pytest.raises(ValueError, match="min_log_scale"):
        losses.Laplace(min_log_scale=2.0, max_log_scale=-2.0)
