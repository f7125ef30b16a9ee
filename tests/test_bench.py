"""A smoke test of the benchmarks with a tiny budget (the real runs live in bench/, not CI)."""

import importlib.util
import json
import os
import pathlib
import subprocess
import sys
import types

import numpy as np
import pytest

from tests.helpers import BACKEND
from zoo.datasets import default_data_dir

ROOT = pathlib.Path(__file__).resolve().parents[1]


needs_binarized_mnist = pytest.mark.skipif(
    not (default_data_dir() / "binarized_mnist_train.npz").exists(),
    reason=f"binarized MNIST is not in {default_data_dir()} (set VAE_ZOO_DATA)")


def load_likelihood_script():
    spec = importlib.util.spec_from_file_location("bench_likelihood", ROOT / "bench" / "likelihood.py")
    likelihood = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(likelihood)
    return likelihood


def run_bench(script, arguments, tmp_path):
    """bench/``script`` in a fresh process, as a user runs it (its results in ``tmp_path``)."""
    env = {**os.environ, "KERAS_BACKEND": BACKEND, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *arguments, "--results-dir", str(tmp_path)],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def run_likelihood_here(arguments, tmp_path, capsys):
    """bench/likelihood.py's main() in this process, for the tests of its bookkeeping: no fresh
    process to import Keras (and TensorFlow) into, ~10 s less a run; what it printed."""
    load_likelihood_script().main([*arguments, "--results-dir", str(tmp_path)])
    return capsys.readouterr().out


@needs_binarized_mnist
def test_throughput_smoke(tmp_path):
    run_bench("throughput.py", ["--worker", "--max-examples", "600", "--batch-sizes", "100",
                                "--is-images", "20", "--is-samples", "10"], tmp_path)
    row = json.loads((tmp_path / f"throughput-{BACKEND}.json").read_text())
    numbers = row["batches"]["100"]
    assert numbers["fit_examples_per_s"] > 0 and numbers["loop_examples_per_s"] > 0
    assert row["is_eval"]["images"] == 20 and row["peak_rss_mb"] > 0
    assert row["input_shape"] == [28, 28, 1]  # the model users build, not the flat variant
    # 20 images × k = 10 fit in one step of the evaluator.
    assert row["is_eval"]["samples_per_step"] == 200 and len(row["is_eval"]["runs"]) == 1
    if BACKEND == "jax":  # the matmul floor is timed on JAX, beside the evaluation
        assert row["is_eval"]["decoder_matmul_seconds"] > 0
        assert row["is_eval"]["over_floor"] > 0


@pytest.mark.once  # the script's bookkeeping; each likelihood trains on every backend in tests/zoo
def test_likelihood_smoke(tmp_path, capsys):
    # Two of the family's eight (each one compiles its own steps): one on the discrete scale
    # by construction, one continuous density put there by dequantization. Every likelihood
    # trains and is scored in tests/zoo; this checks the script around them.
    printed = run_likelihood_here(["--model", "grey", "--likelihoods", "huber,discretized_logistic",
                                   "--minutes", "0.005", "--max-examples", "100", "--eval-samples", "5",
                                   "--lr-decay", "exponential", "--jit-compile", "false"], tmp_path, capsys)
    # The schedule other than the default is named in the file, as the other options are.
    record = json.loads((tmp_path / f"likelihood-grey-discretized_logistic+huber-exponential-{BACKEND}.json")
                        .read_text())
    rows = record["results"]
    assert [name.split("(")[0] for name in rows] == ["DiscretizedLogistic", "Huber"], list(rows)
    assert "| likelihood | backend |" in printed
    for name, row in rows.items():
        # Bounds on 17-level 8×8 data: positive code lengths below 4.09 bits/dim (uniform).
        assert 0 < row["test_bits_per_dim"] < 20, (name, row)
        assert row["epochs"] >= 1 and row["train_cpu_minutes"] >= 0 and row["examples_per_s"] > 0
        assert row["lr_decay"] == "exponential" and row["jit_compile"] is False


