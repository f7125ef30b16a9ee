"""The zoo's callbacks: the time budget and its learning-rate decay (zoo/callbacks.py)."""

import time

import numpy as np
import pytest
import keras

import zoo
from tests.zoo.common import digits


def compiled(lr=1e-3):
    model = zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=3, hidden=(16,))
    model.compile(optimizer=keras.optimizers.Adam(lr))
    return model


def test_time_budget_decays_the_rate_and_stops_before_overrunning(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(time, "perf_counter", lambda: clock[0])
    budget = zoo.TimeBudget(seconds=10, decay_decades=1.0)
    model = compiled()
    budget.set_model(model)
    budget.on_train_begin()
    stopped_after = None
    for epoch in range(10):
        budget.on_epoch_begin(epoch)
        clock[0] += 3.0  # each epoch takes 3 s
        budget.on_epoch_end(epoch)
        if model.stop_training:
            stopped_after = epoch + 1
            break
    assert stopped_after == 3  # at 9 s another 3-s epoch would overrun 10 s
    np.testing.assert_allclose(budget.learning_rates, [1e-3, 1e-3 * 10**-0.3, 1e-3 * 10**-0.6], rtol=1e-5)


def test_time_budget_ends_a_real_fit():
    budget = zoo.TimeBudget(seconds=1e-3)
    history = compiled().fit(digits(32), epochs=50, verbose=0, callbacks=[budget])
    assert len(history.history["loss"]) == 1 and budget.learning_rates == pytest.approx([1e-3])


@pytest.mark.parametrize("kwargs", [{"seconds": 0}, {"seconds": float("nan")},
                                    {"seconds": 5, "decay_decades": -1}])
def test_time_budget_refuses_bad_values(kwargs):
    with pytest.raises(ValueError, match="TimeBudget"):
        zoo.TimeBudget(**kwargs)
