"""Datasets for the zoo: bundled digits (offline), binarized MNIST, keras.datasets, your .npz.

Every loader returns a ``Dataset`` of float32 arrays in [0, 1] with a channel axis for
images, split into train / validation / test, and says how many levels the data has
(2 binary, 17 digits, 256 8-bit, None continuous), which decides dequantization.
"""

import dataclasses
import hashlib
import os
import pathlib

import numpy as np

import losses
from losses.base import check_non_negative
from zoo.saving import error_summary


class DataLoadError(ValueError):
    """The data could not be loaded; the message says what to do."""


@dataclasses.dataclass
class Dataset:
    name: str
    x_train: np.ndarray
    x_valid: np.ndarray
    x_test: np.ndarray
    levels: int | None
    y_train: np.ndarray | None = None
    y_valid: np.ndarray | None = None
    y_test: np.ndarray | None = None
    note: str = ""
    binarization_seed: int | None = None  # set by dynamically_binarized

    @property
    def shape(self):
        return self.x_train.shape[1:]

    @property
    def num_classes(self):
        if self.y_train is None:
            return None
        # A split may be empty (``validation_fraction=0``).
        return int(max(y.max() for y in (self.y_train, self.y_valid, self.y_test)
                       if y is not None and y.size)) + 1

    def limited(self, count):
        """The same dataset with at most ``count`` examples per split."""
        cut = {f"{a}_{split}": None if getattr(self, f"{a}_{split}") is None
               else getattr(self, f"{a}_{split}")[:count]
               for a in ("x", "y") for split in ("train", "valid", "test")}
        return dataclasses.replace(self, **cut)

    def dynamically_binarized(self, seed=0):
        """For ``VAE(dynamic_binarization=True)``: the grey training split as it is (the model
        draws a fresh binarization each step), validation and test binarized once (``binarize``),
        so every evaluation scores the same binary images — Burda et al.'s MNIST protocol."""
        if self.levels == 2:
            raise DataLoadError(f"{self.name} is binary already: dynamic binarization needs grey "
                                f"data in [0, 1] (e.g. --data mnist).")
        return dataclasses.replace(
            self, name=f"{self.name} (dynamically binarized)", levels=2, binarization_seed=seed,
            x_valid=binarize(self.x_valid, seed + 1), x_test=binarize(self.x_test, seed + 2),
            note=(self.note + "; " if self.note else "") + "training images binarized afresh each "
                 "step, validation and test once")

    def evaluation_x(self, split):
        """A split's images as evaluations score them: as stored, except the grey training split
        of a dynamically binarized dataset, binarized once (seeded, the same every call)."""
        x = getattr(self, f"x_{split}")
        if split == "train" and self.binarization_seed is not None:
            x = binarize(x, self.binarization_seed + 3)
        return x

    def summary(self):
        levels = f"{self.levels} levels" if self.levels else "continuous"
        return (f"{self.name}: {len(self.x_train)} train / {len(self.x_valid)} validation / "
                f"{len(self.x_test)} test, shape {self.shape}, {levels}")


def binarize(x, seed=0):
    """One stochastic binarization, x_b ~ Bernoulli(x), of data in [0, 1]: float32, seeded.

    The same seed gives the same images, so evaluations of a dynamically binarized model
    (``VAE(dynamic_binarization=True)``) all score one fixed binary test set.
    """
    x = np.asarray(x)
    if x.size == 0:  # an empty split (e.g. no validation images) stays empty
        return x.astype("float32")
    losses.ContinuousBernoulli(name="binarize").check_data(x)  # finite, in [0, 1]; says what to do
    return (np.random.default_rng(seed).random(x.shape) < x).astype("float32")


NAMES = ("digits", "binarized-mnist", "mnist", "fashion-mnist")

#: Static binarized MNIST (Larochelle & Murray 2011), the fixed binarization static-MNIST papers
#: use: its public text files (one image a line, 784 values 0/1) and, per split, the image count
#: and the SHA-256 of the decoded array ``x.astype("uint8").reshape(N, 28, 28).tobytes()``.
STATIC_MNIST_ORIGIN = ("http://www.cs.toronto.edu/~larocheh/public/datasets/binarized_mnist/"
                       "binarized_mnist_{split}.amat")