@pytest.mark.once  # the script's bookkeeping; the weights move by Keras' own get/set_weights
@needs_binarized_mnist
def test_likelihood_warm_start_smoke(tmp_path, capsys):
    # The k=1 networks' weights must load into the 2-layer k=50 model, both
    # phases count against the budget, the KL and learning-rate warm-ups ramp in the first phase only, both
    # phases' optimizers get --adam-epsilon and --ema-momentum, the second phase restarts at
    # --restart-lr (decaying along the default straight line to zero), and both stochastic
    # layers' active units are counted.
    run_likelihood_here(["--model", "iwae_mnist_2layer", "--minutes", "0.02", "--warm-start-minutes", "0.01",
                         "--kl-warmup-steps", "3", "--lr-warmup-epochs", "2", "--max-examples", "100",
                         "--eval-samples", "5", "--adam-epsilon", "1e-4", "--restart-lr", "5e-3",
                         "--ema-momentum", "0.9"], tmp_path, capsys)
    name = f"likelihood-iwae_mnist_2layer-warm1-lrwarmup2-klwarmup3-ema0.9-{BACKEND}.json"
    row = json.loads((tmp_path / name).read_text())["results"]
    warm = row["warm_start"]
    assert warm["k"] == 1 and warm["epochs"] >= 1 and row["epochs"] >= 1
    assert warm["kl_warmup_steps"] == 3 and row["kl_warmup_steps"] == 0
    assert warm["lr_warmup_epochs"] == 2 and row["lr_warmup_epochs"] == 0
    assert warm["adam_epsilon"] == row["adam_epsilon"] == pytest.approx(1e-4)
    assert warm["ema_momentum"] == row["ema_momentum"] == 0.9
    assert warm["initial_lr"] == pytest.approx(1e-3) and row["initial_lr"] == pytest.approx(5e-3)
    assert warm["final_lr"] < 1e-3 and row["final_lr"] <= 5e-3
    assert warm["lr_decay"] == row["lr_decay"] == "linear"
    assert warm["batch_size"] == row["batch_size"] == 32  # the IWAE models' default
    assert row["train_cpu_minutes"] >= warm["train_cpu_minutes"] > 0
    assert len(row["val_negative_elbo_by_epoch"]) == row["epochs"]
    assert 0 < row["test_nll"] < 1000  # positive and finite: 784 binary pixels, barely trained
    assert 0 <= row["active_units"] <= 50 and 0 <= row["active_units_h1"] <= 100


@pytest.mark.once
def test_likelihood_without_validation_smoke(tmp_path, capsys):
    # --validation-fraction 0 (grey data: digits here, grey MNIST with --dynamic-binarization):
    # every training image trains (the IWAE paper's protocol), no validation runs, the last
    # weights are scored, and the run's name says so.
    run_likelihood_here(["--model", "grey", "--likelihoods", "gaussian", "--minutes", "0.01", "--max-examples",
                         "100", "--eval-samples", "5", "--validation-fraction", "0"], tmp_path, capsys)
    record = json.loads((tmp_path / f"likelihood-grey-gaussian-valid0-{BACKEND}.json").read_text())
    (row,) = record["results"].values()
    assert record["arguments"]["validation_fraction"] == 0
    assert row["training_images"] == 100 and row["epochs"] >= 1
    assert row["best_epoch"] is None and row["val_negative_elbo_by_epoch"] == []
    assert 0 < row["test_nll"] < 1000


