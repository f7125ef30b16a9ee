"""N steps per compiled call (zoo/multistep.py): the same training as one step per call."""

import numpy as np
import pytest
import keras

import zoo
import zoo.training.multistep
from tests.zoo.common import digits

jax = pytest.importorskip("jax")
ON_JAX = keras.backend.backend() == "jax"
needs_groups = pytest.mark.skipif(keras.backend.backend() == "torch",
                                  reason="Keras' PyTorch trainer refuses steps_per_execution > 1")


def trained(steps_per_execution, x, **fit_args):
    """A model with every source of randomness in play (fresh binarization, k = 2 samples,
    KL warm-up counted in steps), fitted on one seed."""
    keras.utils.set_random_seed(7)
    model = zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=3, hidden=(16,), k=2, kl_warmup_steps=15,
                       dynamic_binarization=True)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), steps_per_execution=steps_per_execution)
    history = model.fit(x, batch_size=8, epochs=2, verbose=0, **fit_args).history
    return model, history


@needs_groups
def test_ten_steps_per_call_train_as_one_step_per_call():
    # 170 images in batches of 8: 21 full batches and one of 2, so each epoch has two full
    # groups, then a short group ending in the smaller batch; shuffled; validation on 11
    # batches (a group of 10, then 1).
    x = digits(170, binary=False)
    fit_args = dict(shuffle=True, validation_data=(digits(88),))
    one, one_history = trained(1, x, **fit_args)
    ten, ten_history = trained(10, x, **fit_args)
    assert int(ten.optimizer.iterations) == int(one.optimizer.iterations) == 2 * 22
    for a, b in zip(one.get_weights(), ten.get_weights()):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    for name, values in one_history.items():
        np.testing.assert_allclose(ten_history[name], values, rtol=1e-5, err_msg=name)


@pytest.mark.skipif(not ON_JAX, reason="the scan replaces Keras' step loop on JAX only")
def test_on_jax_full_groups_run_as_one_scan_and_the_rest_step_by_step(monkeypatch):
    stacked = []
    stack = zoo.training.multistep._stack
    monkeypatch.setattr(zoo.training.multistep, "_stack", lambda batches: stacked.append(len(batches)) or stack(batches))
    model, _ = trained(10, digits(200, binary=False))  # 25 batches an epoch: 10, 10, then 5
    assert int(model.optimizer.iterations) == 50
    assert stacked == [10, 10, 10, 10]  # the short groups never reach the stacking


@needs_groups
def test_evaluate_with_ten_steps_per_call_gives_the_metrics_of_one():
    # Evaluation samples z, and each call moves the model's seed on: compare two models
    # trained alike (the test above), each evaluated once. 11 batches: a group of 10, then 1.
    x = digits(64, binary=False)
    one, _ = trained(1, x)
    ten, _ = trained(10, x)
    one_per_call = one.evaluate(digits(88), batch_size=8, verbose=0, return_dict=True)
    ten_per_call = ten.evaluate(digits(88), batch_size=8, verbose=0, return_dict=True)
    for name, value in one_per_call.items():
        np.testing.assert_allclose(ten_per_call[name], value, rtol=1e-5, err_msg=name)


@pytest.mark.parametrize("options", [dict(steps_per_execution=1), dict(run_eagerly=True),
                                     dict(jit_compile=False)])
def test_keras_function_is_kept_where_the_scan_does_not_apply(options):
    model = zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=2, hidden=(8,))
    model.compile(optimizer="adam", **options)  # the backend's default steps_per_execution else
    keras_function = object()
    assert zoo.training.multistep.scanned(model, model.train_step, keras_function) is keras_function


def test_scanned_applies_on_jax_only():
    model = zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=2, hidden=(8,))
    model.compile(optimizer="adam")
    keras_function = object()
    wrapped = zoo.training.multistep.scanned(model, model.train_step, keras_function)
    assert (wrapped is not keras_function) == (ON_JAX and model.steps_per_execution > 1)


def test_stack_adds_a_leading_axis_and_keeps_the_structure():
    a, b = np.zeros((4, 3), "float32"), np.ones((4, 3), "float32")
    stacked = zoo.training.multistep._stack([(a, None), (b, None)])
    assert isinstance(stacked, tuple) and stacked[1] is None
    np.testing.assert_array_equal(stacked[0], np.stack([a, b]))
    on_device = zoo.training.multistep._stack([jax.numpy.asarray(a), jax.numpy.asarray(b)])
    assert isinstance(on_device, jax.Array) and on_device.shape == (2, 4, 3)


@pytest.mark.parametrize("batches", [
    [np.zeros((4, 3)), np.zeros((2, 3))],  # the last, smaller batch
    [np.zeros((4, 3)), np.zeros((4, 3), "float32")],  # dtypes differ
    [(np.zeros((4, 3)),), (np.zeros((4, 3)), np.zeros(4))],  # structures differ
    [np.zeros((4, 3)), jax.numpy.zeros((4, 3))],  # host and device arrays
    [[1.0, 2.0], [3.0, 4.0]],  # not arrays
], ids=["shapes", "dtypes", "structures", "array-types", "not-arrays"])
def test_stack_refuses_batches_that_cannot_be_one_array(batches):
    assert zoo.training.multistep._stack(batches) is None


@pytest.mark.parametrize("num_examples, batch_size, example_bytes, expected", [
    (50_000, 20, 784 * 4, 125),      # MNIST at batch 20: 2,500 steps, 20 calls an epoch
    (50_000, 128, 784 * 4, 19),      # 391 steps: at least ~1/20 of them...
    (1_437, 64, 64 * 4, 10),         # ...and never fewer than 10 per call where the epoch has them
    (100, 32, 64 * 4, 4),            # an epoch of 4 steps: one call
    (10**6, 20, 3 * 256 * 256 * 4, 4),   # 64 MB of stacked batches at most, over the 10
])
def test_steps_per_execution_follow_the_data(num_examples, batch_size, example_bytes, expected):
    assert zoo.training.multistep.steps_per_execution_for(num_examples, batch_size, example_bytes) == expected


@pytest.mark.skipif(not ON_JAX, reason="only JAX scans the steps, so only there the data sets them")
def test_on_jax_fit_at_the_default_chooses_steps_per_execution_from_the_data():
    model = zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=2, hidden=(8,))
    model.compile(optimizer="adam")
    assert model.steps_per_execution == 10
    x = digits(21 * 4 * 20)
    history = model.fit(x, batch_size=4, epochs=1, verbose=0, validation_data=(digits(40),)).history
    assert model.steps_per_execution == 21 and int(model.optimizer.iterations) == 420
    assert np.isfinite(history["val_loss"][-1])
    assert model.get_compile_config()["steps_per_execution"] is None  # still "the default" when saved
    chosen = zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=2, hidden=(8,))
    chosen.compile(optimizer="adam", steps_per_execution=3)
    chosen.fit(x, batch_size=4, epochs=1, verbose=0)
    assert chosen.steps_per_execution == 3  # the user's own choice stays
