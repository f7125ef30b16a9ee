"""zoo.training.torch_graph: on PyTorch, the train and test steps as one traced graph (run as traced at
compile()'s default, through torch.compile with jit_compile=True)."""

import warnings

import numpy as np
import pytest
import keras

import zoo
import zoo.training.torch_graph
from losses.base import torch_graph_draws
from tests.helpers import to_numpy
from tests.zoo.common import digits

on_torch = pytest.mark.skipif(keras.backend.backend() != "torch", reason="PyTorch's compiled step")


def identity(graph):
    """Run the traced graph as traced: no inductor build, and the same draws as eager."""
    return graph


def model_pair(**kwargs):
    """Two models with the same weights, compiled alike."""
    models = []
    for _ in range(2):
        keras.utils.set_random_seed(0)
        model = zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=3, hidden=(16,), **kwargs)
        model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=True)
        models.append(model)
    return models


def weights(model):
    return [to_numpy(v) for v in model.trainable_variables + model.non_trainable_variables
            + model.optimizer.variables]


@pytest.mark.parametrize("options", [dict(), dict(jit_compile="auto"), dict(jit_compile=True)],
                         ids=["defaults", "auto", "jit_compile"])
def test_the_step_is_traced_on_pytorch_at_the_defaults_and_with_jit_compile(options):
    model = zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=2, hidden=(8,))
    keras_function = object()
    if options.get("jit_compile") is True and keras.backend.backend() != "torch":
        options = dict()  # jit_compile=True means XLA elsewhere; the point is PyTorch
    model.compile(optimizer="adam", **options)
    for wrap in (zoo.training.torch_graph.compiled_train_function,
                 zoo.training.torch_graph.compiled_test_function,
                 zoo.training.torch_graph.compiled_predict_function):
        assert (wrap(model, keras_function) is keras_function) == (keras.backend.backend() != "torch")


def test_an_uncompiled_models_predict_stays_keras_own():
    # Keras' predict works before compile(): nothing says it asked for the default's trace.
    model = zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=2, hidden=(8,))
    keras_function = object()
    assert zoo.training.torch_graph.compiled_predict_function(model, keras_function) is keras_function


@pytest.mark.parametrize("options", [dict(jit_compile=False), dict(run_eagerly=True)],
                         ids=["jit_compile=False", "run_eagerly"])
def test_jit_compile_false_and_run_eagerly_keep_keras_eager_step(options):
    model = zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=2, hidden=(8,))
    keras_function = object()
    model.compile(optimizer="adam", **options)
    assert zoo.training.torch_graph.compiled_train_function(model, keras_function) is keras_function
    assert zoo.training.torch_graph.compiled_test_function(model, keras_function) is keras_function
    assert zoo.training.torch_graph.compiled_predict_function(model, keras_function) is keras_function


@on_torch
@pytest.mark.parametrize("kind", list(zoo.factory.MODELS))
def test_a_traced_predict_gives_keras_predictions(kind, monkeypatch):
    from tests.zoo.common import digit_labels

    monkeypatch.setattr(zoo.training.torch_graph, "TRACE_AFTER_STEPS", 1)
    conditional = kind == "conditional"
    x = digits(40)
    inputs = (x, digit_labels(40)) if conditional else x
    predictions = {}
    for jit_compile in ("auto", False):
        keras.utils.set_random_seed(0)
        model = zoo.factory.make_model(kind, (8, 8, 1), "bernoulli", None, latent_dim=None if kind == "ladder" else 3,
                                       num_classes=10 if conditional else None)
        model.compile(optimizer="adam", jit_compile=jit_compile)
        with warnings.catch_warnings():
            warnings.filterwarnings("error", message=".*could not be traced")
            predictions[jit_compile] = model.predict(inputs, batch_size=8, verbose=0)
        if jit_compile == "auto":  # 1 eager step, then 4 through the graph
            assert model.predict_function.traced["graph"].runs_as == "torchscript"
    assert predictions["auto"].shape == (40, 8, 8, 1)
    np.testing.assert_allclose(predictions["auto"], predictions[False], rtol=1e-5, atol=1e-6)


@on_torch
def test_the_default_runs_keras_eager_steps_before_it_traces(monkeypatch):
    import torch

    monkeypatch.setattr(zoo.training.torch_graph, "TRACE_AFTER_STEPS", 3)
    traced_steps = []
    real_step = zoo.training.torch_graph.stateless_train_step

    def counted(model, state, batch):
        traced_steps.append(1)  # runs once, while make_fx traces it
        return real_step(model, state, batch)

    monkeypatch.setattr(zoo.training.torch_graph, "stateless_train_step", counted)
    model = zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=2, hidden=(8,))
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    keras_calls = []
    keras_step = model.make_train_function()  # Keras' eager step at the default
    train = zoo.training.torch_graph.compiled_train_function(
        model, lambda data: keras_calls.append(1) or keras_step(data))
    x = torch.as_tensor(digits(32))
    before = weights(model)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # traced, no fallback
        logs = [train([(x,)]) for _ in range(6)]
    assert len(keras_calls) == 3 and len(traced_steps) == 1
    assert all(np.isfinite(to_numpy(step["loss"])) for step in logs)
    assert not all(np.array_equal(a, b) for a, b in zip(before, weights(model)))