@pytest.mark.once
@needs_binarized_mnist
def test_likelihood_on_static_mnist_records_its_protocol_and_the_authors_options(tmp_path, capsys):
    # The official three files; the paper's number is only printed beside ours at its own k.
    # The VampPrior authors' options: normalized gradients, a hard log-variance clip, patience
    # counted after the warm-up.
    printed = run_likelihood_here(["--model", "vampprior_mnist", "--minutes", "0.02", "--max-examples", "100",
                                   "--eval-samples", "5", "--optimizer", "adam_norm_grad",
                                   "--log-var-clip", "hard:-6,2", "--patience-from-epoch", "3",
                                   "--adam-epsilon", "1e-8", "--save-preset", str(tmp_path / "preset")],
                                  tmp_path, capsys)
    name = f"likelihood-vampprior_mnist-normgrad-hard-6_2-patiencefrom3-{BACKEND}"
    row = json.loads((tmp_path / f"{name}.json").read_text())["results"]
    assert row["protocol"] == "static-mnist" and row["estimator"] == "IS, k = 5"
    assert row["paper_test_nll"] is None and row["paper_protocol"] == "static-mnist, IS, k = 5000"
    assert f"| vampprior_mnist | static-mnist | {BACKEND} | — |" in printed
    assert row["optimizer"] == "AdamNormGrad" and row["patience_from_epoch"] == 3
    import zoo

    model = zoo.load_model(tmp_path / f"{name}.keras")
    assert model.posterior.log_var_clip == "hard" and model.posterior.log_var_range == (-6.0, 2.0)
    # --save-preset: the folder users load, its metadata the run's, its fingerprint reproducible.
    metadata = json.loads((tmp_path / "preset" / "metadata.json").read_text())
    assert metadata["preset"] == "vampprior_mnist" and metadata["protocol"] == "static-mnist"
    assert metadata["test_nll"] == row["test_nll"] and metadata["fingerprint"] == row["fingerprint"]
    record = json.loads((tmp_path / f"{name}.json").read_text())
    assert metadata["versions"] == record["versions"] and metadata["code_commit"] == record["code_commit"]
    assert {key: metadata[key] for key in ("best_epoch", "batch_size", "train_cpu_minutes", "active_units")} == {
        key: row[key] for key in ("best_epoch", "batch_size", "train_cpu_minutes", "active_units")}
    assert metadata["trained_on_backend"] == BACKEND and metadata["cpus"] >= 1
    # The card's command reproduces the run on any machine: where files went is left out.
    assert metadata["command"] == ("python bench/likelihood.py --model vampprior_mnist --minutes 0.02 "
                                   "--max-examples 100 --eval-samples 5 --optimizer adam_norm_grad "
                                   "--log-var-clip hard:-6,2 --patience-from-epoch 3 --adam-epsilon 1e-8")
    typed = json.loads((tmp_path / f"{name}.json").read_text())["command"]
    assert "--save-preset" in typed and "--results-dir" in typed
    preset = zoo.from_preset(tmp_path / "preset")
    x = zoo.datasets.load("binarized-mnist").x_test[:100]
    assert metadata["fingerprint"]["images"] == 100 and metadata["fingerprint"]["k"] == 100
    assert round(zoo.trained.fingerprint(preset, x), 4) == metadata["fingerprint"]["log_px"][BACKEND]


