"""The VampPrior paper's two-level HVAE (zoo/models/hierarchical.py)."""

import numpy as np
import pytest

import losses
import zoo
from tests.helpers import to_numpy
from tests.zoo.common import digits, run_family_checks


def make(prior="standard_normal", **kwargs):
    return zoo.HVAE(input_shape=(8, 8, 1), latent_dim=3, hidden_dim=4, hidden=(24, 24), prior=prior, **kwargs)


@pytest.mark.parametrize("prior", ["standard_normal", "vampprior"])
def test_hvae_passes_the_family_checks(prior, tmp_path):
    spec = zoo.priors.get(prior, **({"num_components": 20} if prior == "vampprior" else {}))
    model = run_family_checks(lambda: make(spec if prior == "vampprior" else prior), digits(), tmp_path)
    assert to_numpy(model.sample(4)).shape == (4, 8, 8, 1)


def test_log_weights_are_the_sum_of_both_layers_terms():
    model = make("vampprior")
    x = digits(6)
    state = to_numpy(model.seed_generator.state)
    (z1, z2), log_q, _, _ = model.sample_posterior(x, 2)
    model.seed_generator.state.assign(state)
    log_px, log_ratio, _, _ = model.log_weight_terms(x, 2)
    x2 = np.concatenate([x, x])
    z2_mean, z2_log_var = model.encode(x2)
    z1_mean, z1_log_var = model.encode_z1(model.encoder_z1_x(x2), z2)
    expected_q = (losses.diagonal_gaussian_log_prob(z2, z2_mean, z2_log_var)
                  + losses.diagonal_gaussian_log_prob(z1, z1_mean, z1_log_var))
    expected_p = (losses.diagonal_gaussian_log_prob(z1, *model.prior_z1_params(z2))
                  + model.prior.log_prob(z2, model.encode))
    np.testing.assert_allclose(to_numpy(log_q), to_numpy(expected_q), rtol=1e-5)
    np.testing.assert_allclose(to_numpy(log_ratio).ravel(), to_numpy(expected_q - expected_p), rtol=1e-4, atol=1e-4)
    expected_px = model.likelihood.log_prob(x2, model.decode_both(z1, z2))
    np.testing.assert_allclose(to_numpy(log_px).ravel(), to_numpy(expected_px), rtol=1e-5)


def test_the_kl_is_always_monte_carlo_and_flows_are_refused():
    with pytest.raises(ValueError, match="no closed form"):
        make(kl="analytic")
    with pytest.raises(ValueError, match="valid choices: gaussian"):
        make(posterior="iaf")
