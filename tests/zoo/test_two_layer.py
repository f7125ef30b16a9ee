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
