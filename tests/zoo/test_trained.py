"""Preset folders: zoo.save_preset writes one, zoo.from_preset and zoo.load_model read it back,
with identical outputs, on every backend; a bad folder is one line, and is left as it was."""

import json

import numpy as np
import pytest
import keras

import zoo
from tests.helpers import to_numpy
from tests.zoo.common import digits


def small(**overrides):
    arguments = dict(input_shape=(8, 8, 1), latent_dim=3, hidden=(12,), prior=zoo.priors.get("mog", num_components=2),
                     seed=3)
    return zoo.MLPVAE(**{**arguments, **overrides})


@pytest.fixture
def saved(tmp_path):
    model = small()
    model.compile(optimizer="adam")
    model.fit(digits(64), epochs=1, batch_size=32, verbose=0)  # optimizer state: not saved with the preset
    folder = zoo.save_preset(model, tmp_path / "preset", preset="vampprior_mnist", protocol="static-mnist",
                             test_nll=123.4, command="python train.py")
    return model, folder


def test_a_preset_folder_round_trips_with_identical_outputs(saved):
    model, folder = saved
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "metadata.json", "model.weights.h5"]
    metadata = json.loads((folder / "metadata.json").read_text())
    assert metadata["protocol"] == "static-mnist" and metadata["parameter_count"] == model.count_params()
    assert metadata["keras_version"] == keras.__version__ and metadata["backend"] == keras.backend.backend()
    card = (folder / "README.md").read_text()
    assert "VampPrior" in card and "123.4" in card and "zoo.from_preset" in card
    x, z = digits(5), np.random.default_rng(0).normal(size=(5, 3)).astype("float32")
    for loaded in (zoo.from_preset(folder), zoo.load_model(folder)):
        np.testing.assert_allclose(to_numpy(loaded.posterior_params(x)), to_numpy(model.posterior_params(x)), rtol=1e-6)
        np.testing.assert_allclose(to_numpy(loaded.decode(z)), to_numpy(model.decode(z)), rtol=1e-6)
    assert getattr(zoo.from_preset(folder), "optimizer", None) is None  # the weights alone, uncompiled


def test_overrides_and_the_architecture_alone(saved):
    model, folder = saved
    assert zoo.from_preset(folder, k=7).k == 7
    fresh = zoo.from_preset(folder, load_weights=False)
    assert not np.allclose(to_numpy(fresh.decode(np.ones((1, 3), "float32"))),
                           to_numpy(model.decode(np.ones((1, 3), "float32"))))


def snapshot(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir()}


@pytest.mark.parametrize("damage, match", [
    (lambda f: (f / "config.json").unlink(), "lacks config.json"),
    (lambda f: (f / "model.weights.h5").unlink(), "lacks model.weights.h5"),
    (lambda f: (f / "metadata.json").write_text("{not json"), "metadata.json is not valid JSON"),
    (lambda f: (f / "model.weights.h5").write_bytes((f / "model.weights.h5").read_bytes()[:2000]), "do(es)? not load"),
])
def test_a_damaged_folder_is_one_line_and_left_as_it_was(saved, damage, match):
    _, folder = saved
    damage(folder)
    before = snapshot(folder)
    with pytest.raises(zoo.ModelFileError, match=match) as error:
        zoo.from_preset(folder)
    assert len(str(error.value).splitlines()) == 1
    assert snapshot(folder) == before


def test_weights_of_another_model_are_named(saved, tmp_path):
    _, folder = saved
    other = zoo.save_preset(small(latent_dim=5), tmp_path / "other")
    (folder / "model.weights.h5").write_bytes((other / "model.weights.h5").read_bytes())
    with pytest.raises(zoo.ModelFileError, match="another model's"):
        zoo.from_preset(folder)


def test_names_that_ship_no_weights_and_unknown_names(tmp_path):
    with pytest.raises(zoo.ModelFileError, match="no trained weights ship for 'iaf_mnist' yet.*zoo.presets.get"):
        zoo.from_preset("iaf_mnist")
    with pytest.raises(zoo.ModelFileError, match="neither a preset folder nor a trained preset's name"):
        zoo.from_preset("vamprior_mnist")
    with pytest.raises(zoo.ModelFileError, match="exists and is not empty"):
        (tmp_path / "full").mkdir()
        (tmp_path / "full" / "x").write_text("")
        zoo.save_preset(small(), tmp_path / "full")