@on_torch
def test_a_default_fit_long_enough_to_trace_learns_as_an_eager_one(monkeypatch):
    # Same seed, same data: the traced steps draw from torch's generator, the eager ones from
    # Keras' seed generators, so the runs agree in how far they get, not to the digit.
    monkeypatch.setattr(zoo.training.torch_graph, "TRACE_AFTER_STEPS", 2)
    x = digits(256)
    histories = {}
    for jit_compile in ("auto", False):
        keras.utils.set_random_seed(4)
        model = zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=3, hidden=(32,))
        model.compile(optimizer=keras.optimizers.Adam(3e-3), jit_compile=jit_compile)
        with warnings.catch_warnings():
            warnings.filterwarnings("error", message=".*could not be traced")
            histories[jit_compile] = model.fit(x, epochs=8, batch_size=32, validation_data=x,
                                               verbose=0).history
    traced, eager = histories["auto"], histories[False]
    assert traced["loss"][-1] < traced["loss"][0] - 1.0, traced["loss"]
    assert abs(traced["val_loss"][-1] - eager["val_loss"][-1]) < 0.05 * abs(eager["val_loss"][-1])


@on_torch
@pytest.mark.parametrize("kwargs", [
    dict(likelihood="bernoulli", dynamic_binarization=True, k=3, kl_warmup_steps=5),
    dict(likelihood="gaussian", data_levels=17, free_bits=0.1),
], ids=["iwae-warmup-dynamic-binarization", "dequantized-free-bits"])
@pytest.mark.parametrize("compiler", [identity, zoo.training.torch_graph._as_traced],
                         ids=["graph-module", "default-plain-function"])
