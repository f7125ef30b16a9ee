"""The Likelihood base: the Keras-loss form, save/load, cross-backend numbers, shape errors."""

import json

import numpy as np
import pytest
import keras

import losses
from tests.helpers import to_numpy
from tests.losses import make_reference_values
from tests.losses.cases import CASES, IDS, data_for, make, params_for


@pytest.mark.parametrize("case_index", range(len(CASES)), ids=IDS)
def test_same_numbers_on_every_backend(case_index):
    reference = json.loads(make_reference_values.PATH.read_text())["log_prob"]
    lik = make(*CASES[case_index])
    x, params = make_reference_values.inputs(lik, case_index)
    ours = to_numpy(lik.log_prob(x, params))
    assert ours.shape == (3,)
    np.testing.assert_allclose(ours, reference[IDS[case_index]], atol=1e-4, rtol=0)


def tiny_autoencoder(lik, dims=8):
    """A plain Keras model whose output is the likelihood's params."""
    inputs = keras.Input((dims,))
    hidden = keras.layers.Dense(16, activation="tanh")(inputs)
    count = lik.params_per_dim
    outputs = keras.layers.Dense(dims * count)(hidden)
    if count > 1:
        outputs = keras.layers.Reshape((dims, count))(outputs)
    return keras.Model(inputs, outputs)


@pytest.mark.parametrize("name,kwargs", CASES, ids=IDS)
def test_trains_as_a_keras_loss_and_survives_save_load(name, kwargs, tmp_path):
    lik = make(name, kwargs)
    x = data_for(lik, (64, 8), np.random.default_rng(0))
    model = tiny_autoencoder(lik)
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss=lik)
    before = model.evaluate(x, x, batch_size=len(x), verbose=0)
    history = model.fit(x, x, epochs=15, batch_size=16, verbose=0)
    after = model.evaluate(x, x, batch_size=len(x), verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert after < before
    # The loss value is the mean per-example negative log-likelihood (one batch, so
    # sigma_vae's batch σ is the same here and below).
    expected = -to_numpy(lik.log_prob(x, model.predict(x, verbose=0))).mean()
    assert after == pytest.approx(expected, rel=1e-4, abs=1e-4)

    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.loss) is type(lik) and loaded.loss.get_config() == lik.get_config()
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))
    assert loaded.evaluate(x, x, batch_size=len(x), verbose=0) == pytest.approx(after, rel=1e-6)


@pytest.mark.parametrize("name,kwargs", CASES, ids=IDS)
def test_config_round_trip(name, kwargs):
    lik = make(name, kwargs)
    config = keras.saving.serialize_keras_object(lik)
    again = keras.saving.deserialize_keras_object(config)
    assert type(again) is type(lik) and again.get_config() == lik.get_config()
    assert losses.get(config).get_config() == lik.get_config()


@pytest.mark.parametrize("name,kwargs", CASES, ids=IDS)
def test_interface(name, kwargs):
    lik = make(name, kwargs)
    rng = np.random.default_rng(1)
    params = params_for(lik, (4, 3, 2), rng)
    mean = to_numpy(lik.mean(params))
    assert mean.shape == (4, 3, 2) and np.isfinite(mean).all()
    if name != "sigma_vae":
        sample = to_numpy(lik.sample(params, seed=keras.random.SeedGenerator(0)))
        assert sample.shape == (4, 3, 2) and np.isfinite(sample).all()
    assert isinstance(lik, keras.losses.Loss)
    assert lik.is_discrete == (lik.levels is not None)
    assert set(lik.initial_params) == set(lik.param_names)
    assert set(lik.shared_param_names) <= set(lik.param_names)
    lik.check_data(data_for(lik, (4, 3), rng))


@pytest.mark.parametrize("name,kwargs", CASES, ids=IDS)
def test_params_with_the_wrong_channels_say_what_fits(name, kwargs):
    lik = make(name, kwargs)
    x = data_for(lik, (2, 5), np.random.default_rng(0))
    wrong = np.zeros((2, 5, lik.params_per_dim + 1), "float32")
    with pytest.raises(ValueError, match=r"params must have shape"):
        lik.log_prob(x, wrong)
    with pytest.raises(ValueError, match=r"do not fit data of shape"):
        lik.log_prob(x, np.zeros((2, 4) + wrong.shape[2:-1], "float32"))


