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


def keras_format_file(folder, name="mnist", **replace):
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.integers(0, 256, (40, 28, 28), dtype=np.uint8),
              "y_train": rng.integers(0, 10, 40, dtype=np.uint8),
              "x_test": rng.integers(0, 256, (8, 28, 28), dtype=np.uint8),
              "y_test": rng.integers(0, 10, 8, dtype=np.uint8), **replace}
    np.savez(folder / f"{name}.npz", **{k: v for k, v in arrays.items() if v is not None})
    return arrays


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_keras_dataset_read_from_a_copy_in_data_dir(name, tmp_path, monkeypatch):
    def no_download():
        raise AssertionError("downloaded although a local copy was given")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", no_download)
    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", no_download)
    arrays = keras_format_file(tmp_path, name)
    data = datasets.load(name, data_dir=tmp_path, validation_fraction=0.25, seed=1)
    assert (len(data.x_train), len(data.x_valid), len(data.x_test)) == (30, 10, 8)
    assert data.shape == (28, 28, 1) and data.levels == 256 and str(tmp_path) in data.note
    # keras.datasets' scaling (/255, not /256) and its official test split, in order.
    np.testing.assert_array_equal(data.x_test[..., 0], arrays["x_test"] / np.float32(255.0))
    np.testing.assert_array_equal(data.y_test, arrays["y_test"])
    restored = np.concatenate([data.x_train, data.x_valid])[..., 0] * 255.0
    assert sorted(map(bytes, np.round(restored).astype(np.uint8))) == sorted(map(bytes, arrays["x_train"]))


def test_validation_fraction_zero_trains_on_every_training_image(tmp_path):
    keras_format_file(tmp_path)
    data = datasets.load("mnist", data_dir=tmp_path, validation_fraction=0)
    assert (len(data.x_train), len(data.x_valid), len(data.x_test)) == (40, 0, 8)
    assert data.num_classes == 10  # the empty split's labels are skipped, not maxed
    binary = data.dynamically_binarized()
    assert binary.x_valid.shape == (0, 28, 28, 1) and binary.x_valid.dtype == np.float32
    assert set(np.unique(binary.x_test)) <= {0.0, 1.0}


@pytest.mark.parametrize("fraction, message", [
    (1, "must be < 1"), (1.5, "must be < 1"),
    *((bad, "must be a finite number ≥ 0") for bad in (-0.1, float("nan"), True, "0.1", None)),
])
def test_bad_validation_fraction_is_refused(fraction, message, tmp_path):
    keras_format_file(tmp_path)
    with pytest.raises(ValueError, match=f"`validation_fraction` {message}"):
        datasets.load("mnist", data_dir=tmp_path, validation_fraction=fraction)


@pytest.mark.parametrize("replace,match", [
    ({"y_test": None}, r"lacks \['y_test'\]"),
    ({"x_train": np.zeros((40, 784), np.uint8)}, "must be uint8 images"),
    ({"x_test": np.zeros((8, 28, 28), np.float32)}, "must be uint8 images"),
    ({"y_train": np.zeros(39, np.uint8)}, "39 labels"),
])
def test_bad_keras_format_file_is_explained(replace, match, tmp_path):
    keras_format_file(tmp_path, **replace)
    with pytest.raises(datasets.DataLoadError, match=match):
        datasets.load("mnist", data_dir=tmp_path)


def test_keras_dataset_missing_from_data_dir_says_what_is_expected(tmp_path):
    (tmp_path / "fashion-mnist.npz").write_bytes(b"not a zip")
    with pytest.raises(datasets.DataLoadError, match="mnist.npz does not exist.*x_train, y_train"):
        datasets.load("mnist", data_dir=tmp_path)
    with pytest.raises(datasets.DataLoadError, match="could not read .*fashion-mnist.npz"):
        datasets.load("fashion-mnist", data_dir=tmp_path)


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


def rewrite_member(path, member, data):
    """The zip at ``path`` with ``member``'s bytes replaced: an archive that opens, with bad contents."""
    import zipfile

    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members[member] = data
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)


@pytest.mark.parametrize("make,match", [
    (lambda p: p.write_bytes(open(_good_npz(p), "rb").read()[:300]), "could not read .* as .npz .*cut short"),
    (lambda p: p.write_text("pixel,value\n1,2\n"), "could not read .* as .npz"),
    (lambda p: np.save(open(p, "wb"), np.zeros((30, 4), "float32")), "a single array \\(a .npy file\\)"),
    (lambda p: np.savez(p, x=np.array([{"a": 1}] * 30, dtype=object)), "holds Python objects"),
    (lambda p: np.savez(p, x=np.array([["a", "b"]] * 30)), "images must be numbers, got dtype <U1"),
    (lambda p: (np.savez(p, x=np.zeros((30, 4), "float32")), rewrite_member(p, "x.npy", b"not an array")),
     "the array 'x' is damaged"),
])
def test_bad_data_files_end_in_one_line_naming_the_file(make, match, tmp_path):
    path = tmp_path / "data.npz"
    make(path)
    with pytest.raises(datasets.DataLoadError, match=match) as raised:
        datasets.load(str(path))
    assert "data.npz" in str(raised.value) and "\n" not in str(raised.value)


def _good_npz(path):
    good = path.with_name("good.npz")
    np.savez(good, x=np.random.default_rng(0).uniform(size=(50, 16)).astype("float32"))
    return good


def test_non_integer_labels_are_named(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((30, 4), "float32"), y=np.array(["cat"] * 30))
    with pytest.raises(datasets.DataLoadError, match="labels 'y' must be integers"):
        datasets.load(str(tmp_path / "d.npz"), label_key="y")