STATIC_MNIST = {
    "train": (50000, "43490d4d6ac9002727af4426d8748609fdb7e4094fa65ad8d681ea60082a7a5a"),
    "valid": (10000, "069b4f0beb389b776478c3e872b4df71c95ac4be64d7cbe6d32e24ebac8e6d5e"),
    "test": (10000, "ca0294c3b8d984c7a1dc891015a8eea6f37bae59a34e35ea0fc8c47110a8dd86"),
}
_STATIC_MNIST_CACHE = "datasets/binarized_mnist"  # under Keras' cache, ~/.keras (or $KERAS_HOME)


def default_data_dir():
    """Where local data is looked for first: $VAE_ZOO_DATA, else ../shared/data beside the repo."""
    if os.environ.get("VAE_ZOO_DATA"):
        return pathlib.Path(os.environ["VAE_ZOO_DATA"])
    return pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"


def static_mnist_folder(data_dir=None, download=True, origin=STATIC_MNIST_ORIGIN, cache_dir=None):
    """The folder holding ``binarized_mnist_{train,valid,test}.npz``, the official static split.

    ``data_dir`` (or $VAE_ZOO_DATA) names it outright, for machines without internet. Otherwise
    the files are taken from ../shared/data beside a checkout, else from Keras' cache, where
    ``download_static_mnist`` puts them the first time (``download=False``: not downloaded).
    """
    if data_dir is not None or os.environ.get("VAE_ZOO_DATA"):
        return pathlib.Path(data_dir) if data_dir is not None else default_data_dir()
    for folder in (default_data_dir(), _keras_cache(cache_dir)):
        if all((folder / f"binarized_mnist_{split}.npz").exists() for split in STATIC_MNIST):
            return folder
    if not download:
        return _keras_cache(cache_dir)
    return download_static_mnist(origin, cache_dir)


def download_static_mnist(origin=STATIC_MNIST_ORIGIN, cache_dir=None):
    """Download the three static binarized MNIST files (``keras.utils.get_file``), check each
    decoded array against ``STATIC_MNIST``'s SHA-256 and keep it as ``.npz`` in Keras' cache
    (``cache_dir``, default ~/.keras); returns that folder. Files already there are kept."""
    import keras

    if cache_dir is not None:  # get_file moves to /tmp/.keras when the folder is not there
        pathlib.Path(cache_dir).expanduser().mkdir(parents=True, exist_ok=True)
    folder = _keras_cache(cache_dir)
    for split, (count, _) in STATIC_MNIST.items():
        target = folder / f"binarized_mnist_{split}.npz"
        if target.exists():
            continue
        url = origin.format(split=split)
        try:
            text = pathlib.Path(keras.utils.get_file(f"binarized_mnist_{split}.amat", url,
                                                     cache_subdir=_STATIC_MNIST_CACHE, cache_dir=cache_dir))
        except Exception as error:  # no network, proxy, refused: all end here
            raise DataLoadError(
                f"could not download static binarized MNIST ({split}) from {url} ({_reason(error)}). "
                f"It needs internet once (kept in {folder}); offline, put binarized_mnist_"
                f"{{train,valid,test}}.npz (key x, uint8 (N, 28, 28)) in a folder and pass --data-dir "
                f"or set VAE_ZOO_DATA.") from None
        target = text.parent / target.name  # where get_file put it, should the rule above drift
        try:
            x = _decode_amat(text, count, url)
            _check_static_mnist(x, split, url)
        finally:  # a bad file is not kept to be read again; a good one is kept as the .npz
            text.unlink()
        np.savez_compressed(target, x=x)
        folder = target.parent
    return folder


def _keras_cache(cache_dir=None):
    """Where keras.utils.get_file keeps our files: under ``cache_dir``, else $KERAS_HOME or
    ~/.keras; /tmp/.keras when that is not writable (get_file's own rule)."""
    home = os.path.expanduser("~")
    base = cache_dir or os.environ.get("KERAS_HOME") or os.path.join(
        home if os.access(home, os.W_OK) else "/tmp", ".keras")
    base = pathlib.Path(base).expanduser()
    if not os.access(base, os.W_OK):
        base = pathlib.Path("/tmp/.keras")
    return base / _STATIC_MNIST_CACHE


def _decode_amat(path, count, source):
    """A .amat text file (one image a line, 784 values 0/1 apart by spaces) as uint8 (N, 28, 28)."""
    raw = np.fromfile(path, dtype=np.uint8)
    values = raw[(raw == ord("0")) | (raw == ord("1"))] - ord("0")
    if values.size != count * 784:
        raise DataLoadError(f"{source}: expected {count} images of 784 values 0/1, got {values.size} values; "
                            f"the download is cut short or not the binarized MNIST text file: try again.")
    return values.reshape(count, 28, 28)


