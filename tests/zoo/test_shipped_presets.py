"""Every trained preset that ships with the package loads on this backend, reproduces its card's
fingerprint, and gives the outputs recorded for it on a fixed batch (so, to 1e-4, the same on all
three backends).

The fingerprint is zoo.trained.FINGERPRINT's (first 1,000 official test images, IS with k = 100,
seed 0; k = 100 rather than 1000 to keep this check to seconds on each backend), compared with
the card's value for this backend within 0.05 nats. The reference outputs were written on JAX:

    KERAS_BACKEND=jax python -m tests.zoo.test_shipped_presets vampprior_mnist
"""

import pathlib
import sys

import numpy as np
import pytest

import zoo
import zoo.evaluate
from tests.helpers import BACKEND, to_numpy

REFERENCES = pathlib.Path(__file__).parent / "data" / "shipped"
SHIPPED = zoo.trained.shipped()


def reference_inputs(model, images):
    """A fixed batch: 8 test images and 8 latent codes from a fixed numpy generator."""
    z = np.random.default_rng(0).normal(size=(8, model.latent_dim)).astype("float32")
    return images[:8], z


def outputs(model, x, z):
    return {"posterior_params": to_numpy(model.posterior_params(x)), "decoded": to_numpy(model.decode(z))}


@pytest.fixture(scope="module")
def test_images():
    try:
        return zoo.protocols.PROTOCOLS["static-mnist"].load().x_test
    except zoo.datasets.DataLoadError as error:
        pytest.skip(f"static MNIST's official files are not on this machine: {error}")


def test_presets_ship():
    # The mechanism ships one model at least (issue 52: the rest as their runs finish).
    assert "vampprior_mnist" in SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_preset_reproduces_its_fingerprint(name, test_images):
    metadata = zoo.trained.preset_metadata(name)
    card = metadata["fingerprint"]
    values = zoo.trained.fingerprint_values(card)
    assert set(values) == {"tensorflow", "jax", "torch"}, "run bench/fingerprint.py on the preset before it ships"
    assert metadata["protocol"] in zoo.protocols.PROTOCOLS and metadata["preset"] == name
    model = zoo.from_preset(name)
    value = zoo.trained.fingerprint(model, test_images[: card["images"]], card["k"], card["seed"])
    assert abs(value - values[BACKEND]) <= zoo.evaluate.FINGERPRINT_TOLERANCE, (value, values[BACKEND])


@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_preset_gives_the_recorded_outputs(name):
    reference = np.load(REFERENCES / f"{name}.npz")
    model = zoo.from_preset(name)
    x, z = reference["x"], reference["z"]
    for key, value in outputs(model, x, z).items():
        np.testing.assert_allclose(value, reference[key], rtol=1e-4, atol=1e-4,
                                   err_msg=f"{name} {key} on {BACKEND}, against JAX's")


@pytest.mark.once
@pytest.mark.parametrize("name", SHIPPED)
def test_the_tables_ours_column_is_the_shipped_models_card(name):
    # README, docs/models.md and bench/README take "ours" from bench/runs.json (tests/test_docs.py):
    # a shipped model's card must be one of those rows, so a user reproduces the row with it.
    import json

    metadata = zoo.trained.preset_metadata(name)
    runs = json.loads((pathlib.Path(__file__).parents[2] / "bench" / "runs.json").read_text())["runs"]
    rows = [r for r in runs if r["preset"] == name and r["protocol"] == metadata["protocol"]
            and r["k"] == metadata["test_nll_k"] and r["command"] == metadata["command"]]
    assert rows and round(metadata["test_nll"], 2) in rows[0]["nll"], (metadata["test_nll"], rows)


def write_reference(name):
    model = zoo.from_preset(name)
    x, z = reference_inputs(model, zoo.protocols.PROTOCOLS[zoo.trained.preset_metadata(name)["protocol"]].load().x_test)
    REFERENCES.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(REFERENCES / f"{name}.npz", x=x, z=z, **outputs(model, x, z))


if __name__ == "__main__":
    for preset in sys.argv[1:]:
        write_reference(preset)
