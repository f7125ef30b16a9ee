"""zoo.AdamNormGrad: Adam on per-tensor normalized gradients, through fit on every backend."""

import numpy as np
import pytest
import keras

import zoo
from tests.helpers import to_numpy
from tests.zoo.common import digits


def test_it_is_adam_on_each_gradient_over_its_norm():
    # Gradients whose scales differ by 10^4 between tensors and change from step to step: plain
    # Adam's moments remember the scales, the normalized ones do not.
    rng = np.random.default_rng(0)
    shapes = [(3, 4), (5,)]
    steps = [[rng.normal(size=s).astype("float32") * scale for s, scale in zip(shapes, (1e-3, 10.0))]
             for _ in range(3)]
    steps[1] = [g * 100.0 for g in steps[1]]

    def run(optimizer, transform):
        variables = [keras.Variable(np.ones(s, "float32")) for s in shapes]
        for grads in steps:
            optimizer.apply([keras.ops.convert_to_tensor(transform(g)) for g in grads], variables)
        return [to_numpy(v) for v in variables]

    normalized = run(zoo.AdamNormGrad(learning_rate=0.01), lambda g: g)
    reference = run(keras.optimizers.Adam(0.01, epsilon=1e-8), lambda g: g / (np.linalg.norm(g) + 1e-7))
    plain = run(keras.optimizers.Adam(0.01, epsilon=1e-8), lambda g: g)
    for a, b, c in zip(normalized, reference, plain):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert max(np.abs(a - c).max() for a, c in zip(normalized, plain)) > 1e-3  # the test can fail


def test_fit_hands_it_normalized_gradients_and_it_round_trips(tmp_path):
    # After one step, Adam's first moment is (1 − β₁)·ĝ: norm 0.1 for every trained tensor.
    x = digits(64)
    model = zoo.MLPVAE(input_shape=x.shape[1:], latent_dim=4, hidden=(16,), likelihood="bernoulli", seed=0)
    model.compile(optimizer=zoo.AdamNormGrad(1e-3, norm_epsilon=1e-7))
    model.fit(x, epochs=1, batch_size=64, verbose=0)
    momenta = [v for v in model.optimizer.variables if "momentum" in v.path]
    assert len(momenta) == len(model.trainable_variables)
    norms = np.array([np.linalg.norm(to_numpy(m)) for m in momenta])
    np.testing.assert_allclose(norms, 0.1, rtol=1e-4)
    path = tmp_path / "m.keras"
    zoo.save_model(model, path)
    loaded = zoo.load_model(path)
    assert type(loaded.optimizer) is zoo.AdamNormGrad and loaded.optimizer.norm_epsilon == 1e-7
    assert loaded.optimizer.get_config()["learning_rate"] == pytest.approx(1e-3)


@pytest.mark.parametrize("arguments, message", [
    ({"norm_epsilon": 0}, "norm_epsilon must be > 0"),
    ({"loss_scale_factor": 128.0}, "loss_scale_factor"),
])
def test_bad_arguments_are_named(arguments, message):
    with pytest.raises(ValueError, match=message):
        zoo.AdamNormGrad(**arguments)


def test_adam_clipped_clips_the_total_norm_then_each_element():
    rng = np.random.default_rng(1)
    shapes = [(3, 4), (5,)]
    steps = [[rng.normal(size=s).astype("float32") * 3.0 for s in shapes] for _ in range(3)]

    def clipped(grads):
        norm = np.sqrt(sum((g.astype("float64") ** 2).sum() for g in grads))
        scale = min(1.0, 4.0 / norm)
        return [np.clip(g * scale, -0.9, 0.9) for g in grads]

    def run(optimizer, transform):
        variables = [keras.Variable(np.ones(s, "float32")) for s in shapes]
        for grads in steps:
            optimizer.apply([keras.ops.convert_to_tensor(g) for g in transform(grads)], variables)
        return [to_numpy(v) for v in variables]

    got = run(zoo.AdamClipped(learning_rate=0.01), lambda grads: grads)
    want = run(keras.optimizers.Adam(0.01, epsilon=1e-4), clipped)
    plain = run(keras.optimizers.Adam(0.01, epsilon=1e-4), lambda grads: grads)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert max(np.abs(a - c).max() for a, c in zip(got, plain)) > 1e-4  # the clipping mattered


def test_adam_clipped_through_fit_round_trips(tmp_path):
    # After one step Adam's first moment is (1 − β₁)·g_clipped: no element beyond 0.1 · 0.9.
    x = digits(64)
    model = zoo.MLPVAE(input_shape=x.shape[1:], latent_dim=4, hidden=(16,), likelihood="bernoulli", seed=0)
    model.compile(optimizer=zoo.AdamClipped(1e-3, total_norm=1e6, element=1e-3))
    model.fit(x, epochs=1, batch_size=64, verbose=0)
    momenta = [to_numpy(v) for v in model.optimizer.variables if "momentum" in v.path]
    assert max(np.abs(m).max() for m in momenta) == pytest.approx(1e-4, rel=1e-4)
    zoo.save_model(model, tmp_path / "m.keras")
    loaded = zoo.load_model(tmp_path / "m.keras").optimizer
    assert type(loaded) is zoo.AdamClipped and (loaded.total_norm, loaded.element) == (1e6, 1e-3)


@pytest.mark.parametrize("arguments, message", [
    ({"total_norm": 0}, "total_norm must be a number > 0"),
    ({"element": -1.0}, "element must be a number > 0"),
    ({"loss_scale_factor": 2.0}, "loss_scale_factor"),
])
def test_adam_clipped_names_bad_arguments(arguments, message):
    with pytest.raises(ValueError, match=message):
        zoo.AdamClipped(**arguments)