def _check_static_mnist(x, split, source):
    """``x`` is the official static binarization's ``split``, bit for bit, or a DataLoadError."""
    count, sha256 = STATIC_MNIST[split]
    x = np.asarray(x)
    digest = hashlib.sha256(x.astype("uint8").reshape(len(x), 28, 28).tobytes()).hexdigest() \
        if x.size == count * 784 else None
    if digest != sha256:
        found = f"SHA-256 {digest[:12]}…" if digest else f"shape {x.shape}"
        raise DataLoadError(
            f"{source} is not the official static binarized MNIST {split} split ({count} images, SHA-256 "
            f"{sha256[:12]}…; this has {found}). The static protocol needs the official files: delete it "
            f"to download them again, or pass --data-dir to a folder with the right ones.")


def load(name, key="x", label_key=None, data_dir=None, validation_fraction=None, seed=0):
    """Load a dataset by name (see ``NAMES``) or from a ``.npz`` path.

    Args:
        name: ``digits``, ``binarized-mnist``, ``mnist``, ``fashion-mnist`` or a path to .npz.
        key, label_key: the arrays to read from a .npz (labels optional).
        data_dir: folder with ``binarized_mnist_{train,valid,test}.npz`` (default: $VAE_ZOO_DATA,
            ../shared/data, Keras' cache, else downloaded once: ``static_mnist_folder``); for
            ``mnist`` / ``fashion-mnist``, a folder holding a copy of the keras.datasets file
            (``mnist.npz`` / ``fashion-mnist.npz``: x_train, y_train, x_test, y_test), read
            instead of downloading — for machines without internet (default: that file in
            $VAE_ZOO_DATA or ../shared/data if it is there, else keras.datasets' download).
        validation_fraction: share of the training data held out for validation, in [0, 1);
            0 trains on all of it (the validation split is then empty). None: 0.1, except for
            ``binarized-mnist``, whose official split (50,000 / 10,000 / 10,000) is used as it is.
        seed: seed of the shuffle that makes the splits.
    """
    if name == "binarized-mnist":
        if validation_fraction is not None:
            raise ValueError("zoo.datasets.load: binarized-mnist comes with its official validation file "
                             "(10,000 images), the static protocol's; leave `validation_fraction` out "
                             f"(got {validation_fraction!r}).")
        return _binarized_mnist(static_mnist_folder(data_dir))
    validation_fraction = 0.1 if validation_fraction is None else validation_fraction
    if check_non_negative("validation_fraction", validation_fraction, "zoo.datasets.load") >= 1:
        raise ValueError(f"zoo.datasets.load: `validation_fraction` must be < 1 (the share held out; "
                         f"0: no validation split), got {validation_fraction!r}.")
    if name == "digits":
        return _digits(validation_fraction, seed)
    if name in ("mnist", "fashion-mnist"):
        return _keras_dataset(name, validation_fraction, seed, data_dir)
    if str(name).endswith(".npz") or os.path.exists(str(name)):
        return _npz(pathlib.Path(name), key, label_key, validation_fraction, seed)
    raise DataLoadError(f"Unknown dataset {name!r}: use one of {', '.join(NAMES)} or a path to a .npz file.")


def _split(x, y, fractions, seed):
    """Shuffle once, then cut off test and validation shares (fractions of the whole)."""
    order = np.random.default_rng(seed).permutation(len(x))
    x = x[order]
    y = None if y is None else y[order]
    cuts = np.cumsum([int(round(f * len(x))) for f in fractions])
    parts = np.split(np.arange(len(x)), cuts)
    return [(x[p], None if y is None else y[p]) for p in parts]


def _digits(validation_fraction, seed):
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images.astype("float32") / 16.0)[..., None]  # 17 levels k/16
    (x_test, y_test), (x_valid, y_valid), (x_train, y_train) = _split(
        x, bunch.target.astype("int64"), (0.2, validation_fraction * 0.8), seed)
    return Dataset("digits", x_train, x_valid, x_test, 17, y_train, y_valid, y_test,
                   note="scikit-learn's bundled 8×8 digits, 17 grey levels; random 20% test split")


