import keras_tuner as kt
import pytest

import losses
import zoo
from tests.helpers import script
from tuning import VAEHyperModel, applicable_likelihoods

# KerasTuner search spaces: `python -m tests` runs this module on one backend (tests/conftest.py).
pytestmark = pytest.mark.once


def test_bernoulli_only_for_binary_and_discretized_only_for_discrete_data():
    assert "bernoulli" in applicable_likelihoods(2) and "discretized_logistic" not in applicable_likelihoods(2)
    assert "discretized_logistic" in applicable_likelihoods(17) and "bernoulli" not in applicable_likelihoods(17)
    assert not {"bernoulli", "discretized_logistic"} & set(applicable_likelihoods(None))
    assert {"gaussian", "huber", "sigma_vae", "student_t"} <= set(applicable_likelihoods(None))


def test_huber_alpha_is_conditional_on_the_likelihood():
    hypermodel = VAEHyperModel((8, 8, 1), 17, likelihoods=["huber", "gaussian"], huber_alpha=(0.5, 2.0),
                               latent_dims=[3], hidden_units=[16], hidden_layers=(1, 1))
    hp = kt.HyperParameters()
    model = hypermodel.build(hp)
    assert isinstance(model, zoo.MLPVAE) and model.likelihood.name == "huber"
    assert 0.5 <= hp.get("huber_alpha") <= 2.0 and model.likelihood.alpha == hp.get("huber_alpha")
    hp.values["likelihood"] = "gaussian"
    assert not hp.is_active("huber_alpha")
    model = hypermodel.build(hp)
    assert isinstance(model.likelihood, losses.Gaussian)


def test_one_value_fixes_a_dimension():
    hypermodel = VAEHyperModel((8, 8, 1), 17, likelihoods=["huber"], huber_alpha=(1.345, 1.345),
                               latent_dims=[5], learning_rate=(1e-3, 1e-3))
    hp = kt.HyperParameters()
    model = hypermodel.build(hp)
    assert model.likelihood.alpha == 1.345 and model.latent_dim == 5
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-3)


@pytest.mark.parametrize("kwargs,match", [
    ({"likelihoods": []}, "empty"),
    ({"latent_dims": []}, "empty"),
    ({"huber_alpha": (0.0, 1.0)}, "huber_alpha"),
    ({"huber_alpha": (-1.0, 1.0)}, "huber_alpha"),
    ({"huber_alpha": (2.0, 1.0)}, "low ≤ high"),
    ({"likelihoods": ["mse"]}, "unknown likelihood"),
    ({"likelihoods": ["bernoulli"]}, "does not apply"),
    ({"latent_dims": [0, 4]}, "latent"),
])
def test_bad_search_spaces_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        VAEHyperModel((8, 8, 1), 17, **kwargs)


@pytest.mark.parametrize("model", ["hvae", "vampprior_mnist", "planar_mnist"])
def test_the_families_are_models_to_search(model):
    import tuning.hypermodel

    hypermodel = VAEHyperModel((8, 8, 1), 17, likelihoods=["discretized_logistic"], latent_dims=[3],
                               hidden_units=[16], hidden_layers=(1, 1), model=model)
    hp = kt.HyperParameters()
    built = hypermodel.build(hp)
    assert built.latent_dim == 3 and built.data_shape == (8, 8, 1) and built.data_levels == 17
    # A preset keeps its networks: no size hyperparameters that would do nothing.
    assert ("hidden_units" in hp.values) == (model in tuning.hypermodel.SIZED_MODELS)


def test_tune_py_offers_every_model_the_hypermodel_takes():
    import tuning.hypermodel

    tune = script("tune")
    assert tune.MODELS == tuning.hypermodel.MODELS
    with pytest.raises(ValueError, match="unknown model 'ladder_mnist'"):
        VAEHyperModel((8, 8, 1), 17, model="ladder_mnist")
