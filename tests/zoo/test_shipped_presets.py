"""Every trained preset that ships with the package loads on this backend, reproduces its card's
fingerprint, and gives the outputs recorded for it on a fixed batch (so, to 1e-4, the same on all
three backends).

The fingerprint is zoo.trained.FINGERPRINT's (first 1,000 official test images, IS with k = 100,
seed 0; k = 100 rather than 1000 to keep this check to seconds on each backend), compared with
the card's value for this backend within 0.05 nats. Those images are kept here, one file per
protocol (data/shipped/<protocol>-test.npz, checked against the protocol's own data where that is
on the machine), so the check runs on a machine without MNIST. The reference outputs and images
were written on JAX:

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


def protocol_test_images(protocol):
    """The protocol's test images the fingerprint scores (seed 0), from local files only: the
    static files where zoo.datasets finds them, else mnist.npz in $VAE_ZOO_DATA (or ../shared/data).
    Raises DataLoadError when they are not on this machine."""
    folder = zoo.datasets.default_data_dir()
    if zoo.protocols.PROTOCOLS[protocol].binarization == "static":
        folder = zoo.datasets.static_mnist_folder(download=False)
    return zoo.protocols.PROTOCOLS[protocol].load(folder, seed=0).x_test[: zoo.trained.FINGERPRINT["images"]]


def stored_test_images(protocol):
    """The same images as kept beside the tests (bits packed: 1,000 binary images, ~60 kB)."""
    with np.load(REFERENCES / f"{protocol}-test.npz") as stored:
        bits = np.unpackbits(stored["bits"], count=int(np.prod(stored["shape"])))
        return bits.reshape(stored["shape"]).astype("float32")


def test_presets_ship():
    # The mechanism ships one model at least (issue 52: the rest as their runs finish).
    assert {"vampprior_mnist", "iwae_mnist", "mog_prior_mnist", "hvae_vampprior_mnist"} <= set(SHIPPED)


@pytest.mark.once
@pytest.mark.parametrize("protocol", sorted({zoo.trained.preset_metadata(n)["protocol"] for n in SHIPPED}))
def test_the_stored_test_images_are_the_protocols(protocol):
    seeds = {zoo.trained.preset_metadata(n).get("seed", 0) for n in SHIPPED
             if zoo.trained.preset_metadata(n)["protocol"] == protocol}
    assert seeds == {0}, f"{protocol}'s stored images are seed 0's; a preset binarized with {seeds}"
    try:
        images = protocol_test_images(protocol)
    except zoo.datasets.DataLoadError as error:
        pytest.skip(f"{protocol}'s data is not on this machine: {error}")
    np.testing.assert_array_equal(stored_test_images(protocol), images)


@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_preset_reproduces_its_fingerprint(name):
    metadata = zoo.trained.preset_metadata(name)
    card = metadata["fingerprint"]
    values = zoo.trained.fingerprint_values(card)
    assert set(values) == {"tensorflow", "jax", "torch"}, "run bench/fingerprint.py on the preset before it ships"
    assert metadata["protocol"] in zoo.protocols.PROTOCOLS and metadata["preset"] == name
    model = zoo.from_preset(name)
    images = stored_test_images(metadata["protocol"])
    assert len(images) >= card["images"]
    value = zoo.trained.fingerprint(model, images[: card["images"]], card["k"], card["seed"])
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
    assert any(round(metadata["test_nll"], 2) in row["nll"] for row in rows), (metadata["test_nll"], rows)


def write_reference(name):
    """The preset's outputs on a fixed batch, and its protocol's fingerprint images if not kept yet."""
    model = zoo.from_preset(name)
    protocol = zoo.trained.preset_metadata(name)["protocol"]
    images = protocol_test_images(protocol)
    REFERENCES.mkdir(parents=True, exist_ok=True)
    x, z = reference_inputs(model, images)
    np.savez_compressed(REFERENCES / f"{name}.npz", x=x, z=z, **outputs(model, x, z))
    if not (REFERENCES / f"{protocol}-test.npz").exists():
        assert set(np.unique(images)) <= {0.0, 1.0}, f"{protocol}'s test images are not binary"
        np.savez_compressed(REFERENCES / f"{protocol}-test.npz", shape=np.array(images.shape),
                            bits=np.packbits(images.astype("uint8").reshape(-1)))


if __name__ == "__main__":
    for preset in sys.argv[1:]:
        write_reference(preset)
