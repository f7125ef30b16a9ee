"""zoo.bounds: the bounds as parts of their own, by name or as objects, and files saved before."""

import pathlib

import numpy as np
import pytest

import zoo
from tests.helpers import to_numpy
from tests.zoo.common import digits

DATA = pathlib.Path(__file__).parent / "data"


def test_names_and_objects():
    assert zoo.bounds.names() == ["ciwae", "iwae", "miwae", "piwae"]
    bound = zoo.bounds.get("miwae", k=3, m=2)
    assert isinstance(bound, zoo.bounds.MIWAE) and bound.num_samples == 6
    assert bound.get_config() == {"name": "miwae", "k": 3, "m": 2}
    assert zoo.bounds.get(bound.get_config()).get_config() == bound.get_config()
    assert zoo.bounds.get("ciwae", k=4).beta == 0.5 and "k=4" in zoo.bounds.CIWAE(k=4).describe()


def test_a_model_takes_a_bound_object_as_it_takes_a_name(tmp_path):
    by_object = zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=3, hidden=(8,), bound=zoo.bounds.CIWAE(k=4, beta=0.3), seed=1)
    by_name = zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=3, hidden=(8,), bound="ciwae", k=4, ciwae_beta=0.3, seed=1)
    assert (by_object.bound, by_object.k, by_object.m, by_object.ciwae_beta) == ("ciwae", 4, 1, 0.3)
    by_name.set_weights(by_object.get_weights())
    x = digits(8)
    np.testing.assert_allclose(to_numpy(by_object.objective(x)["loss"]), to_numpy(by_name.objective(x)["loss"]),
                               rtol=1e-6)
    zoo.save_model(by_object, tmp_path / "m.keras")
    loaded = zoo.load_model(tmp_path / "m.keras")
    assert type(loaded.lower_bound) is zoo.bounds.CIWAE and loaded.ciwae_beta == 0.3 and loaded.k == 4


def test_a_bound_object_and_clashing_model_arguments_are_refused():
    with pytest.raises(ValueError, match="carries its own k, m and beta; leave k=5 out"):
        zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=3, bound=zoo.bounds.MIWAE(k=3, m=2), k=5)
    with pytest.raises(ValueError, match="`bound` must be one of \\('iwae', 'miwae', 'piwae', 'ciwae'\\)"):
        zoo.bounds.get("tvo")


def test_a_file_saved_before_bounds_were_parts_loads_with_the_same_outputs():
    # Saved by the code of commit 42f54bd (bound a string on the model; no log-variance clip
    # options): a CIWAE model with a mixture prior and a planar flow.
    model = zoo.load_model(DATA / "ciwae_planar_mog_42f54bd.keras")
    expected = np.load(DATA / "ciwae_planar_mog_42f54bd.npz")
    assert (model.bound, model.k, model.ciwae_beta) == ("ciwae", 3, 0.3)
    assert model.posterior.log_var_clip == "soft" and model.posterior.log_var_range == (-12.0, 8.0)
    np.testing.assert_allclose(to_numpy(model.posterior_params(expected["x"])), expected["posterior_params"],
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(to_numpy(model.decode(expected["z"])), expected["decoded"], rtol=1e-5, atol=1e-6)


def test_only_the_one_sample_elbo_takes_the_analytic_kl():
    # CIWAE and MIWAE score sampled log-weights even at one sample; free bits need the analytic KL.
    assert zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=3, hidden=(8,)).analytic_kl
    ciwae = zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=3, hidden=(8,), bound="ciwae", k=1)
    assert not ciwae.analytic_kl and np.isfinite(to_numpy(ciwae.objective(digits(4))["loss"])).all()
    with pytest.raises(ValueError, match="free_bits needs a per-dimension analytic KL"):
        zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=3, bound="miwae", k=1, free_bits=0.5)