def _binarized_mnist(folder):
    paths = {split: folder / f"binarized_mnist_{split}.npz" for split in STATIC_MNIST}
    missing = [str(p) for p in paths.values() if not p.exists()]
    if missing:
        raise DataLoadError(
            f"static binarized MNIST not found at {', '.join(missing)}. The static protocol needs the "
            f"official binarized_mnist_{{train,valid,test}}.npz: pass --data-dir (or set VAE_ZOO_DATA) to "
            f"the folder with all three, or leave both out to download them once "
            f"(zoo.datasets.download_static_mnist).")
    arrays = {}
    for split, path in paths.items():
        x = _read_npz(path, "x", None)[0]
        _check_static_mnist(x, split, path)
        arrays[split] = _images(x, path)
    return Dataset("binarized-mnist", arrays["train"], arrays["valid"], arrays["test"], 2,
                   note="static binarization (Larochelle & Murray 2011), the official 50,000 / 10,000 / "
                        f"10,000 split, from {folder}")


KERAS_FILE_KEYS = ("x_train", "y_train", "x_test", "y_test")


def _keras_dataset(name, validation_fraction, seed, data_dir=None):
    if data_dir is None and (default_data_dir() / f"{name}.npz").exists():
        data_dir = default_data_dir()  # $VAE_ZOO_DATA (or ../shared/data) holds a copy: read it
    if data_dir is not None:
        (x_train, y_train), (x_test, y_test), source = _keras_file(name, pathlib.Path(data_dir))
    else:
        (x_train, y_train), (x_test, y_test), source = _download_keras_dataset(name), "keras.datasets"
    train = (x_train.astype("float32") / 255.0)[..., None]
    test = (x_test.astype("float32") / 255.0)[..., None]
    (x_valid, y_valid), (x_train, y_train) = _split(train, y_train.astype("int64"), (validation_fraction,), seed)
    return Dataset(name, x_train, x_valid, test, 256, y_train, y_valid, y_test.astype("int64"),
                   note=f"{source}, 8-bit grey levels scaled to [0, 1]")


def _download_keras_dataset(name):
    import keras

    module = keras.datasets.mnist if name == "mnist" else keras.datasets.fashion_mnist
    try:
        return module.load_data()
    except Exception as error:  # no network, proxy, corrupt cache: all end here
        raise DataLoadError(
            f"could not download {name} via keras.datasets ({type(error).__name__}: "
            f"{str(error)[:120]}). It needs internet access once (cached in ~/.keras/datasets); "
            f"offline, use --data digits, --data binarized-mnist, your own .npz, or a copy of "
            f"{name}.npz in --data-dir."
        ) from None


def _keras_file(name, folder):
    """keras.datasets' arrays from ``folder/<name>.npz``: uint8 images (N, 28, 28), int labels."""
    path = folder / f"{name}.npz"
    if not path.exists():
        raise DataLoadError(
            f"{path} does not exist. With a data folder, {name} is read from {name}.npz there "
            f"(uint8 arrays {', '.join(KERAS_FILE_KEYS)}, as keras.datasets' mnist.npz); without "
            f"one it is downloaded by keras.datasets.")
    with _open_npz(path) as archive:
        missing = [key for key in KERAS_FILE_KEYS if key not in archive.files]
        if missing:
            raise DataLoadError(f"{path} lacks {missing}: a {name} file needs "
                                f"{', '.join(KERAS_FILE_KEYS)} (it has {archive.files}).")
        x_train, y_train, x_test, y_test = (_array(archive, key, path) for key in KERAS_FILE_KEYS)
    for split, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if x.dtype != np.uint8 or x.ndim != 3 or len(x) == 0 or len(y) != len(x):
            raise DataLoadError(
                f"{path}: x_{split} must be uint8 images (N, H, W) with N labels in y_{split}, got "
                f"{x.dtype} {x.shape} and {len(y)} labels.")
    return (x_train, y_train), (x_test, y_test), str(path)


def _open_npz(path):
    """The archive at ``path``; a file that is not one, or is cut short, is a ``DataLoadError``."""
    try:
        archive = np.load(path, allow_pickle=False)
    except Exception as error:  # a zip error, a cut file, pickled data: all "not a usable .npz"
        raise DataLoadError(f"could not read {path} as .npz ({_reason(error)}): it is not a NumPy .npz archive "
                            f"or it was cut short; save the arrays again with np.savez(path, x=images).") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataLoadError(f"{path} holds a single array (a .npy file), not a .npz archive of named arrays: "
                            f"save it with np.savez(path, x=images).")
    return archive


def _reason(error):
    return error_summary(error, limit=120)


