"""Loading models and checkpoints: damaged files and mismatched checkpoints say so (zoo/saving.py)."""

import json
import pathlib
import warnings

import numpy as np
import pytest
import keras

import zoo
from zoo import ModelFileError
from tests.helpers import to_numpy
from tests.zoo.common import digits


def mlp(latent_dim=3):
    model = zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=latent_dim, hidden=(16,))
    model.compile(optimizer="adam")
    return model


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("saved") / "vae.keras"
    model = mlp()
    model.save(path)
    return path, model


def test_a_good_file_loads_with_identical_outputs(saved):
    path, model = saved
    loaded = zoo.load_model(path)
    x = digits(8)
    np.testing.assert_array_equal(to_numpy(loaded.predict(x, verbose=0)), to_numpy(model.predict(x, verbose=0)))


@pytest.mark.parametrize("damage,match", [
    (lambda data: data[: len(data) // 2], "corrupt or truncated"),
    (lambda data: b"not a zip" * 100, "corrupt or truncated"),
    (lambda data: data[:200] + bytes(200) + data[400:], "corrupt or truncated"),
])
def test_damaged_files_are_named_as_damaged(saved, damage, match, tmp_path):
    path = tmp_path / "damaged.keras"
    path.write_bytes(damage(saved[0].read_bytes()))
    with pytest.raises(ModelFileError, match=match):
        zoo.load_model(path)
    # Keras itself calls all of these "File not found", which is why zoo.load_model exists.


def test_missing_and_wrong_kind_of_file(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        zoo.load_model(tmp_path / "nowhere.keras")
    (tmp_path / "weights.h5").write_bytes(b"x")
    with pytest.raises(ModelFileError, match="not a .keras file"):
        zoo.load_model(tmp_path / "weights.h5")


def test_save_model_writes_a_loadable_file(tmp_path):
    model = mlp()
    zoo.save_model(model, tmp_path / "vae.keras")
    assert [p.name for p in tmp_path.iterdir()] == ["vae.keras"]
    x = digits(8)
    np.testing.assert_array_equal(to_numpy(zoo.load_model(tmp_path / "vae.keras").predict(x, verbose=0)),
                                  to_numpy(model.predict(x, verbose=0)))


def test_an_interrupted_save_model_leaves_the_previous_file(saved, tmp_path, monkeypatch):
    path = tmp_path / "vae.keras"
    path.write_bytes(saved[0].read_bytes())
    model = mlp(latent_dim=4)

    def interrupted_save(self, filepath, **kwargs):
        pathlib.Path(filepath).write_bytes(b"half a zip")
        raise KeyboardInterrupt

    monkeypatch.setattr(keras.Model, "save", interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        zoo.save_model(model, path)
    assert path.read_bytes() == saved[0].read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["vae.keras"]  # no partial file left
    zoo.load_model(path)


def test_save_model_wants_a_keras_file_name(tmp_path):
    with pytest.raises(ModelFileError, match="must end in .keras"):
        zoo.save_model(mlp(), tmp_path / "vae.h5")


def test_a_checkpoint_of_another_model_is_refused_by_name(tmp_path):
    backup = tmp_path / "backup"
    mlp(latent_dim=3).fit(digits(32), epochs=1, verbose=0,
                          callbacks=[zoo.BackupAndRestore(backup, delete_checkpoint=False)])
    assert (backup / "latest.weights.h5").exists()
    with pytest.raises(ModelFileError, match="does not fit this model"):
        mlp(latent_dim=5).fit(digits(32), epochs=1, verbose=0,
                              callbacks=[zoo.BackupAndRestore(backup)])
    # The same configuration resumes from it.
    resumed = mlp(latent_dim=3)
    resumed.fit(digits(32), epochs=2, verbose=0, callbacks=[zoo.BackupAndRestore(backup)])
    assert keras.ops.convert_to_numpy(resumed.optimizer.iterations) > 0


def optimizer_state(model):
    return [to_numpy(v) for v in model.optimizer.variables]


def test_optimizer_state_round_trips_through_model_and_weights_files(tmp_path):
    trained = mlp()
    trained.fit(digits(32), epochs=1, batch_size=8, verbose=0)
    trained.save(tmp_path / "trained.keras")
    trained.save_weights(tmp_path / "trained.weights.h5")
    untrained = mlp()
    untrained.save(tmp_path / "untrained.keras")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reloaded = zoo.load_model(tmp_path / "trained.keras")
        fresh = mlp()
        fresh.load_weights(tmp_path / "trained.weights.h5")  # a fresh, compiled model: Adam's state too
        zoo.load_model(tmp_path / "untrained.keras")
    skipped = [str(w.message) for w in caught if "Skipping variable loading" in str(w.message)]
    assert not skipped, skipped
    expected = optimizer_state(trained)
    assert int(expected[0]) == 4 and len(expected) > 2  # 4 steps; Adam's moments, not only counters
    for model in (reloaded, fresh):
        for got, want in zip(optimizer_state(model), expected, strict=True):
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("damage", [b"", b'{"epoch": 3, "ba'])
def test_a_kill_while_the_backup_metadata_is_written_resumes_from_the_previous_one(damage, tmp_path):
    backup = tmp_path / "backup"
    mlp().fit(digits(32), epochs=3, verbose=0, callbacks=[zoo.BackupAndRestore(backup, delete_checkpoint=False)])
    previous = json.loads((backup / "training_metadata.json.bkp").read_text())["epoch"]
    (backup / "training_metadata.json").write_bytes(damage)  # killed while rewriting it
    resumed = mlp()
    history = resumed.fit(digits(32), epochs=4, verbose=0, callbacks=[zoo.BackupAndRestore(backup)])
    assert previous == 2 and history.epoch == [2, 3]  # epochs 3 and 4, after the previous checkpoint


def test_steps_per_execution_defaults_per_backend_and_reloads_as_the_default(tmp_path):
    from zoo.vae import DEFAULT_STEPS_PER_EXECUTION

    default = DEFAULT_STEPS_PER_EXECUTION.get(keras.backend.backend(), 1)
    x = digits(45)
    model = zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=2, hidden=(8,))
    model.compile(optimizer="adam")
    assert model.steps_per_execution == default
    # Every batch is a step, the last partial group of steps too: 45 / 4 → 12 steps.
    model.fit(x, batch_size=4, epochs=1, verbose=0)
    assert int(model.optimizer.iterations) == 12
    # Saved as "the default", so the file loads on a backend with another one (PyTorch: 1).
    assert model.get_compile_config()["steps_per_execution"] is None
    model.save(tmp_path / "model.keras")
    reloaded = keras.saving.load_model(tmp_path / "model.keras")
    assert reloaded.compiled and reloaded.steps_per_execution == default
    assert type(reloaded.optimizer) is type(model.optimizer)

    explicit = zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=2, hidden=(8,))
    explicit.compile(optimizer="adam", steps_per_execution=1)
    assert explicit.steps_per_execution == 1
    assert explicit.get_compile_config()["steps_per_execution"] == 1


def test_jit_compile_defaults_per_backend_and_reloads_as_the_default(tmp_path):
    from zoo.vae import DEFAULT_JIT_COMPILE

    model = zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=2, hidden=(8,))
    model.compile(optimizer="adam")
    # XLA on TensorFlow and JAX (Keras' "auto" would leave a TensorFlow CPU without it).
    assert model.jit_compile == DEFAULT_JIT_COMPILE.get(keras.backend.backend(),
                                                        keras.backend.backend() != "torch")
    # Saved as "the default": a True from JAX would mean torch.compile on PyTorch.
    assert model.get_compile_config()["jit_compile"] == "auto"
    model.save(tmp_path / "model.keras")
    assert keras.saving.load_model(tmp_path / "model.keras").jit_compile == model.jit_compile

    eager = zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=2, hidden=(8,))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "jit_compile cannot also be True" from Keras
        eager.compile(optimizer="adam", run_eagerly=True)
    assert not eager.jit_compile
    explicit = zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=2, hidden=(8,))
    explicit.compile(optimizer="adam", jit_compile=False)
    assert not explicit.jit_compile and explicit.get_compile_config()["jit_compile"] is False