@pytest.mark.once  # the script's bookkeeping; the kill and resume of a fit: tests/zoo/training/test_callbacks.py
@needs_binarized_mnist
def test_likelihood_continues_a_finished_or_killed_run_with_resume(tmp_path, capsys, monkeypatch):
    import zoo

    likelihood = load_likelihood_script()
    arguments = ["--model", "iwae_mnist", "--max-examples", "100", "--eval-samples", "5",
                 "--results-dir", str(tmp_path)]
    record = tmp_path / f"likelihood-iwae_mnist-{BACKEND}.json"
    folder = tmp_path / f"likelihood-iwae_mnist-{BACKEND}.run"
    likelihood.main([*arguments, "--minutes", "0.01"])
    first = json.loads(record.read_text())["results"]
    # The same command again would lose the run: refused, with the ways on.
    with pytest.raises(SystemExit, match="holds a run of these options: --resume continues it"):
        likelihood.main([*arguments, "--minutes", "0.01"])
    with pytest.raises(SystemExit, match=r"holds a run of other options \(--lr 0.0001 \(the run's: 0.001\)\)"):
        likelihood.main([*arguments, "--minutes", "0.01", "--lr", "1e-4"])
    with pytest.raises(SystemExit, match=r"--lr 0.0001 \(the run's: 0.001\).*Only --minutes"):
        likelihood.main([*arguments, "--minutes", "0.02", "--lr", "1e-4", "--resume"])
    with pytest.raises(SystemExit, match="nothing to resume"):
        likelihood.main([*arguments, "--minutes", "0.01", "--seed", "1", "--resume"])
    # A finished run, given more minutes, trains on from its last epoch; here the piece that does
    # is killed after two epochs (before the second one's checkpoint) and the next goes on from
    # the first one's. The run's epochs and curve run on from the first piece's, its time counts
    # against the longer budget. (Each piece compiles its step again, a few seconds of its budget.)
    class Killed(Exception):
        pass

    class KilledAfterTwoEpochs(zoo.EpochTimer):
        def on_epoch_end(self, epoch, logs=None):
            super().on_epoch_end(epoch, logs)
            if len(self.times) == 2:
                raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(zoo, "EpochTimer", KilledAfterTwoEpochs)
        with pytest.raises(Killed):
            likelihood.main([*arguments, "--minutes", "0.25", "--resume"])
    assert not (folder / "main" / "done.json").exists() or json.loads(
        (folder / "main" / "done.json").read_text())["budget_minutes"] == 0.01
    likelihood.main([*arguments, "--minutes", "0.25", "--resume"])
    longer = json.loads(record.read_text())["results"]
    assert longer["epochs"] > first["epochs"] + 1 and longer["final_lr"] < first["initial_lr"]
    assert longer["val_negative_elbo_by_epoch"][: first["epochs"]] == first["val_negative_elbo_by_epoch"]
    assert len(longer["val_negative_elbo_by_epoch"]) == longer["epochs"]
    assert [piece["budget_minutes"] for piece in longer["pieces"]] == [0.01, 0.25, 0.25]
    assert first["train_wall_minutes"] < longer["train_wall_minutes"]
    # With the same minutes a finished run is only scored again, from the weights it kept.
    likelihood.main([*arguments, "--minutes", "0.25", "--eval-samples", "7", "--resume"])
    again = json.loads(record.read_text())["results"]
    assert again["epochs"] == longer["epochs"] and again["eval_samples"] == 7 and len(again["pieces"]) == 3
    # The test ELBO is one sample per image, which at this stage moves it by up to ~20 nats between
    # two scorings of the same weights: the kept weights show as a score near the longer run's,
    # far from the first piece's (~550, untrained: ~550 too).
    elbos = {name: run["test_negative_elbo"] for name, run in (("first", first), ("longer", longer), ("again", again))}
    assert abs(elbos["again"] - elbos["longer"]) < abs(elbos["again"] - elbos["first"]) / 3, elbos
    capsys.readouterr()


@pytest.mark.parametrize("validation_images", [64, 0])
@pytest.mark.parametrize("ema_momentum", [None, 0.999999])
def test_likelihood_fit_keeps_the_moving_average_with_ema(ema_momentum, validation_images):
    # Keras starts the average at the weights after the first step (~lr from the start, Adam's
    # first step) and a momentum this close to 1 keeps it there, while the weights themselves
    # travel ~lr per step: the weights the fit keeps and returns must be the average, whether
    # EarlyStopping restores them (with validation) or the fit ends on them (without).
    import keras

    import zoo

    likelihood = load_likelihood_script()
    rng = np.random.default_rng(0)
    data = types.SimpleNamespace(x_train=(rng.random((256, 28, 28, 1)) < 0.3).astype("float32"),
                                 x_valid=(rng.random((validation_images, 28, 28, 1)) < 0.3).astype("float32"))
    keras.utils.set_random_seed(0)
    model = zoo.presets.get("iwae_mnist", seed=0)
    start = model.get_weights()
    args = likelihood.parse_args(["--model", "iwae_mnist", "--lr-decay", "exponential"])  # every option's default
    args.ema_momentum = ema_momentum
    lr = 1e-2
    facts = likelihood.fit_for_budget(model, data, args, batch_size=32, minutes=1e-4, lr=lr, decay_decades=0.0)
    assert facts["epochs"] == 1 and facts["ema_momentum"] == ema_momentum  # 8 steps: one epoch
    assert facts["training_images"] == 256
    assert len(facts["val_negative_elbo_by_epoch"]) == (1 if validation_images else 0)
    assert (facts["best_epoch"] is None) == (validation_images == 0)
    travelled = max(float(np.abs(after - before).max()) for after, before in zip(model.get_weights(), start))
    if ema_momentum is None:
        assert travelled > 3 * lr
    else:
        assert travelled < 1.05 * lr


