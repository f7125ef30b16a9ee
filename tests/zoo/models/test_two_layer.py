import numpy as np
import pytest

import zoo
from tests.helpers import to_numpy
from tests.zoo.common import digits, run_model_checks


def make(k=1):
    return zoo.TwoLayerVAE(input_shape=(8, 8, 1), latent_dim=3, hidden_dim=6, hidden=(32,),
                           hidden2=(16,), k=k)


@pytest.mark.parametrize("k", [1, 5])
def test_two_layer_vae_and_iwae(k, tmp_path):
    model, _ = run_model_checks(lambda: make(k), digits(), tmp_path)
    assert to_numpy(model.sample(4)).shape == (4, 8, 8, 1)
    assert to_numpy(model.encode(digits(2))[0]).shape == (2, 3)


def test_importance_sampling_beats_the_elbo():
    model = make()
    x = digits(64)
    elbo = np.mean([to_numpy(model.objective(x)["elbo"]).mean() for _ in range(20)])
    assert zoo.log_likelihood(model, x, num_samples=200).mean() > elbo


def test_analytic_kl_is_refused_with_the_reason():
    with pytest.raises(ValueError, match="no closed form"):
        zoo.TwoLayerVAE(kl="analytic")


def test_active_units_of_both_layers():
    model = make()
    x = digits(64)
    count, variances = zoo.active_units(model, x, layer="h1")
    h1_means = to_numpy(model.encode_h1(x)[0])
    assert variances.shape == (6,) and count == int(np.sum(variances > 1e-2))
    np.testing.assert_allclose(variances, h1_means.var(axis=0), rtol=1e-4, atol=1e-7)
    top_count, top_variances = zoo.active_units(model, x)  # the default: the top layer, h2
    assert top_variances.shape == (3,) and top_count == int(np.sum(top_variances > 1e-2))
    assert zoo.active_unit_counts(model, x) == {"active_units": top_count, "active_units_h1": count}
