"""Every private Keras attribute the zoo touches still exists on the installed Keras: a release
that renames one fails here, naming it and what depends on it (zoo/training/keras_internals.py)."""

import numpy as np
import pytest
import keras

import zoo
from tests.helpers import BACKEND
from zoo.training import keras_internals

BACKEND_ONLY = {"_value": "torch", "_jax_state": "jax"}


@pytest.fixture(scope="module")
def trained():
    model = zoo.MLPVAE(input_shape=(4,), latent_dim=2, hidden=(4,), seed=0)
    model.compile(optimizer="adam")
    model.fit(np.ones((8, 4), "float32"), epochs=1, batch_size=8, verbose=0)
    return model


def owner_of(attribute, model, tmp_path):
    where = keras_internals.USED[attribute][0]
    if where.startswith("keras.Variable"):
        return model.trainable_variables[0]
    if where == "keras.callbacks.BackupAndRestore":
        return keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    return model


@pytest.mark.parametrize("attribute", sorted(keras_internals.USED))
def test_the_private_attribute_is_still_there(attribute, trained, tmp_path):
    if BACKEND_ONLY.get(attribute, BACKEND) != BACKEND:
        pytest.skip(f"{attribute} exists on {BACKEND_ONLY[attribute]} only")
    where, why = keras_internals.USED[attribute]
    assert hasattr(owner_of(attribute, trained, tmp_path), attribute), (
        f"Keras {keras.__version__} has no {where}.{attribute} any more, which the zoo uses ({why}): "
        f"update zoo/training/keras_internals.py")


def test_no_other_module_spells_them():
    # The zoo's own modules reach these attributes only through keras_internals (or name the
    # entry, where they override it).
    import pathlib
    import re

    root = pathlib.Path(zoo.__file__).parent
    for path in root.rglob("*.py"):
        if path.name == "keras_internals.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for attribute in keras_internals.USED:
                if re.search(rf"\.{attribute}\b|\"{attribute}\"", line) and "keras_internals.USED" not in line:
                    raise AssertionError(f"{path.relative_to(root)}:{number} spells {attribute}: use keras_internals")