@pytest.mark.parametrize("decay, decades, reached", [
    ("exponential", 1.0, 10 ** -0.75),      # 45 of 60 minutes: 10^(−0.75)
    ("linear", 1.0, 1 - 0.9 * 0.75),        # a line from 1 to 0.1: 0.325 at 3/4
    ("linear", float("inf"), 0.25),         # a line to zero: 1/4 left at 3/4
])
def test_the_warm_start_and_second_phase_split_one_schedule(decay, decades, reached):
    likelihood = load_likelihood_script()
    args = likelihood.build_parser().parse_args(
        ["--model", "iwae_mnist_2layer", "--minutes", "60", "--warm-start-minutes", "45", "--lr", "1e-3",
         "--lr-decay", decay, "--decay-decades", str(decades)])
    (warm_minutes, warm_lr, warm_decades), (minutes, lr, rest) = likelihood.phase_schedules(args)
    assert (warm_minutes, warm_lr, minutes) == (45, 1e-3, 15)
    assert 10 ** -warm_decades == pytest.approx(reached) and lr == pytest.approx(1e-3 * reached)
    # The second phase ends where the whole schedule does: 10^−d of lr₀ (zero for inf).
    assert warm_decades + rest == pytest.approx(decades)
    import zoo

    whole = zoo.TimeBudget(3600, decay_decades=decades, decay=decay)
    part = zoo.TimeBudget(warm_minutes * 60, decay_decades=warm_decades, decay=decay)
    for fraction in (0.2, 0.5, 1.0):  # the first phase follows the whole schedule's curve
        assert part.multiplier(fraction) == pytest.approx(whole.multiplier(0.75 * fraction))


@pytest.mark.parametrize("arguments, decay, decades", [
    ([], "linear", float("inf")),                              # the default: a straight line to zero
    (["--lr-decay", "exponential"], "exponential", 1.0),      # the paper's 10x, compressed
    (["--decay-decades", "2"], "linear", 2.0),                # a line from 1 to 0.01
    (["--lr-decay", "exponential", "--decay-decades", "0.5"], "exponential", 0.5),
])
def test_the_learning_rate_decay_defaults_follow_its_shape(arguments, decay, decades):
    likelihood = load_likelihood_script()
    args = likelihood.parse_args(["--model", "iwae_mnist", *arguments])
    assert (args.lr_decay, args.decay_decades) == (decay, decades)


@pytest.mark.once
@pytest.mark.parametrize("arguments, message", [
    (["--model", "iwae_mnist_k50", "--minutes", "5", "--warm-start-minutes", "5"], "less than --minutes"),
    (["--model", "grey", "--minutes", "5", "--warm-start-minutes", "1"], "MNIST presets"),
    (["--model", "iwae_mnist_k5", "--warm-start-minutes", "1", "--warm-start-k", "0"], "--warm-start-k >= 1"),
    (["--model", "iwae_mnist_2layer", "--kl-warmup-steps", "-1"], "--kl-warmup-steps and --lr-warmup-epochs must be >= 0"),
    (["--model", "iwae_mnist_2layer", "--lr-warmup-epochs", "-1"], "--kl-warmup-steps and --lr-warmup-epochs must be >= 0"),
    (["--model", "iwae_mnist_2layer", "--adam-epsilon", "0"], "--adam-epsilon must be > 0"),
    (["--model", "iwae_mnist_2layer", "--restart-lr", "1e-3"], "needs --warm-start-minutes"),
    (["--model", "iwae_mnist_2layer", "--warm-start-minutes", "1", "--restart-lr", "0"], "--restart-lr must be > 0"),
    (["--model", "iwae_mnist", "--ema-momentum", "1"], "--ema-momentum must be in"),
    (["--model", "iwae_mnist", "--dynamic-binarization", "--validation-fraction", "1"], r"--validation-fraction must be in \[0, 1\)"),
    (["--model", "grey", "--validation-fraction", "-0.1"], r"--validation-fraction must be in \[0, 1\)"),
    (["--model", "iwae_mnist", "--validation-fraction", "0"], "static MNIST's protocol uses its official validation file"),
    (["--model", "vampprior_mnist", "--log-var-clip", "hard"], "--log-var-clip takes CLIP:LOW,HIGH"),
    (["--model", "grey", "--log-var-clip", "hard:-6,2"], "for the MNIST presets"),
    (["--model", "vampprior_mnist", "--patience-from-epoch", "-1"], "--patience-from-epoch >= 0"),
    (["--model", "grey", "--save-preset", "somewhere"], "--save-preset applies to the MNIST presets"),
    (["--model", "grey", "--resume"], "--resume applies to the MNIST presets"),
    (["--model", "grey", "--model-option", "k=2"], "--model-option applies to the MNIST presets"),
    (["--model", "ladder_mnist", "--model-option", "share_top_down"], "--model-option takes KEY=VALUE"),
    (["--model", "ladder_mnist", "--model-option", "shared=false"], "ladder_mnist has no option 'shared'; it takes .*share_top_down"),
    (["--model", "iwae_mnist", "--ema-momentum", "0.999", "--resume"], "--resume does not apply to --ema-momentum"),
    (["--model", "iwae_mnist", "--lr-decay", "exponential", "--decay-decades", "inf"], "needs --lr-decay linear"),
    (["--model", "iwae_mnist", "--decay-decades", "-1"], "--decay-decades must be >= 0"),
    (["--model", "iwae_mnist", "--batch-size", "0"], "--batch-size must be >= 1"),
    (["--model", "grey", "--kl-warmup-steps", "100"], "--kl-warmup-steps applies to the MNIST presets"),
    (["--model", "grey", "--dynamic-binarization"], "--dynamic-binarization applies to the MNIST presets"),
    (["--model", "grey", "--likelihoods", "gaussian,mse"], "takes names from discretized_logistic, gaussian"),
    (["--model", "grey", "--likelihoods", ""], "--likelihoods applies to --model grey"),
    (["--model", "iwae_mnist", "--likelihoods", "gaussian"], "--likelihoods applies to --model grey"),
])
def test_likelihood_rejects_bad_arguments(arguments, message):
    likelihood = load_likelihood_script()
    with pytest.raises(SystemExit, match=message):
        likelihood.main(arguments)


