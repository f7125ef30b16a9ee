import math

import numpy as np
import pytest
from keras import ops
from scipy import special, stats

import losses
from losses.student_t import lgamma
from tests.helpers import gradient, soft_clip_np, to_numpy
from tests.losses.common import assert_log_prob_matches


def test_lgamma_matches_scipy():
    x = np.concatenate([np.geomspace(1e-3, 1.0, 50), np.linspace(1.0, 600.0, 200)]).astype("float32")
    ours = to_numpy(lgamma(ops.convert_to_tensor(x)))
    ref = special.gammaln(x.astype("float64"))
    np.testing.assert_allclose(ours, ref, rtol=2e-6, atol=2e-6)


@pytest.mark.parametrize("log_df", [math.log(0.5), 0.0, math.log(3.0), math.log(80.0)])
def test_learned_df_matches_scipy(log_df):
    rng = np.random.default_rng(3)
    x, loc = rng.normal(size=(2, 4, 6)).astype("float32")
    log_scale = rng.normal(scale=0.5, size=(4, 6)).astype("float32")
    lik = losses.StudentT(df="learned", scale="learned")
    params = np.stack([loc, log_scale, np.full_like(loc, log_df)], -1)
    df = math.exp(soft_clip_np(log_df, math.log(0.2), math.log(1000.0)))
    scale = np.exp(soft_clip_np(log_scale, -7, 7))
    ref = stats.t.logpdf(x.astype("float64"), df, loc=loc, scale=scale)
    assert_log_prob_matches(to_numpy(lik.log_prob(x, params)), ref)


def test_learned_df_has_finite_gradients_at_the_edges():
    x = np.array([[0.0, 50.0, -3.0]], "float32")
    lik = losses.StudentT(df="learned", scale=1.0)
    log_df = np.array([[-30.0, 0.0, 30.0]], "float32")
    grad = gradient(lambda d: lik.log_prob(x, ops.stack([ops.zeros_like(d), d], axis=-1)), log_df)
    assert np.all(np.isfinite(grad))


@pytest.mark.parametrize("df", [0, -2.0, float("nan"), "learn"])
def test_bad_df_names_the_argument(df):
    with pytest.raises(ValueError, match="df"):
        losses.StudentT(df=df)


def test_learned_df_sample_uses_the_params():
    lik = losses.StudentT(df="learned", scale=1.0)
    params = np.stack([np.zeros(30000, "float32"), np.full(30000, math.log(4.0), "float32")], -1)
    s = to_numpy(lik.sample(params, seed=11)).astype("float64")
    df = math.exp(soft_clip_np(math.log(4.0), math.log(0.2), math.log(1000.0)))
    assert stats.kstest(s, stats.t(df).cdf).pvalue > 1e-4
