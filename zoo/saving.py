"""Saving and loading models and checkpoints, with errors that say what went wrong and what to do.

Keras reports a corrupt or truncated ``.keras`` file as "File not found" and a checkpoint of
another architecture as "A total of N objects could not be loaded"; ``load_model`` and
``BackupAndRestore`` here tell the cases apart. ``save_model`` never leaves a half-written file
where a model was.
"""

import json
import os
import pathlib
import zipfile

import keras

from zoo.training import keras_internals


def error_summary(error, limit=160):
    """``Type: first line of the message`` (cut to ``limit`` characters), for one-line errors."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:limit]}" if text else type(error).__name__


class ModelFileError(ValueError):
    """A model file or checkpoint cannot be used; the message says why and what to do."""


def check_model_file(path):
    """Raise ``ModelFileError`` unless ``path`` is a readable, complete ``.keras`` archive."""
    path = pathlib.Path(path)
    if not path.exists():
        raise ModelFileError(f"{path} does not exist: check the path (models are saved with "
                             f"model.save('name.keras')).")
    if path.is_dir() or path.suffix != ".keras":
        raise ModelFileError(f"{path} is not a .keras file: load a file saved with "
                             f"model.save('name.keras') (weights alone: model.load_weights).")
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
            names = set(archive.namelist())
            config = archive.read("config.json") if "config.json" in names and not damaged else None
    except zipfile.BadZipFile:
        damaged, names, config = "the archive", set(), None
    except OSError as error:
        raise ModelFileError(f"cannot read {path}: {error.strerror or error}.") from None
    if damaged or "config.json" not in names:
        raise ModelFileError(f"{path} is corrupt or truncated ({damaged or 'no config.json'} "
                             f"unreadable), e.g. by an interrupted save or copy: save the model "
                             f"again, or load an earlier copy.")
    try:
        json.loads(config)
    except ValueError:
        raise ModelFileError(f"{path} opens, but its config.json is not the JSON Keras writes: the file was "
                             f"damaged or edited; save the model again, or load an earlier copy.") from None
    if not names & {"model.weights.h5", "model.weights.npz"}:
        raise ModelFileError(f"{path} opens, but holds no weights (model.weights.h5): it is not a whole "
                             f"saved model; save it again with model.save(path).")


def save_model(model, path, **kwargs):
    """``model.save(path)``, atomically: written beside ``path`` and renamed into place.

    An interrupted save (a kill, a full disk) leaves the previous file at ``path`` intact and at
    most a stray ``<name>.partial.keras``, instead of a truncated model.
    """
    path = pathlib.Path(path)
    if path.suffix != ".keras":
        raise ModelFileError(f"{path}: a model file must end in .keras (Keras' format).")
    partial = path.with_name(path.stem + ".partial.keras")
    try:
        model.save(partial, **kwargs)
        os.replace(partial, path)  # atomic on one filesystem
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def load_model(path, **kwargs):
    """``keras.saving.load_model`` after ``check_model_file`` (importing ``zoo`` registered its classes).

    A file whose archive is whole but whose contents Keras cannot rebuild (weights cut short, a
    config of another model or version) is a ``ModelFileError`` naming the file, not Keras' own
    error. (``zoo.load_model`` also takes preset folders and ``hf://`` handles: ``zoo.trained``.)
    """
    check_model_file(path)
    try:
        return keras.saving.load_model(path, **kwargs)
    except Exception as error:  # noqa: BLE001 - any failure to rebuild is the file's
        reason = error_summary(error)
        raise ModelFileError(f"{path} is a .keras archive whose contents do not load ({reason}): it is damaged, "
                             f"or saved by another version of Keras or of the zoo; save the model again, or "
                             f"load it where it was saved.") from error


class BackupAndRestore(keras.callbacks.BackupAndRestore):
    """Keras' ``BackupAndRestore`` with two checkpoints (a kill while one is being written
    leaves the other), and a clear error when the backup belongs to another model."""

    def __init__(self, backup_dir, **kwargs):
        super().__init__(str(backup_dir), double_checkpoint=True, **kwargs)
        # Saving per epoch (or never), its batch-end hook does nothing: let Keras keep dispatching
        # batch-end callbacks asynchronously (see zoo.training.callbacks.StopOnNaN).
        self.async_safe = self.save_freq == "epoch" or self.save_freq is False

    def _load_model(self):  # keras_internals.USED["_load_model"]
        # Keras falls back to the previous checkpoint only on an OSError (damaged weights); a
        # kill while it rewrites training_metadata.json leaves that file empty or cut, which
        # json raises as a ValueError. Report it as the damage it is, so the fallback runs.
        try:
            super()._load_model()  # keras_internals.USED["_load_model"]
        except json.JSONDecodeError as error:
            raise OSError(f"{keras_internals.training_metadata_path(self)} is damaged ({error})") from error

    def on_train_begin(self, logs=None):
        try:
            super().on_train_begin(logs)
        except (OSError, ValueError) as error:
            text = str(error)
            if isinstance(error, ValueError) and ("could not be loaded" in text or "shape" in text):
                raise ModelFileError(
                    f"the checkpoint in {self.backup_dir} does not fit this model (it was saved by "
                    f"a different configuration): resume with the run's own config, or delete "
                    f"{self.backup_dir} to start the run over.") from error
            # Both checkpoints unreadable (Keras falls back from the newer to the older itself).
            first = text.strip().splitlines()
            raise ModelFileError(
                f"the checkpoints in {self.backup_dir} are damaged ({first[0][:160] if first else type(error).__name__}): "
                f"delete {self.backup_dir} to start the run over.") from error
