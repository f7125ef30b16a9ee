"""Trained models as preset folders, the keras-hub convention: ``config.json`` (the model's Keras
config), ``model.weights.h5`` (its weights, no optimizer state), ``metadata.json`` (versions,
parameter count, date, and what the saver adds: data, protocol, command, scores) and ``README.md``
(a model card).

>>> zoo.save_preset(model, "runs/vamp", preset="vampprior_mnist", protocol="static-mnist")
>>> model = zoo.from_preset("runs/vamp")              # a folder; or a shipped name; or hf://owner/repo
>>> model = zoo.from_preset("runs/vamp", k=50)        # overrides change the config before the weights load

``zoo.presets.get(name)`` stays the untrained architecture.
"""

import datetime
import json
import pathlib
import shutil

import keras

from zoo import saving
from zoo.saving import ModelFileError

#: Where the trained presets that ship with the package live: one folder per preset name.
SHIPPED = pathlib.Path(__file__).parent / "trained_presets"
FILES = ("config.json", "model.weights.h5", "metadata.json")


def shipped():
    """The names of the presets that ship trained."""
    if not SHIPPED.is_dir():
        return []
    return sorted(p.name for p in SHIPPED.iterdir() if (p / "config.json").exists())


def save_preset(model, folder, overwrite=False, **metadata):
    """Write ``model`` as a preset folder (see the module); ``metadata`` (JSON values) goes into
    metadata.json and the model card. Written beside ``folder`` and renamed into place, so an
    interrupted save leaves no half-written preset. Returns the folder's path."""
    from zoo import __version__

    folder = pathlib.Path(folder)
    if folder.exists() and any(folder.iterdir()) and not overwrite:
        raise ModelFileError(f"{folder} exists and is not empty: choose a new folder, or pass overwrite=True.")
    try:
        json.dumps(metadata)
    except TypeError as error:
        raise ValueError(f"save_preset: metadata must be JSON values (numbers, strings, lists, dicts): {error}.") from None
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        config = keras.saving.serialize_keras_object(model)
        config.pop("compile_config", None)  # the architecture and weights; the user compiles as they like
        # The weights alone: a fresh copy of the architecture holds no optimizer state to save.
        bare = keras.saving.deserialize_keras_object(config)
        bare.set_weights(model.get_weights())
        bare.save_weights(partial / "model.weights.h5")
        (partial / "config.json").write_text(json.dumps(config, indent=2))
        record = {"keras_version": keras.__version__, "zoo_version": __version__,
                  "backend": keras.backend.backend(), "parameter_count": int(model.count_params()),
                  "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"), **metadata}
        (partial / "metadata.json").write_text(json.dumps(record, indent=2))
        (partial / "README.md").write_text(model_card(folder.name, record))
        if folder.exists():
            shutil.rmtree(folder)
        partial.rename(folder)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return folder


#: A trained preset's fingerprint: the mean importance-sampled log p(x) of the first 1,000 test
#: images with k = 100 and seed 0, one value per backend (each draws its own samples, so the
#: values differ across backends by the estimator's noise, ~0.1 nats, and agree to round-off on
#: one). k = 100, not the 1000 of the first design: k = 1000 took ~1 min on PyTorch (2 cores),
#: too long for a check on every backend in CI; k = 100 takes seconds.
FINGERPRINT = {"images": 1000, "k": 100, "seed": 0}


def fingerprint(model, x, num_samples=FINGERPRINT["k"], seed=FINGERPRINT["seed"]):
    """The mean importance-sampled log p(x) of ``x`` with ``num_samples`` samples, the model's
    random draws started from ``seed``, so the same model gives the same number on one backend."""
    from zoo.evaluation import log_likelihood

    state = model.seed_generator.state
    saved = keras.ops.convert_to_numpy(state.value)
    state.assign(keras.ops.convert_to_numpy(keras.random.SeedGenerator(seed).state.value))
    try:
        return float(log_likelihood(model, x, num_samples=num_samples).mean())
    finally:
        state.assign(saved)


def fingerprint_entry(model, x_test, previous=None):
    """The metadata's ``fingerprint`` with this backend's value (``FINGERPRINT``'s images, k and
    seed) added to ``previous`` (an entry of the same images, k and seed), rounded to 1e-4."""
    spec = ({key: previous[key] for key in FINGERPRINT} if previous
            else {**FINGERPRINT, "images": min(FINGERPRINT["images"], len(x_test))})
    values = dict(fingerprint_values(previous)) if previous else {}
    values[keras.backend.backend()] = round(fingerprint(model, x_test[: spec["images"]], spec["k"], spec["seed"]), 4)
    return {**spec, "log_px": values}


def fingerprint_values(entry):
    """{backend: value} of a metadata ``fingerprint`` entry (an older one held one number, of the
    backend that saved it)."""
    values = entry["log_px"]
    return values if isinstance(values, dict) else {entry.get("backend", "unknown"): values}


