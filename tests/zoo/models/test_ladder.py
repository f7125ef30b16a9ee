"""The Ladder VAE (zoo/models/ladder.py): any number of layers, precision-weighted inference."""

import numpy as np
import pytest
from scipy import stats

import zoo
from zoo.models.ladder import precision_weighted
from tests.helpers import to_numpy
from tests.zoo.common import digits, run_family_checks


def make(latent_dims=(6, 4, 2), hidden=(32, 16, 8), **kwargs):
    return zoo.LadderVAE(input_shape=(8, 8, 1), latent_dims=latent_dims, hidden=hidden, **kwargs)


def test_ladder_passes_the_family_checks(tmp_path):
    model = run_family_checks(lambda: make(kl_warmup_steps=20), digits(), tmp_path)
    assert to_numpy(model.sample(4)).shape == (4, 8, 8, 1)


@pytest.mark.parametrize("layers", [1, 2, 4])
def test_any_number_of_stochastic_layers(layers):
    model = make(latent_dims=(4,) * layers, hidden=(16,) * layers, batch_norm=False)
    latents, log_q, _, _ = model.sample_posterior(digits(5), 3)
    assert len(latents) == layers and all(tuple(z.shape) == (15, 4) for z in latents)
    assert to_numpy(log_q).shape == (15,)
    assert np.isfinite(to_numpy(model.objective(digits(5))["elbo"])).all()


def test_precision_weighting_is_the_normalized_product_of_the_gaussians():
    rng = np.random.default_rng(0)
    mean_a, mean_b = rng.normal(size=(2, 5)).astype("float32")
    log_var_a, log_var_b = rng.uniform(-3, 2, size=(2, 5)).astype("float32")
    mean, log_var = (to_numpy(t) for t in precision_weighted(mean_a, log_var_a, mean_b, log_var_b))
    grid = np.linspace(-8, 8, 20001)[:, None]
    product = stats.norm.pdf(grid, mean_a, np.exp(0.5 * log_var_a)) * stats.norm.pdf(grid, mean_b, np.exp(0.5 * log_var_b))
    product /= product.sum(0) * (grid[1] - grid[0])
    np.testing.assert_allclose(mean, (grid * product).sum(0) * (grid[1] - grid[0]), atol=1e-4)
    np.testing.assert_allclose(np.exp(log_var), ((grid - mean) ** 2 * product).sum(0) * (grid[1] - grid[0]), rtol=1e-3)


def test_bad_shapes_are_named():
    with pytest.raises(ValueError, match="one `hidden` width per stochastic layer"):
        make(latent_dims=(4, 2), hidden=(8,))
    with pytest.raises(ValueError, match="latent_dims"):
        make(latent_dim=7)
    with pytest.raises(ValueError, match="`latent_dims entries` must be a positive integer"):
        make(latent_dims=(4, 0), hidden=(8, 8))
