"""python -m zoo.evaluate: a trained preset scored on its data, its fingerprint checked; the
shared scores and pictures train.py reports (zoo/evaluate.py)."""

import json

import numpy as np
import pytest

import losses
import zoo
import zoo.evaluate
from tests.zoo.common import digits
from zoo import datasets, protocols


@pytest.fixture(scope="module")
def digits_preset(tmp_path_factory):
    """A small trained model on bundled digits, saved with a card (no protocol: scored with --data)."""
    data = datasets.load("digits")
    model = zoo.MLPVAE(input_shape=data.shape, latent_dim=3, hidden=(16,), data_levels=data.levels, seed=1,
                       likelihood=losses.DiscretizedLogistic(levels=data.levels))
    model.compile(optimizer="adam")
    model.fit(data.x_train, epochs=2, batch_size=64, verbose=0)
    card = {"images": 100, "k": 50, "seed": 0, "log_px": round(zoo.trained.fingerprint(model, data.x_test[:100], 50), 4)}
    folder = zoo.save_preset(model, tmp_path_factory.mktemp("presets") / "digits-vae", test_nll_k=20,
                             test_nll=-1.0, test_negative_elbo=-2.0, fingerprint=card)
    return folder, model


def test_the_fingerprint_matches_the_card_and_a_changed_model_does_not(digits_preset, tmp_path, capsys):
    folder, model = digits_preset
    assert zoo.evaluate.main([str(folder), "--fingerprint", "--data", "digits"]) == 0
    assert "matches" in capsys.readouterr().out
    # The same card over other weights: the check must fail, not pass on noise.
    other = zoo.MLPVAE(**{**model.get_config(), "seed": 2})
    other.compile(optimizer="adam")
    other.fit(digits(64), epochs=1, verbose=0)
    metadata = json.loads((folder / "metadata.json").read_text())
    changed = zoo.save_preset(other, tmp_path / "changed", **{k: metadata[k] for k in ("fingerprint", "test_nll_k")})
    assert zoo.evaluate.main([str(changed), "--fingerprint", "--data", "digits"]) == 1
    assert "DIFFERS" in capsys.readouterr().out


def test_scores_print_beside_the_card_and_files_are_written(digits_preset, tmp_path, capsys):
    folder, _ = digits_preset
    out = tmp_path / "evaluation"
    assert zoo.evaluate.main([str(folder), "--data", "digits", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["eval_samples"] == 20  # the card's k when --k is left out
    assert metrics["test_log_likelihood"] >= metrics["test_elbo"] - 0.05  # IS is above the bound, up to noise
    assert "-1.00" in printed and "-2.00" in printed  # the card's numbers, beside this run's
    assert {"samples.png", "reconstructions.png", "latent_traversal.png"} <= {p.name for p in out.iterdir()}
    # The test split's ELBO of the weights as saved: a model loaded alike draws the same z first
    # (its seed is in the config), so the numbers agree to round-off, not only to the ~2 nats of
    # sampling noise of one z per image.
    loaded = zoo.from_preset(folder)
    loaded.compile()
    elbo = loaded.evaluate(datasets.load("digits").x_test, batch_size=500, verbose=0, return_dict=True)["elbo"]
    np.testing.assert_allclose(metrics["test_elbo"], elbo, rtol=1e-6)


#: A preset with no trained weights in the package (the list shrinks as their runs ship).
UNSHIPPED = next((name for name in zoo.presets.names() if name not in zoo.trained.shipped()), None)


@pytest.mark.once
@pytest.mark.parametrize("arguments, message", [
    (["no-such-preset"], "neither a preset folder nor a trained preset's name"),
    pytest.param([UNSHIPPED], f"no trained weights ship for {UNSHIPPED!r}",
                 marks=pytest.mark.skipif(UNSHIPPED is None, reason="every preset ships its weights")),
    (["{folder}", "--k", "0"], "--k must be a positive integer, got 0"),
    (["{folder}"], "names no known protocol (None"),
    (["{folder}", "--data", "/nowhere.npz"], "/nowhere.npz"),
])
def test_bad_input_is_one_line(digits_preset, arguments, message, capsys):
    folder, _ = digits_preset
    code = zoo.evaluate.main([a.format(folder=folder) for a in arguments])
    error = capsys.readouterr().err
    assert code == 2 and message in error, error
    assert len(error.strip().splitlines()) == 1 and error.startswith("zoo.evaluate: error: ")


@pytest.mark.once
def test_each_protocol_loads_its_data(monkeypatch):
    static = protocols.PROTOCOLS["static-mnist"]
    try:
        data = static.load()
    except datasets.DataLoadError as error:
        pytest.skip(f"static MNIST's files are not on this machine: {error}")
    assert (len(data.x_train), len(data.x_valid), len(data.x_test)) == (50000, 10000, 10000)
    with pytest.raises(ValueError, match="official validation file"):
        static.load(validation_fraction=0.1)
    # The dynamic protocol binarizes the grey test images once, from the seed the card records.
    grey = datasets.Dataset(name="grey", x_train=np.full((4, 2, 2, 1), 0.5, "float32"), y_train=None,
                            x_valid=np.full((2, 2, 2, 1), 0.5, "float32"), y_valid=None,
                            x_test=np.full((3, 2, 2, 1), 0.5, "float32"), y_test=None, levels=None)
    monkeypatch.setattr(datasets, "load", lambda name, **kwargs: grey)
    first, again = (zoo.evaluate.preset_data({"protocol": "dynamic-mnist", "seed": 5}) for _ in range(2))
    assert set(np.unique(first.x_test)) <= {0.0, 1.0} and np.array_equal(first.x_test, again.x_test)
    assert first.binarization_seed == 5


@pytest.mark.once
def test_the_cards_numbers_stand_only_beside_a_run_on_its_data(digits_preset, tmp_path, capsys):
    # A card measured on static MNIST, scored here on digits: its numbers are not shown beside ours.
    folder, model = digits_preset
    elsewhere = zoo.save_preset(model, tmp_path / "static-card", protocol="static-mnist", test_nll_k=20,
                                test_nll=-1.0, test_negative_elbo=-2.0)
    assert zoo.evaluate.main([str(elsewhere), "--data", "digits", "--out", str(tmp_path / "e")]) == 0
    printed = capsys.readouterr().out
    assert "-1.00" not in printed and "-2.00" not in printed and printed.count("—") == 4, printed


@pytest.mark.once  # pictures; the model's numerics are tested on every backend in tests/zoo
def test_pictures_of_a_conditional_model_use_the_labels(tmp_path):
    data = datasets.load("digits").limited(40)
    model = zoo.ConditionalVAE(num_classes=10, input_shape=data.shape, latent_dim=3, hidden=(8,),
                               data_levels=data.levels, likelihood=losses.DiscretizedLogistic(levels=data.levels))
    saved = zoo.evaluate.save_pictures(model, data, tmp_path / "pictures", conditional=True)
    assert saved == ["samples.png", "reconstructions.png", "latent_traversal.png"]
    assert all((tmp_path / "pictures" / name).stat().st_size > 0 for name in saved)
