import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp
from scipy import special, stats

import losses
from tests.helpers import gradient, to_numpy
from tests.losses.common import arrays, assert_log_prob_matches, shapes


@settings(max_examples=30, deadline=None)
@given(data=st.data(), shape=shapes)
def test_matches_scipy(data, shape):
    x = data.draw(hnp.arrays(np.float32, shape, elements=st.sampled_from([0.0, 1.0])))
    logits = data.draw(arrays(shape, -15, 15))
    ours = to_numpy(losses.Bernoulli().log_prob(x, logits))
    # Summed as Σ x·l − Σ softplus(l): float32-exact relative to those parts, not to their
    # small difference (x = 1, l = 11 three times: 33 − 33.00005, ulp 4e-6; found by hypothesis).
    parts = np.abs(x * logits) + np.logaddexp(0.0, logits.astype("float64"))
    assert_log_prob_matches(ours, stats.bernoulli.logpmf(x, special.expit(logits.astype("float64"))),
                            parts=parts)


def test_huge_logits_are_exact_and_finite():
    logits = np.array([[-100.0, -100.0, 100.0, 100.0, -30.0, 30.0]], "float32")
    x = np.array([[0.0, 1.0, 0.0, 1.0, 1.0, 0.0]], "float32")
    ref = x * special.log_expit(logits.astype("float64")) + (1 - x) * special.log_expit(-logits.astype("float64"))
    assert_log_prob_matches(to_numpy(losses.Bernoulli().log_prob(x, logits)), ref)
    grad = gradient(lambda l: losses.Bernoulli().log_prob(x, l), logits)
    np.testing.assert_allclose(grad, x - special.expit(logits), atol=1e-6)


@pytest.mark.parametrize("logit_scale", [3.0, 30.0])
def test_a_confident_model_on_mnist_sized_images_is_scored_to_1e_3_nats(logit_scale):
    # log_prob sums x·l and softplus(l) separately (one pass fewer on eager PyTorch); the two
    # sums grow with |l| while their difference shrinks, so bound the float32 error there.
    rng = np.random.default_rng(0)
    x = (rng.random((64, 28, 28)) < 0.15).astype("float32")
    logits = ((2 * x - 1) * rng.uniform(0, 2 * logit_scale, x.shape) + rng.normal(size=x.shape))
    logits = logits.astype("float32")
    ref = stats.bernoulli.logpmf(x, special.expit(logits.astype("float64"))).reshape(64, -1).sum(-1)
    ours = to_numpy(losses.Bernoulli().log_prob(x, logits))
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-3)


def test_mean_and_sample():
    lik = losses.Bernoulli()
    logits = np.full((10000, 1), np.log(0.3 / 0.7), "float32")
    np.testing.assert_allclose(to_numpy(lik.mean(logits)), 0.3, rtol=1e-6)
    s = to_numpy(lik.sample(logits, seed=1))
    assert set(np.unique(s)) <= {0.0, 1.0} and abs(s.mean() - 0.3) < 0.02
    assert lik.is_discrete and lik.levels == 2 and lik.params_per_dim == 1


def test_grey_data_is_rejected_with_the_fix():
    with pytest.raises(losses.DataError, match="continuous_bernoulli"):
        losses.Bernoulli().check_data(np.array([[0.0, 0.5, 1.0]]))
    with pytest.raises(losses.DataError, match="NaN"):
        losses.Bernoulli().check_data(np.array([[0.0, np.nan]]))
    losses.Bernoulli().check_data(np.array([[0, 1], [1, 1]], "uint8"))
