import numpy as np
import pytest
import keras

import losses
import zoo
from zoo import datasets


def test_digits_are_bundled_with_17_levels_and_labels():
    data = datasets.load("digits")
    assert data.levels == 17 and data.shape == (8, 8, 1) and data.num_classes == 10
    assert len(data.x_train) + len(data.x_valid) + len(data.x_test) == 1797
    np.testing.assert_allclose(data.x_train * 16, np.round(data.x_train * 16))


def test_keras_datasets_without_network_say_what_to_do(monkeypatch):
    def offline():
        raise OSError("URL fetch failure: no route to host")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    with pytest.raises(datasets.DataLoadError, match="needs internet access once.*--data digits"):
        datasets.load("mnist")


@pytest.mark.parametrize("array,levels", [
    ((np.arange(60 * 16).reshape(60, 16) % 256).astype("uint8"), 256),
    ((np.arange(60 * 16).reshape(60, 4, 4) % 2).astype("float32"), 2),
    (np.random.default_rng(0).uniform(size=(60, 5)).astype("float32"), None),
])
def test_npz_levels_and_shapes(array, levels, tmp_path):
    np.savez(tmp_path / "d.npz", x=array)
    data = datasets.load(str(tmp_path / "d.npz"))
    assert data.levels == levels and data.x_train.max() <= 1.0
    assert data.shape == ((4, 4, 1) if array.ndim == 3 else array.shape[1:])


@pytest.mark.parametrize("array,match", [
    (np.full((30, 4), np.nan, "float32"), "NaN"),
    (np.full((30, 4), -1.0, "float32"), "≥ 0"),
    (np.full((30, 4), 300.5, "float32"), r"\[0, 1\]"),
    (np.zeros((30,), "float32"), "examples"),
    (np.zeros((5, 4), "float32"), "too few"),
])
def test_bad_npz_data_is_explained(array, match, tmp_path):
    np.savez(tmp_path / "d.npz", x=array)
    with pytest.raises(datasets.DataLoadError, match=match):
        datasets.load(str(tmp_path / "d.npz"))


def test_binarized_mnist_missing_says_where_to_point(tmp_path):
    with pytest.raises(datasets.DataLoadError, match="--data-dir"):
        datasets.load("binarized-mnist", data_dir=tmp_path)


def test_binarize_draws_one_reproducible_binary_copy():
    x = np.linspace(0, 1, 10000, dtype="float32").reshape(100, 100)
    b = zoo.datasets.binarize(x, seed=3)
    assert b.dtype == np.float32 and set(np.unique(b)) <= {0.0, 1.0}
    np.testing.assert_array_equal(b, zoo.datasets.binarize(x, seed=3))
    assert abs(b.mean() - 0.5) < 0.02 and b[:10].mean() < 0.1 < 0.9 < b[-10:].mean()
    with pytest.raises(losses.DataError, match="divide by 255"):
        zoo.datasets.binarize(x * 255)


def test_dynamically_binarized_keeps_grey_training_data_and_binarizes_the_rest():
    data = zoo.datasets.load("digits").dynamically_binarized(seed=0)
    assert data.levels == 2 and len(np.unique(data.x_train)) == 17
    for x in (data.x_valid, data.x_test):
        assert set(np.unique(x)) == {0.0, 1.0}
    with pytest.raises(zoo.datasets.DataLoadError, match="binary already"):
        data.dynamically_binarized()
    scored = data.evaluation_x("train")  # the training split, as evaluations score it
    assert set(np.unique(scored)) == {0.0, 1.0}
    np.testing.assert_array_equal(data.evaluation_x("train"), scored)  # the same binarization every call
    assert data.evaluation_x("test") is data.x_test