def test_traced_steps_do_what_keras_steps_do(kwargs, compiler):
    import torch

    x = torch.as_tensor(digits(96, binary=False))
    traced, eager = model_pair(**kwargs)
    train = zoo.training.torch_graph.compiled_train_function(traced, None, compiler=compiler)
    test = zoo.training.torch_graph.compiled_test_function(traced, None, compiler=compiler)
    for model in (traced, eager):
        model.reset_metrics()
    torch.manual_seed(1)
    traced_logs = [train([(x[i:i + 32],)]) for i in (0, 32, 64)]
    traced_test = test([(x,)])
    torch.manual_seed(1)
    with torch_graph_draws():  # Keras' eager steps draw from torch's generator too
        eager_logs = [eager.train_step((x[i:i + 32],)) for i in (0, 32, 64)]
        with torch.no_grad():
            eager_test = eager.test_step((x,))
    for ours, theirs in zip(weights(traced), weights(eager)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    for ours, theirs in zip(traced_logs + [traced_test], eager_logs + [eager_test]):
        assert set(ours) == set(theirs) == {"loss", "elbo", "reconstruction", "kl", "bits_per_dim"}
        for name in ours:
            np.testing.assert_allclose(to_numpy(ours[name]), to_numpy(theirs[name]), rtol=1e-5)
    # The warm-up's step count (a non-trainable variable) moved on as Keras' steps move it.
    assert float(to_numpy(traced.training_steps)) == (3.0 if "kl_warmup_steps" in kwargs else 0.0)


@on_torch
def test_other_batch_shapes_run_the_eager_step(monkeypatch):
    import torch

    model, _ = model_pair()
    calls = []
    monkeypatch.setattr(model, "train_step", lambda batch: calls.append(batch[0].shape) or {})
    train = zoo.training.torch_graph.compiled_train_function(model, None, compiler=identity)
    x = torch.as_tensor(digits(40))
    train([(x[:32],)])
    assert calls == []
    train([(x[32:],)])  # the epoch's last, smaller batch: not a second compilation
    assert calls == [(8, 8, 8, 1)]


@on_torch
def test_a_step_that_cannot_be_traced_runs_through_keras_with_a_warning(monkeypatch):
    import torch

    model, _ = model_pair()

    def reads_a_value(model, state, batch):
        return float(batch[0].sum()), state  # data-dependent Python: make_fx refuses it

    monkeypatch.setattr(zoo.training.torch_graph, "stateless_train_step", reads_a_value)
    keras_calls = []
    train = zoo.training.torch_graph.compiled_train_function(model, lambda data: keras_calls.append(1) or {},
                                                    compiler=identity)
    with pytest.warns(UserWarning, match="could not be traced into one graph"):
        train([(torch.as_tensor(digits(32)),)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # said once, not per step
        train([(torch.as_tensor(digits(32)),)])
    assert keras_calls == [1, 1]


@on_torch
@pytest.mark.parametrize("kind", ["mlp", "conv", "conditional", "two_layer"])
def test_every_zoo_model_traces_into_one_graph(kind):
    import torch

    from tests.zoo.common import digit_labels

    conditional = kind == "conditional"
    model = zoo.factory.make_model(kind, (8, 8, 1), "bernoulli", None, latent_dim=3,
                                   num_classes=10 if conditional else None)
    model.compile(optimizer="adam", jit_compile=True)
    x = torch.as_tensor(digits(32))
    batch = ((x, torch.as_tensor(digit_labels(32))),) if conditional else (x,)

    def keras_function(data):
        raise AssertionError("fell back to Keras' compiled step")

    runs_as = []

    def default_compiler(graph):
        compiled = zoo.training.torch_graph._as_traced(graph)
        runs_as.append(compiled)
        return compiled

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "could not be traced"
        logs = zoo.training.torch_graph.compiled_train_function(model, keras_function,
                                                                compiler=default_compiler)([batch])
        test_logs = zoo.training.torch_graph.compiled_test_function(model, keras_function,
                                                                    compiler=default_compiler)([batch])
    assert np.isfinite(to_numpy(logs["loss"])) and np.isfinite(to_numpy(test_logs["elbo"]))
    # The default's TorchScript recording, not its Python fallbacks; except the convolutional
    # training step, whose convolution_backward TorchScript's tracer does not take.
    train_runs_as = "fallback" if kind == "conv" else "torchscript"
    assert [step.runs_as for step in runs_as] == [train_runs_as, "torchscript"]
    assert type(runs_as[0].fallback).__name__ == "function"  # the plain function, not the GraphModule


@on_torch
def test_the_plain_function_falls_back_to_the_graph_module_when_its_code_reads_the_module():
    import torch
    from torch.fx.experimental.proxy_tensor import make_fx

    class Scaled(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = torch.nn.Parameter(torch.tensor(2.0))

        def forward(self, x):
            return torch.tanh(x) * self.scale

    graph = torch.fx.symbolic_trace(Scaled())  # reads self.scale: no plain function from it
    assert zoo.training.torch_graph._as_function(graph) is None
    assert zoo.training.torch_graph._as_traced(graph).fallback is graph
    x = torch.linspace(-1, 1, 5)
    traced = make_fx(lambda x: (torch.tanh(x) * 2.0 + torch.zeros(5)).sum())(x)
    function = zoo.training.torch_graph._as_function(traced)
    assert function is not None and float(function(x)) == pytest.approx(float(traced(x)))


@on_torch
def test_the_scripted_step_records_once_leaves_inputs_and_generator_alone_and_falls_back():
    import torch

    calls = []

    def step(x, state):
        calls.append(1)
        state.add_(1.0)  # writes an input in place, as an optimizer's graph may
        return [x * 2.0 + torch.randn(3)]

    scripted = zoo.training.torch_graph.ScriptedStep(step, fallback=None)
    x, state = torch.ones(3), torch.zeros(3)
    torch.manual_seed(0)
    expected = torch.ones(3) * 2.0 + torch.randn(3)
    torch.manual_seed(0)
    (out,) = scripted(x, state)
    assert scripted.runs_as == "torchscript" and len(calls) == 1  # recorded once, on copies...
    np.testing.assert_allclose(to_numpy(out), to_numpy(expected))  # ...drawing what an unrecorded step draws
    assert float(state.sum()) == 3.0  # the real call wrote its input once
    scripted(x, state)
    assert len(calls) == 1 and float(state.sum()) == 6.0  # later calls run the recording

    def untraceable(x):
        return float(x.sum())  # TorchScript records tensors out only

    fallback = zoo.training.torch_graph.ScriptedStep(untraceable, fallback=untraceable)
    assert fallback(torch.ones(2)) == 2.0 and fallback.runs_as == "fallback"


@on_torch
def test_torch_compiled_training_runs_and_repeats_under_a_seed(monkeypatch):
    import functools

    import torch

    # Through fit, with validation. aot_eager: the traced graphs go through dynamo and
    # AOTAutograd as with jit_compile=True, without inductor's C++ build (~15 s cold), which
    # bench/throughput.py --jit-compile true exercises.
    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="aot_eager"))
    x = digits(128)

    def train():
        keras.utils.set_random_seed(3)
        model = zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=3, hidden=(16,), k=2)
        model.compile(optimizer=keras.optimizers.Adam(3e-3), jit_compile=True)
        with warnings.catch_warnings():
            warnings.filterwarnings("error", message=".*could not be traced")  # the traced steps ran
            history = model.fit(x, epochs=4, batch_size=32, validation_data=x, verbose=0).history
        return history["loss"], to_numpy(model.reconstruct(x[:4]))

    (losses_first, out_first), (losses_again, out_again) = train(), train()
    assert losses_first[-1] < losses_first[0] - 1.0, losses_first
    np.testing.assert_array_equal(losses_again, losses_first)
    np.testing.assert_array_equal(out_again, out_first)