@pytest.mark.once
@needs_binarized_mnist
def test_model_options_reach_the_preset_and_name_the_run(monkeypatch):
    import zoo

    likelihood = load_likelihood_script()
    argv = ["--model", "ladder_mnist", "--model-option", "share_top_down=false",
            "--model-option", "variance_head=softplus", "--model-option", "k=2"]
    args = likelihood.parse_args(argv)
    assert likelihood.model_options(args) == {"share_top_down": False, "variance_head": "softplus", "k": 2}
    assert likelihood.run_name(args) == "ladder_mnist-k=2-share_top_down=false-variance_head=softplus"

    class Built(Exception):
        pass

    def get(name, **options):
        raise Built(name, options)

    monkeypatch.setattr(zoo.presets, "get", get)
    with pytest.raises(Built) as built:
        likelihood.main([*argv, "--max-examples", "10"])
    name, options = built.value.args
    assert name == "ladder_mnist" and options["share_top_down"] is False and options["k"] == 2


@needs_binarized_mnist
@pytest.mark.skipif(BACKEND != "jax", reason="the data-parallel benchmark's smoke run goes on one backend (JAX)")
def test_data_parallel_smoke(tmp_path):
    # Odd sizes on 1 and 2 devices: both runs train and score, and score alike.
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "data_parallel.py"), "--devices", "1,2", "--examples", "301",
         "--batch-size", "31", "--epochs", "1", "--test-examples", "51", "--k", "3", "--results-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = json.loads((tmp_path / "data-parallel-jax.json").read_text())["rows"]
    assert [row["devices"] for row in rows] == [1, 2] and all(row["examples_per_s"] > 0 for row in rows)
    np.testing.assert_allclose(rows[1]["elbo_bits_per_dim"], rows[0]["elbo_bits_per_dim"], rtol=1e-4)


@pytest.mark.once
@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity on this OS")
def test_a_run_records_the_cpus_it_may_use_not_the_machines():
    # A run under `taskset -c 0` on a 2-core machine used one core; its card said 2.
    likelihood = load_likelihood_script()
    allowed = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {min(allowed)})
        assert likelihood.environment(BACKEND)["cpus"] == 1
    finally:
        os.sched_setaffinity(0, allowed)
    assert likelihood.environment(BACKEND)["cpus"] == len(allowed)