def _array(archive, key, path):
    """``archive[key]`` as an array: its bytes are read here, so a damaged one is caught here."""
    try:
        value = archive[key]
        if isinstance(value, bytes):  # NumPy hands back a member without the .npy header as raw bytes
            raise ValueError("not a .npy array")
        return np.asarray(value)
    except ValueError as error:
        if "pickle" in str(error):
            raise DataLoadError(f"{path}: the array {key!r} holds Python objects (dtype object), which are not "
                                f"loaded (unpickling runs code): save it as numbers, e.g. np.asarray(x, 'float32').") from None
        raise DataLoadError(f"{path}: the array {key!r} is damaged ({_reason(error)}): save the file again.") from None
    except Exception as error:  # a cut or corrupt member of the archive
        raise DataLoadError(f"{path}: the array {key!r} is damaged ({_reason(error)}): save the file again.") from None


def _read_npz(path, key, label_key):
    if not path.exists():
        raise DataLoadError(f"data file {path} does not exist.")
    if path.is_dir():
        raise DataLoadError(f"{path} is a folder; pass a .npz file (or --data-dir for a folder of datasets).")
    with _open_npz(path) as archive:
        if key not in archive.files:
            raise DataLoadError(f"{path} has no array {key!r}; it has {archive.files}. "
                                f"Choose one with --npz-key.")
        labels = None
        if label_key is not None:
            if label_key not in archive.files:
                raise DataLoadError(f"{path} has no labels {label_key!r}; it has {archive.files}.")
            labels = _array(archive, label_key, path)
            if not np.issubdtype(labels.dtype, np.integer) and not (
                    np.issubdtype(labels.dtype, np.floating) and np.all(labels == np.round(labels))):
                raise DataLoadError(f"{path}: labels {label_key!r} must be integers, got dtype {labels.dtype}.")
            labels = labels.astype("int64").reshape(-1)
        return _array(archive, key, path), labels


def _images(x, source):
    """float32 in [0, 1], with a channel axis for (N, H, W) images."""
    if x.ndim < 2 or x.shape[0] == 0:
        raise DataLoadError(f"{source}: need an array of examples (N, ...), got shape {x.shape}.")
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating) or x.dtype == bool):
        raise DataLoadError(f"{source}: images must be numbers, got dtype {x.dtype}; convert them first "
                            f"(e.g. np.asarray(x, 'float32')).")
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim > 4:
        raise DataLoadError(f"{source}: examples must be vectors (N, D) or images (N, H, W[, C]), "
                            f"got shape {x.shape}.")
    x = x.astype("float32")
    if not np.isfinite(x).all():
        raise DataLoadError(f"{source}: {int((~np.isfinite(x)).sum())} NaN/inf values; clean the data first.")
    if x.min() < 0:
        raise DataLoadError(f"{source}: values must be ≥ 0 (got min {x.min():g}); rescale to [0, 1].")
    if x.max() > 1:
        if x.max() <= 255 and np.all(x == np.round(x)):
            x = x / 255.0  # 8-bit pixels
        else:
            raise DataLoadError(f"{source}: values must lie in [0, 1] or be 8-bit integers "
                                f"(got max {x.max():g}); rescale the data.")
    return x


def _guess_levels(x):
    """2 for binary data, L for data on a grid k/(L−1) with L ≤ 256, else None (continuous)."""
    for levels in (2, 17, 256):
        scaled = x * (levels - 1)
        if np.all(np.abs(scaled - np.round(scaled)) < 1e-4):
            return levels
    return None


def _npz(path, key, label_key, validation_fraction, seed):
    raw, labels = _read_npz(path, key, label_key)
    if labels is not None and len(labels) != len(raw):
        raise DataLoadError(f"{path}: {len(labels)} labels for {len(raw)} examples.")
    x = _images(raw, path)
    levels = 256 if raw.dtype == np.uint8 and raw.max() > 1 else _guess_levels(x)
    (x_test, y_test), (x_valid, y_valid), (x_train, y_train) = _split(
        x, labels, (0.1, validation_fraction * 0.9), seed)
    if min(len(x_train), len(x_valid), len(x_test)) == 0:
        raise DataLoadError(f"{path}: {len(x)} examples are too few to split into "
                            f"train/validation/test; need at least 20.")
    return Dataset(path.stem, x_train, x_valid, x_test, levels, y_train, y_valid, y_test,
                   note=f"{path}, key {key!r}; random 10% test split")
