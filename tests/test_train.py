"""train.py end to end on the current backend, with tiny budgets: in real processes where the
process is the subject, through train.main in the test's process elsewhere."""

import csv
import errno
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import keras

import zoo
from tests.helpers import BACKEND, script, xla_flags

ROOT = pathlib.Path(__file__).resolve().parents[1]
QUICK_BUDGET = ["--epochs", "2", "--eval-samples", "20", "--max-examples", "300", "--verbose", "0"]
QUICK = QUICK_BUDGET + ["--latent-dim", "4", "--hidden", "32"]


def train(*arguments, timeout=600):
    env = {**os.environ, "KERAS_BACKEND": BACKEND, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, str(ROOT / "train.py"), *arguments], env=env,
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def train_in_process(capsys, *arguments):
    """train.main in this process, as a CompletedProcess like ``train``'s: no fresh process to
    import Keras (and TensorFlow) into, ~10 s less a run. Tests whose subject is the process a
    user starts (exit codes, stderr, a kill) keep ``train``."""
    code = script("train").main(list(arguments))
    captured = capsys.readouterr()
    return subprocess.CompletedProcess(["train.py", *arguments], code, captured.out, captured.err)


def train_here(capsys, *arguments):
    """train.main in this process, for checks that end before training: its exit code and
    what it wrote to stderr."""
    result = train_in_process(capsys, *arguments)
    return result.returncode, result.stderr


def assert_no_tensorflow_start_up(result):
    """TensorFlow's start-up notices are not news on JAX and PyTorch (train.py keeps them off)."""
    if BACKEND != "tensorflow":
        markers = script("train").TENSORFLOW_START_UP
        assert not any(marker in result.stderr for marker in markers), result.stderr[:2000]


@pytest.fixture(scope="module")
def binary_digits(tmp_path_factory):
    """Binarized scikit-learn digits as a .npz (offline stand-in for binarized MNIST)."""
    from sklearn.datasets import load_digits

    path = tmp_path_factory.mktemp("data") / "binary_digits.npz"
    np.savez(path, images=(load_digits().images > 8).astype("uint8"))
    return path


