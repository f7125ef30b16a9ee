import numpy as np
import pytest

import zoo
from losses import DataError
from tests.helpers import to_numpy
from tests.zoo.common import digit_labels, digits, run_model_checks


def make():
    return zoo.ConditionalVAE(num_classes=10, input_shape=(8, 8, 1), latent_dim=3, hidden=(32,))


def test_conditional_vae(tmp_path):
    x, y = digits(), digit_labels()
    model, _ = run_model_checks(make, x, tmp_path, inputs=(x, y), fit_args=(x, y))
    samples = to_numpy(model.sample([0, 3, 3, 9]))
    assert samples.shape == (4, 8, 8, 1)
    # The label changes the decoded image for the same z.
    z = np.zeros((2, 3), "float32")
    params = to_numpy(model.decode(z, model._split_inputs(None, np.array([1, 7]))[1]))
    assert not np.allclose(params[0], params[1])


def test_pairs_and_targets_are_the_same_data():
    x, y = digits(64), digit_labels(64)
    model = make()
    model.compile(optimizer="adam")
    assert np.isfinite(model.fit((x, y), epochs=1, verbose=0).history["elbo"]).all()
    assert np.isfinite(model.evaluate(x, y, verbose=0)).all()


def test_missing_or_bad_labels_are_reported():
    x, y = digits(64), digit_labels(64)
    model = make()
    model.compile(optimizer="adam")
    with pytest.raises(DataError, match="needs labels"):
        model.fit(x, epochs=1, verbose=0)
    with pytest.raises(DataError, match="one integer label per example"):
        model.fit(x, y[:10], epochs=1, verbose=0)
    with pytest.raises(DataError, match=r"\[0, 10\)"):
        model.fit(x, y + 5, epochs=1, verbose=0)
    with pytest.raises(DataError, match=r"\[0, 10\)"):
        model.sample([11])
