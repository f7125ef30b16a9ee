import numpy as np
import pytest
import keras

import losses
import zoo
from zoo import datasets

# Loading and checking numpy data: `python -m tests` runs this module on one backend (tests/conftest.py).
pytestmark = pytest.mark.once


def test_digits_are_bundled_with_17_levels_and_labels():
    data = datasets.load("digits")
    assert data.levels == 17 and data.shape == (8, 8, 1) and data.num_classes == 10
    assert len(data.x_train) + len(data.x_valid) + len(data.x_test) == 1797
    np.testing.assert_allclose(data.x_train * 16, np.round(data.x_train * 16))


def test_keras_datasets_without_network_say_what_to_do(monkeypatch, tmp_path):
    def offline():
        raise OSError("URL fetch failure: no route to host")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    monkeypatch.setenv("VAE_ZOO_DATA", str(tmp_path))  # no local copy there: the download is tried
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


def test_keras_dataset_read_from_vae_zoo_data_without_data_dir(tmp_path, monkeypatch):
    # The folder machines without internet name once ($VAE_ZOO_DATA) serves grey MNIST as well.
    def no_download():
        raise AssertionError("downloaded although $VAE_ZOO_DATA holds a copy")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", no_download)
    monkeypatch.setenv("VAE_ZOO_DATA", str(tmp_path))
    arrays = keras_format_file(tmp_path)
    data = datasets.load("mnist", validation_fraction=0.25)
    assert str(tmp_path) in data.note
    np.testing.assert_array_equal(data.x_test[..., 0], arrays["x_test"] / np.float32(255.0))


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
    *((bad, "must be a finite number ≥ 0") for bad in (-0.1, float("nan"), True, "0.1")),
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


# Static binarized MNIST: the official three files, read locally or downloaded once.

def official_static_mnist_is_local():
    return all((datasets.default_data_dir() / f"binarized_mnist_{s}.npz").exists() for s in datasets.STATIC_MNIST)


needs_static_mnist = pytest.mark.skipif(
    not official_static_mnist_is_local(),
    reason=f"static binarized MNIST is not in {datasets.default_data_dir()} (set VAE_ZOO_DATA)")


def write_amat(path, x):
    """x (N, 28, 28) of 0/1 as the public text format: one image a line, values apart by spaces."""
    text = np.full((len(x), 784 * 2), ord(" "), np.uint8)
    text[:, 0::2] = x.reshape(len(x), 784) + ord("0")
    text[:, -1] = ord("\n")
    path.write_bytes(text.tobytes())


@needs_static_mnist
def test_binarized_mnist_is_the_official_split():
    data = datasets.load("binarized-mnist")
    assert (len(data.x_train), len(data.x_valid), len(data.x_test)) == (50000, 10000, 10000)
    assert data.levels == 2 and data.shape == (28, 28, 1) and "official" in data.note
    official = np.load(datasets.default_data_dir() / "binarized_mnist_test.npz")["x"]
    np.testing.assert_array_equal(data.x_test[..., 0], official)
    with pytest.raises(ValueError, match="official validation file"):
        datasets.load("binarized-mnist", validation_fraction=0.1)


@needs_static_mnist
def test_static_mnist_download_decodes_checks_and_caches(tmp_path):
    # The real download path, from a file:// copy of the public text files.
    server = tmp_path / "server"
    server.mkdir()
    for split in datasets.STATIC_MNIST:
        write_amat(server / f"binarized_mnist_{split}.amat",
                   np.load(datasets.default_data_dir() / f"binarized_mnist_{split}.npz")["x"])
    origin = server.as_uri() + "/binarized_mnist_{split}.amat"
    folder = datasets.download_static_mnist(origin, cache_dir=tmp_path / "cache")
    assert folder == tmp_path / "cache" / "datasets" / "binarized_mnist"
    assert sorted(p.name for p in folder.iterdir()) == [f"binarized_mnist_{s}.npz" for s in ("test", "train", "valid")]
    data = datasets.load("binarized-mnist", data_dir=folder)
    reference = datasets.load("binarized-mnist")
    for split in ("train", "valid", "test"):
        np.testing.assert_array_equal(getattr(data, f"x_{split}"), getattr(reference, f"x_{split}"))
    # Cached: with the server gone, nothing is fetched again.
    for path in server.iterdir():
        path.unlink()
    assert datasets.download_static_mnist(origin, cache_dir=tmp_path / "cache") == folder


def test_static_mnist_download_rejects_other_data_and_keeps_none_of_it(tmp_path):
    server = tmp_path / "server"
    server.mkdir()
    rng = np.random.default_rng(0)
    write_amat(server / "binarized_mnist_train.amat", (rng.random((50000, 28, 28)) < 0.1).astype(np.uint8))
    origin = server.as_uri() + "/binarized_mnist_{split}.amat"
    with pytest.raises(datasets.DataLoadError, match="not the official static binarized MNIST train"):
        datasets.download_static_mnist(origin, cache_dir=tmp_path / "cache")
    assert not list((tmp_path / "cache").rglob("binarized_mnist_train.*"))  # read again next time
    write_amat(server / "binarized_mnist_train.amat", np.zeros((7, 28, 28), np.uint8))  # cut short
    with pytest.raises(datasets.DataLoadError, match="expected 50000 images.*cut short"):
        datasets.download_static_mnist(origin, cache_dir=tmp_path / "cache")


def test_static_mnist_without_network_says_what_to_do(tmp_path):
    origin = (tmp_path / "nowhere").as_uri() + "/binarized_mnist_{split}.amat"
    with pytest.raises(datasets.DataLoadError, match="needs internet once.*--data-dir.*VAE_ZOO_DATA"):
        datasets.download_static_mnist(origin, cache_dir=tmp_path / "cache")


def test_static_mnist_folder_checks_each_file_against_the_official_checksum(tmp_path):
    for split, (count, _) in datasets.STATIC_MNIST.items():
        np.savez(tmp_path / f"binarized_mnist_{split}.npz", x=np.zeros((count, 28, 28), np.uint8))
    with pytest.raises(datasets.DataLoadError, match="binarized_mnist_train.npz is not the official"):
        datasets.load("binarized-mnist", data_dir=tmp_path)