def rewritten(source, target, member, data):
    """A copy of the .keras archive ``source`` with ``member`` replaced (None: left out)."""
    import zipfile

    with zipfile.ZipFile(source) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    if data is None:
        members.pop(member)
    else:
        members[member] = data(members[member]) if callable(data) else data
    with zipfile.ZipFile(target, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return target


@pytest.mark.parametrize("member,data,match", [
    ("config.json", b'{"class_name": "MLPVAE", "con', "config.json is not the JSON Keras writes"),
    ("model.weights.h5", None, "holds no weights"),
    ("model.weights.h5", lambda weights: weights[: len(weights) // 3], "contents do not load"),
    ("config.json", lambda config: config.replace(b"MLPVAE", b"NoSuchModel"), "contents do not load"),
])
def test_an_archive_that_opens_but_holds_bad_contents_is_named(saved, member, data, match, tmp_path):
    path = rewritten(saved[0], tmp_path / "bad.keras", member, data)
    with pytest.raises(ModelFileError, match=match) as raised:
        zoo.load_model(path)
    assert "bad.keras" in str(raised.value) and "\n" not in str(raised.value)


def test_both_checkpoints_damaged_is_one_error_saying_what_to_do(tmp_path):
    backup = tmp_path / "backup"
    mlp().fit(digits(32), epochs=2, verbose=0, callbacks=[zoo.BackupAndRestore(backup, delete_checkpoint=False)])
    for weights in backup.glob("*.weights.h5*"):
        weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ModelFileError, match=r"checkpoints in .*backup are damaged .*delete .*backup"):
        mlp().fit(digits(32), epochs=3, verbose=0, callbacks=[zoo.BackupAndRestore(backup)])