# The CLI on every backend with the Bernoulli, in a real process as a user starts it; the rest
# once (in one backend's pass: the CLI's plumbing is the same on all three, and tests/losses and
# tests/zoo check each likelihood, model, family, dynamic binarization and jit_compile=False on
# every backend), through train.main in the test's process.
@pytest.mark.parametrize("likelihood,extra", [
    ("bernoulli", []),
    pytest.param("gaussian", [], marks=pytest.mark.once),
    pytest.param("huber", ["--huber-alpha", "0.5"], marks=pytest.mark.once),
    pytest.param("continuous_bernoulli", [], marks=pytest.mark.once),
    # Grey digits binarized afresh each step, on the two-stochastic-layer model (its metrics
    # add the middle layer's active units).
    pytest.param("bernoulli", ["--dynamic-binarization", "--model", "two_layer"], marks=pytest.mark.once),
    # The families: a hierarchy with a VampPrior and MIWAE, a flow posterior, and a preset with
    # its own KL warm-up.
    pytest.param("bernoulli", ["--model", "hvae", "--prior", "vampprior", "--prior-components", "10",
                               "--bound", "miwae", "--k", "2", "--m", "2"], marks=pytest.mark.once),
    pytest.param("gaussian", ["--posterior", "iaf", "--flow-steps", "2", "--prior", "mog"], marks=pytest.mark.once),
    pytest.param("bernoulli", ["--model", "ladder_mnist", "--kl-warmup", "10", "--hidden", "32,16,16,8,8"],
                 marks=pytest.mark.once),
])
def test_end_to_end(likelihood, extra, binary_digits, tmp_path, request, capsys):
    dynamic = "--dynamic-binarization" in extra
    data = ["--data", str(binary_digits), "--npz-key", "images"] if likelihood == "bernoulli" and not dynamic else []
    out = tmp_path / "run"
    quick = QUICK_BUDGET if "ladder_mnist" in extra else QUICK  # a ladder has its own sizes
    arguments = [*quick, *data, "--likelihood", likelihood, *extra, "--out", str(out)]
    in_process = request.node.get_closest_marker("once") is not None
    result = train_in_process(capsys, *arguments) if in_process else train(*arguments)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "test log-likelihood" in result.stdout
    if not in_process:
        assert_no_tensorflow_start_up(result)
    for name in ("model.keras", "config.json", "history.csv", "metrics.json", "samples.png",
                 "reconstructions.png", "latent_traversal.png"):
        assert (out / name).stat().st_size > 0, name
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("test_elbo", "test_log_likelihood", "test_bits_per_dim", "examples_per_s",
                "wall_time_s", "backend", "train_elbo", "val_elbo", "active_units"):
        assert key in metrics, key
    assert metrics["backend"] == BACKEND
    if "two_layer" in extra:
        assert 0 <= metrics["active_units_h1"] <= metrics["hidden_dim"] == 100
        assert "active units (h1)" in result.stdout
    elif "--model" not in extra:
        assert "active_units_h1" not in metrics
    assert metrics["test_log_likelihood"] < 0 and metrics["test_bits_per_dim"] > 0
    assert metrics["test_log_likelihood"] >= metrics["test_elbo"] - 2.0
    config = json.loads((out / "config.json").read_text())
    assert config["arguments"]["likelihood"] == likelihood and config["backend"] == BACKEND
    assert len(list(csv.DictReader((out / "history.csv").open()))) == 2

    # The saved model reproduces the logged test ELBO (a stochastic estimate) within noise.
    model = keras.saving.load_model(out / "model.keras")
    dataset = zoo.datasets.load(str(binary_digits) if data else "digits", key="images" if data else "x",
                                seed=0).limited(300)
    if dynamic:
        dataset = dataset.dynamically_binarized(seed=0)
        assert model.dynamic_binarization and config["arguments"]["dynamic_binarization"]
    elbos = [model.evaluate(dataset.x_test, batch_size=500, verbose=0, return_dict=True)["elbo"]
             for _ in range(5)]
    assert abs(np.mean(elbos) - metrics["test_elbo"]) < 0.03 * abs(metrics["test_elbo"]) + 1.0


