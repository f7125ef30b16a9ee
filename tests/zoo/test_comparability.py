"""Every likelihood's bound is on one scale: on data from a known discrete distribution,
each is ≥ the true code length and the flexible ones approach it (DESIGN.md)."""

import math

import numpy as np
import pytest
import keras

import losses
import zoo

LEVELS, DIMS = 17, 8
GRID = np.arange(LEVELS) / (LEVELS - 1)
PMF = np.exp(-0.5 * ((GRID - 0.5) / 0.15) ** 2)
PMF /= PMF.sum()
ENTROPY_BITS = float(-(PMF * np.log2(PMF)).sum())

# likelihood, how close (bits/dim) it must come to the truth after a short fit (None: only ≥).
FAMILIES = [
    (losses.DiscretizedLogistic(levels=LEVELS), 0.08),
    (losses.Gaussian(), 0.08),
    (losses.get("sigma_vae"), 0.08),
    (losses.Logistic(), 0.08),
    (losses.Huber(alpha=1.345), 0.08),
    (losses.StudentT(df="learned"), 0.08),
    (losses.Laplace(), 0.15),
    (losses.ContinuousBernoulli(), None),
]


def sample(n, rng):
    k = rng.choice(LEVELS, size=(n, DIMS), p=PMF)
    return (k / (LEVELS - 1)).astype("float32"), k


@pytest.mark.parametrize("likelihood,tolerance", FAMILIES, ids=[f[0].name for f in FAMILIES])
def test_bound_is_above_the_truth_and_approaches_it(likelihood, tolerance):
    rng = np.random.default_rng(0)
    x_train, _ = sample(2048, rng)
    x_test, k_test = sample(512, rng)
    true_bits = float(-np.log2(PMF[k_test]).sum(1).mean() / DIMS)  # true code length of x_test

    keras.utils.set_random_seed(0)
    model = zoo.MLPVAE(input_shape=(DIMS,), latent_dim=2, hidden=(16,), likelihood=likelihood,
                       data_levels=LEVELS)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    model.fit(x_train, epochs=8, batch_size=64, verbose=0)
    bound_bits = zoo.bits_per_dim(model, zoo.log_likelihood(model, x_test, num_samples=50))

    assert bound_bits >= true_bits - 0.02, (bound_bits, true_bits, ENTROPY_BITS)
    if tolerance is not None:
        assert bound_bits <= true_bits + tolerance, (bound_bits, true_bits)
