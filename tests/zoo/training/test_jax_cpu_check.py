import numpy as np
import pytest

from tests.helpers import BACKEND
from zoo.training import jax_cpu_check

pytestmark = pytest.mark.skipif(BACKEND != "jax", reason="the miscompile is XLA:CPU's, under JAX")


def test_installed_jax_computes_the_known_answer():
    p, x, expected = jax_cpu_check._known_answer()
    assert p.shape[0] * p.shape[1] > 32768  # past the size where jaxlib 0.10.2 went wrong
    jax_cpu_check._VERIFIED.clear()
    jax_cpu_check.check_reductions()
    assert jax_cpu_check._VERIFIED


def test_a_wrong_answer_stops_with_the_fix(monkeypatch):
    p, x, expected = jax_cpu_check._known_answer()
    monkeypatch.setattr(jax_cpu_check, "_known_answer", lambda: (p, x, expected + 1.0))
    monkeypatch.setattr(jax_cpu_check, "_VERIFIED", [])
    with pytest.raises(jax_cpu_check.MiscompileError) as error:
        jax_cpu_check.check_reductions()
    message = str(error.value)
    assert "jax-ml/jax#39103" in message and "jaxlib==0.10.1" in message
    assert "XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type=" in message
    assert not jax_cpu_check._VERIFIED  # checked again next time, not passed


def test_the_zoo_checks_before_it_compiles(monkeypatch):
    import zoo

    calls = []
    monkeypatch.setattr(jax_cpu_check, "_VERIFIED", [])
    monkeypatch.setattr(jax_cpu_check, "_known_answer",
                        lambda: calls.append(1) or (np.ones((1, 1)), np.ones(1), np.full((1,), 9.0)))
    model = zoo.MLPVAE(input_shape=(4,), latent_dim=2, hidden=(4,))
    model.compile(optimizer="adam")
    x = np.ones((8, 4), "float32")
    for run in (lambda: model.fit(x, verbose=0), lambda: model.evaluate(x, verbose=0),
                lambda: model.predict(x, verbose=0), lambda: zoo.log_likelihood(model, x, num_samples=2)):
        with pytest.raises(jax_cpu_check.MiscompileError):
            run()
    assert len(calls) == 4