def model_card(name, metadata):
    """The README.md of a preset folder: what it is, its numbers, how to load it."""
    from zoo import presets

    preset = metadata.get("preset")
    lines = [f"# {name}", ""]
    if preset in presets.names():
        lines += [presets.describe(preset), ""]
    facts = {key: value for key, value in metadata.items() if key not in ("preset",)}
    lines += ["| | |", "|---|---|", *(f"| {key} | {value} |" for key, value in facts.items()), ""]
    lines += ["```python", "import zoo", f"model = zoo.from_preset({name!r})  # or the folder's path", "```", ""]
    return "\n".join(lines)


def from_preset(name_or_folder, load_weights=True, **overrides):
    """A trained model: a shipped preset's name (``shipped()``), a preset folder, or an
    ``hf://owner/repo`` handle (through Keras' Hugging Face support). ``overrides`` change the
    saved config before the weights load (e.g. ``k``); ``load_weights=False`` gives the
    architecture alone. Errors are ``ModelFileError``s naming the problem; nothing in the folder
    is changed."""
    source = str(name_or_folder)
    if source.startswith("hf://"):
        if overrides or not load_weights:
            raise ModelFileError(f"{source}: overrides and load_weights=False apply to a local folder; "
                                 f"download it first (huggingface_hub.snapshot_download) and pass the folder.")
        return keras.saving.load_model(source)
    folder = preset_folder(source)
    config, _ = read_preset(folder)
    if overrides:
        config = {**config, "config": {**config.get("config", {}), **overrides}}
    try:
        model = keras.saving.deserialize_keras_object(config)
    except Exception as error:  # noqa: BLE001 - a config that does not build is the folder's
        raise ModelFileError(f"{folder}/config.json does not build a model ({saving.error_summary(error)}): "
                             f"{'check the overrides, or ' if overrides else ''}save the preset again.") from None
    if load_weights:
        try:
            model.load_weights(folder / "model.weights.h5")
        except Exception as error:  # noqa: BLE001 - wrong shapes, a cut file: the weights are not this model's
            raise ModelFileError(f"{folder}/model.weights.h5 does not load into the model of its config.json "
                                 f"({saving.error_summary(error)}): the weights are damaged or another model's; save the "
                                 f"preset again.") from None
    return model


def preset_folder(name_or_folder):
    """The folder of a trained preset: ``name_or_folder`` itself if it exists, else the shipped
    preset of that name; a ``ModelFileError`` naming the choices otherwise."""
    source = str(name_or_folder)
    folder = pathlib.Path(source)
    if folder.exists():
        return folder
    from zoo import presets

    if source in presets.names():
        if source not in shipped():
            raise ModelFileError(f"no trained weights ship for {source!r} yet (trained presets: "
                                 f"{', '.join(shipped()) or 'none'}); zoo.presets.get({source!r}) builds "
                                 f"it untrained, bench/likelihood.py --save-preset trains one.")
        return SHIPPED / source
    raise ModelFileError(f"{source!r} is neither a preset folder nor a trained preset's name; trained "
                         f"presets: {', '.join(shipped()) or 'none'} (every preset: zoo.presets.names()).")


def preset_metadata(name_or_folder):
    """The metadata.json of a trained preset (a shipped name or a folder), as a dict."""
    return read_preset(preset_folder(name_or_folder))[1]


def load_model(path, **kwargs):
    """``zoo.load_model``: what ``keras.saving.load_model`` takes — a ``.keras`` file
    (``zoo.saving.load_model``, with its one-line errors), a preset folder or an ``hf://`` handle
    (``from_preset``)."""
    if str(path).startswith("hf://") or pathlib.Path(path).is_dir():
        if kwargs:
            raise ModelFileError(f"{path}: a preset folder or hf:// handle loads without options; "
                                 f"compile the model afterwards.")
        return from_preset(path)
    return saving.load_model(path, **kwargs)


def read_preset(folder):
    """(config, metadata) of a preset folder, or a ``ModelFileError`` naming what is missing."""
    folder = pathlib.Path(folder)
    if not folder.is_dir():
        raise ModelFileError(f"{folder} is not a folder: a preset is a folder with {', '.join(FILES)}.")
    missing = [name for name in FILES if not (folder / name).is_file()]
    if missing:
        raise ModelFileError(f"{folder} is not a preset folder: it lacks {', '.join(missing)} "
                             f"(a preset holds {', '.join(FILES)}; zoo.save_preset writes one).")
    parsed = []
    for name in ("config.json", "metadata.json"):
        try:
            parsed.append(json.loads((folder / name).read_text()))
        except ValueError as error:
            raise ModelFileError(f"{folder / name} is not valid JSON ({error}): the preset is damaged; "
                                 f"save it again.") from None
    return tuple(parsed)