@pytest.mark.parametrize("name,kwargs", CASES, ids=IDS)
def test_data_broadcasts_against_leading_sample_axes(name, kwargs):
    lik = make(name, kwargs)
    rng = np.random.default_rng(2)
    x = data_for(lik, (4, 3, 2), rng)
    params = params_for(lik, (5, 4, 3, 2), rng)  # 5 samples of params per example
    ours = to_numpy(lik.log_prob(x, params))
    tiled = to_numpy(lik.log_prob(np.concatenate([x] * 5), params.reshape((20,) + params.shape[2:])))
    assert ours.shape == (5, 4)
    np.testing.assert_allclose(ours, tiled.reshape(5, 4), rtol=1e-5, atol=1e-5)


def test_nan_and_empty_data_are_reported():
    with pytest.raises(losses.DataError, match="NaN"):
        losses.Gaussian().check_data(np.array([[0.1, np.inf]]))
    with pytest.raises(losses.DataError, match="empty"):
        losses.Gaussian().check_data(np.zeros((0, 3)))


@pytest.mark.parametrize("draw, reference", [
    (losses.base.random_normal, keras.random.normal),
    (losses.base.random_uniform, keras.random.uniform),
], ids=["normal", "uniform"])
def test_random_draws_are_keras_own_numbers(draw, reference):
    # Same seed, same stream, step after step (the generator moves on alike).
    ours_seed, keras_seed = keras.random.SeedGenerator(42), keras.random.SeedGenerator(42)
    for _ in range(2):
        np.testing.assert_array_equal(to_numpy(draw((64, 5), seed=ours_seed)),
                                      to_numpy(reference((64, 5), seed=keras_seed)))
    assert to_numpy(draw((3,), seed=7)).shape == (3,)  # plain int seeds go to keras.random


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow's graph and XLA paths")
@pytest.mark.parametrize("jit_compile", [False, True], ids=["graph", "xla"])
def test_random_draws_match_keras_inside_a_compiled_tensorflow_function(jit_compile):
    import tensorflow as tf

    def both():
        return (losses.base.random_normal((128, 50), seed=ours_seed),
                keras.random.normal((128, 50), seed=keras_seed))

    ours_seed, keras_seed = keras.random.SeedGenerator(3), keras.random.SeedGenerator(3)
    ours, theirs = tf.function(both, jit_compile=jit_compile)()
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="torch.compile's path")
@pytest.mark.parametrize("draw", [losses.base.random_normal, losses.base.random_uniform],
                         ids=["normal", "uniform"])
def test_random_draws_stay_inside_a_torch_compiled_graph(draw):
    import torch

    seed = keras.random.SeedGenerator(5)
    # fullgraph: keras.random's own draw (a fresh torch.Generator per call) would split the
    # graph, which raises here instead.
    compiled = torch.compile(lambda: draw((20000,), seed=seed) * 1.0, backend="eager", fullgraph=True)
    torch.manual_seed(0)
    first = to_numpy(compiled())
    torch.manual_seed(0)
    np.testing.assert_array_equal(to_numpy(compiled()), first)  # reproducible from torch's seed
    assert first.dtype == np.float32 and first.shape == (20000,)
    if draw is losses.base.random_normal:
        assert abs(first.mean()) < 0.05 and abs(first.std() - 1.0) < 0.05
    else:
        assert first.min() >= 0.0 and first.max() < 1.0 and abs(first.mean() - 0.5) < 0.02


def test_softplus_and_log_sigmoid_are_exact_and_finite_everywhere():
    from losses.base import log_sigmoid, softplus

    x = np.array([-1e4, -100.0, -20.0, -1.0, 0.0, 1e-8, 1.0, 20.0, 100.0, 1e4], "float32")
    reference = np.logaddexp(0.0, x.astype("float64"))
    np.testing.assert_allclose(to_numpy(softplus(keras.ops.convert_to_tensor(x))), reference, rtol=1e-6, atol=1e-30)
    np.testing.assert_allclose(to_numpy(log_sigmoid(keras.ops.convert_to_tensor(x))), -np.logaddexp(0.0, -x.astype("float64")),
                               rtol=1e-6, atol=1e-30)


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="the written-out softplus is JAX's only")
def test_the_written_out_softplus_has_the_sigmoid_as_gradient_at_zero_too():
    import jax

    from losses.base import log_sigmoid, softplus

    x = jax.numpy.array([-30.0, -1.0, 0.0, 1.0, 30.0])
    np.testing.assert_allclose(jax.vmap(jax.grad(softplus))(x), jax.nn.sigmoid(x), atol=1e-7)
    np.testing.assert_allclose(jax.vmap(jax.grad(log_sigmoid))(x), jax.nn.sigmoid(-x), atol=1e-7)