@pytest.mark.skipif(BACKEND != "jax", reason="keras.distribution on two virtual devices: the JAX pass")
def test_data_parallel_on_sizes_no_device_count_divides(tmp_path):
    # 1,437 training images in batches of 63 and 359 test images on 2 devices: the evaluation
    # crashed with JAX's "partitioned 2 times, but the dimension size is 359".
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3",
           "XLA_FLAGS": xla_flags("--xla_force_host_platform_device_count=2")}
    out = tmp_path / "run"
    result = subprocess.run([sys.executable, str(ROOT / "train.py"), "--data-parallel", "--batch-size", "63",
                             "--epochs", "2", "--eval-samples", "10", "--verbose", "0", "--latent-dim", "4",
                             "--hidden", "32", "--out", str(out)], env=env, capture_output=True, text=True,
                            timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "data parallel over 2 devices" in result.stdout
    assert np.isfinite(json.loads((out / "metrics.json").read_text())["test_log_likelihood"])
    too_small = subprocess.run([sys.executable, str(ROOT / "train.py"), "--data-parallel", "--batch-size", "1",
                                "--out", str(tmp_path / "small")], env=env, capture_output=True, text=True,
                               timeout=600, cwd=ROOT)
    assert too_small.returncode == 2 and "--batch-size 1 is smaller than the 2 devices" in too_small.stderr


@pytest.mark.once  # the option's plumbing; jit_compile=False trains on every backend in tests/zoo
def test_jit_compile_option_reaches_the_saved_model(tmp_path, capsys):
    out = tmp_path / "run"
    result = train_in_process(capsys, *QUICK, "--epochs", "1", "--jit-compile", "false", "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((out / "config.json").read_text())["arguments"]["jit_compile"] == "false"
    assert keras.saving.load_model(out / "model.keras").jit_compile is False


@pytest.mark.once  # a PNG of the latent space
def test_a_2d_latent_gets_a_latent_map(tmp_path, capsys):
    out = tmp_path / "run"
    result = train_in_process(capsys, *QUICK_BUDGET, "--latent-dim", "2", "--model", "conv", "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    assert (out / "latent_map.png").exists()


def test_resume_after_a_kill_keeps_finished_epochs(tmp_path, capsys):
    out = tmp_path / "run"
    env = {**os.environ, "KERAS_BACKEND": BACKEND, "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "train.py"), *QUICK, "--epochs", "400", "--patience", "400",
         "--out", str(out)], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    history = out / "history.csv"
    deadline = time.time() + 300
    # Wait for 3 rows of history.csv, written after the epoch's backup by the last callback:
    # polling the backup's metadata instead raced with that write (2 rows at a kill, seen on 1 core).
    while time.time() < deadline and process.poll() is None:
        if history.exists() and len(history.read_text().splitlines()) >= 4:  # header + 3 epochs
            break
        time.sleep(0.05)
    assert process.poll() is None, "the run ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished = len(list(csv.DictReader((out / "history.csv").open())))
    assert finished >= 3

    result = train_in_process(capsys, "--resume", "--out", str(out), "--epochs", str(finished + 2))
    assert result.returncode == 0, result.stderr[-3000:]
    rows = list(csv.DictReader((out / "history.csv").open()))
    epochs = [int(r["epoch"]) for r in rows]
    assert epochs == list(range(finished + 2))  # nothing lost, continued (not restarted), each epoch once
    assert (out / "metrics.json").exists()


@pytest.mark.once
def test_a_bad_argument_is_one_line_from_a_real_process(tmp_path):
    # The process as a user meets it: exit code 2, no traceback, one line of ours among any
    # start-up lines TensorFlow writes (the other bad arguments run in-process, below).
    result = train(*QUICK, "--likelihood", "mse", "--out", str(tmp_path / "run"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    ours = [line for line in result.stderr.splitlines() if line.startswith("train.py:")]
    assert len(ours) == 1 and ours[0].startswith("train.py: error: unknown likelihood 'mse'; choose one of"), \
        result.stderr
    assert_no_tensorflow_start_up(result)


@pytest.mark.once  # argument checks, in-process (train.main); the real process is tested above
@pytest.mark.parametrize("arguments,message", [
    (["--likelihood", "mse"], "unknown likelihood 'mse'"),
    (["--likelihood", "huber", "--huber-alpha", "0"], "--huber-alpha must be a number > 0"),
    (["--likelihood", "huber", "--huber-alpha", "-1"], "--huber-alpha must be a number > 0"),
    (["--data", "/nonexistent/data.npz"], "does not exist"),
    (["--data", "{npz}", "--npz-key", "pixels"], "has no array 'pixels'"),
    (["--data", "{odd}"], "examples must be vectors"),
    (["--likelihood", "bernoulli"], "continuous_bernoulli"),
    (["--huber-alpha", "1.0", "--likelihood", "gaussian"], "applies to the huber likelihood"),
    (["--resume"], "nothing to resume"),
    (["--model", "vq_vae"], "unknown model"),
    (["--dynamic-binarization", "--likelihood", "gaussian"], "scored by the bernoulli likelihood"),
    (["--dynamic-binarization", "--data", "{npz}", "--npz-key", "images"], "is binary already"),
])
def test_bad_arguments_exit_with_one_line(arguments, message, binary_digits, tmp_path, capsys):
    odd = tmp_path / "odd.npz"
    np.savez(odd, x=np.zeros((30, 2, 3, 4, 5), "float32"))
    arguments = [a.format(npz=binary_digits, odd=odd) for a in arguments]
    code, error = train_here(capsys, *QUICK, *arguments, "--out", str(tmp_path / "run"))
    assert code == 2 and "Traceback" not in error
    assert message in error, error
    assert len(error.strip().splitlines()) == 1 and error.startswith("train.py: error: "), error


@pytest.mark.once
@pytest.mark.parametrize("arguments,message", [
    (["--model", "conditional", "--prior", "vampprior"], "is built from q(z|x), which a conditional model"),
    (["--posterior", "planar", "--kl", "analytic"], "kl='analytic' needs a closed-form KL"),
    (["--prior", "mog", "--prior-components", "0"], "--prior-components must be a positive integer, got 0"),
    (["--posterior", "iaf", "--flow-steps", "-1"], "--flow-steps must be a positive integer, got -1"),
    (["--flow-steps", "3"], "--flow-steps applies to --posterior planar or iaf"),
    (["--prior", "standard_normal", "--prior-components", "3"], "--prior-components applies to --prior mog or vampprior"),
    (["--m", "2"], "m=2 (bounds averaged) applies to bound='miwae' or 'piwae'"),
    (["--bound", "ciwae", "--ciwae-beta", "2"], "--ciwae-beta must lie in [0, 1]"),
    (["--model", "two_layer", "--posterior", "iaf"], "posterior='iaf' does not work with this model; valid choices: gaussian"),
    (["--model", "ladder"], "--model ladder has one size per stochastic layer"),
])
def test_bad_family_options_are_one_line_before_training(arguments, message, capsys, tmp_path):
    code, error = train_here(capsys, *QUICK, *arguments, "--out", str(tmp_path / "run"))
    assert code == 2 and message in error, error
    assert len(error.strip().splitlines()) == 1 and error.startswith("train.py: error: ")


@pytest.mark.once
def test_existing_out_dir_is_not_overwritten(tmp_path, capsys):
    (tmp_path / "keep.txt").write_text("mine")
    code, error = train_here(capsys, *QUICK, "--out", str(tmp_path))
    assert code == 2 and "--resume" in error
    assert (tmp_path / "keep.txt").read_text() == "mine"


@pytest.mark.once
def test_help():
    result = train("--help")
    assert result.returncode == 0 and "--huber-alpha" in result.stdout and "KERAS_BACKEND" in result.stdout


@pytest.mark.once
def test_help_lists_every_preset():
    assert set(script("train").PRESETS) == set(zoo.presets.names())


@pytest.mark.once
def test_an_invalid_backend_names_the_valid_ones(tmp_path):
    env = {**os.environ, "KERAS_BACKEND": "numpyy"}
    for name in ("train.py", "tune.py"):
        result = subprocess.run([sys.executable, str(ROOT / name), "--out", str(tmp_path / name)],
                                env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert "KERAS_BACKEND='numpyy'" in result.stderr and "tensorflow, jax, torch" in result.stderr


def saved_run(out, *arguments):
    """A run folder as train.py leaves it after a kill before the first epoch ended."""
    out.mkdir()
    saved = vars(script("train").build_parser().parse_args([*QUICK, *arguments, "--out", str(out)]))
    saved["hidden"] = [32]
    (out / "config.json").write_text(json.dumps({"arguments": saved}))


@pytest.mark.once
def test_resume_refuses_options_that_contradict_the_run(tmp_path, capsys):
    saved_run(tmp_path / "run")
    code, error = train_here(capsys, "--resume", "--out", str(tmp_path / "run"), "--latent-dim", "8")
    assert code == 2 and "--latent-dim 8 contradicts" in error, error
    (tmp_path / "run" / "config.json").write_text("{truncated")
    code, error = train_here(capsys, "--resume", "--out", str(tmp_path / "run"))
    assert code == 2 and "is damaged" in error, error


@pytest.mark.once
@pytest.mark.parametrize("code,expected", [
    (errno.ENOSPC, "No space left on device"),
    (errno.EACCES, "check the permissions"),
])
def test_file_system_errors_are_one_line_naming_the_file(code, expected, monkeypatch, capsys, tmp_path):
    def refuse(path, *args, **kwargs):
        raise OSError(code, os.strerror(code), str(path))

    monkeypatch.setattr(pathlib.Path, "write_text", refuse)  # config.json is the first write
    exit_code, error = train_here(capsys, *QUICK, "--out", str(tmp_path / "run"))
    assert exit_code == 2
    error = error.strip()
    assert error.startswith("train.py: error: ") and "\n" not in error
    assert expected in error and "config.json" in error and "--out" in error


@pytest.mark.once
def test_an_out_dir_that_cannot_be_created_is_reported(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    code, error = train_here(capsys, *QUICK, "--out", str(tmp_path / "file" / "run"))
    assert code == 2 and "cannot create" in error, error


@pytest.fixture(scope="module")
def digits_preset(tmp_path_factory):
    """A trained preset folder of bundled digits' shape (its card names no protocol: --data says)."""
    model = zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=3, hidden=(16,), data_levels=17,
                       likelihood=zoo.factory.make_likelihood(None, 17, None, None, None), seed=4)
    model.compile(optimizer="adam")
    model.fit(zoo.datasets.load("digits").x_train[:256], epochs=1, batch_size=64, verbose=0)
    return zoo.save_preset(model, tmp_path_factory.mktemp("presets") / "digits-vae")


@pytest.mark.once  # the CLI's plumbing; loading, training and scoring a preset: tests/zoo, every backend
def test_from_preset_evaluates_with_zero_epochs_and_fine_tunes_with_more(digits_preset, tmp_path, capsys):
    def weights(path):
        return [keras.ops.convert_to_numpy(w) for w in zoo.load_model(path).weights]

    preset = [keras.ops.convert_to_numpy(w) for w in zoo.from_preset(digits_preset).weights]
    for epochs in (0, 1):
        out = tmp_path / f"epochs{epochs}"
        result = train_in_process(capsys, "--from-preset", str(digits_preset), "--data", "digits", "--epochs",
                                  str(epochs), "--eval-samples", "10", "--verbose", "0", "--out", str(out))
        assert result.returncode == 0, result.stderr[-3000:]
        assert f"from {digits_preset}" in result.stdout
        assert json.loads((out / "metrics.json").read_text())["epochs_run"] == epochs
        assert (out / "history.csv").exists() == bool(epochs) and (out / "samples.png").exists()
        same = all(np.array_equal(a, b) for a, b in zip(weights(out / "model.keras"), preset))
        assert same == (epochs == 0)  # scored as shipped; fine-tuned from there


@pytest.mark.once
@pytest.mark.parametrize("arguments, message", [
    (["--latent-dim", "4", "--k", "5"], "--latent-dim, --k: the model of --from-preset"),
    (["--data", "{mnist_shaped}"], "takes data of shape (8, 8, 1), and"),
    (["--from-preset", "no-such-preset"], "neither a preset folder nor a trained preset's name"),
])
def test_from_preset_refuses_what_contradicts_the_preset(digits_preset, arguments, message, capsys, tmp_path):
    mnist_shaped = tmp_path / "mnist_shaped.npz"
    np.savez(mnist_shaped, x=np.zeros((30, 28, 28), "uint8"))
    arguments = [a.format(mnist_shaped=mnist_shaped) for a in arguments]
    code, error = train_here(capsys, "--from-preset", str(digits_preset), "--data", "digits", "--epochs", "0",
                             *arguments, "--out", str(tmp_path / "run"))
    assert code == 2 and message in error, error
    assert len(error.strip().splitlines()) == 1 and error.startswith("train.py: error: ")


@pytest.mark.once
def test_zero_epochs_need_a_preset(capsys, tmp_path):
    code, error = train_here(capsys, *QUICK, "--epochs", "0", "--out", str(tmp_path / "run"))
    assert code == 2 and "--epochs must be a positive integer, got 0 (0 evaluates a --from-preset model" in error
