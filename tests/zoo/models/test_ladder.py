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


AUTHORS_CODE = {"bottom_up": "means", "share_top_down": False, "variance_head": "softplus"}


def test_the_authors_code_options_pass_the_family_checks(tmp_path):
    # casperkaae/LVAE's run_models.py as its README runs it: only_mu_up, no shared parameters,
    # softplus variances after batch norm.
    model = run_family_checks(lambda: make(kl_warmup_steps=20, **AUTHORS_CODE), digits(), tmp_path)
    assert {key: model.get_config()[key] for key in AUTHORS_CODE} == AUTHORS_CODE


def test_the_bottom_up_pass_feeds_the_features_or_the_estimates_means():
    x = digits(5)
    for bottom_up, width in (("features", 32), ("means", 6)):
        model = make(bottom_up=bottom_up)
        model(x)
        assert model.blocks_up[0].dense_layers[0].kernel.shape[0] == width
        features, estimates = model.bottom_up(x)
        mean, _ = estimates[0]
        fed = mean if bottom_up == "means" else features[0]
        np.testing.assert_allclose(to_numpy(model.blocks_up[0](fed)), to_numpy(features[1]), rtol=1e-5, atol=1e-6)


def test_inference_has_its_own_top_down_networks_unless_shared():
    z = np.random.default_rng(1).normal(size=(5, 4)).astype("float32")
    shared, own = make(share_top_down=True), make(share_top_down=False)
    for model in (shared, own):
        model(digits(5))
    for a, b in zip(shared.prior_params(0, z), shared.top_down_params(0, z)):
        np.testing.assert_array_equal(to_numpy(a), to_numpy(b))
    assert not np.allclose(to_numpy(own.prior_params(0, z)[0]), to_numpy(own.top_down_params(0, z)[0]))
    # Its own networks: more weights, and the generative path (sampling) does not use them.
    assert own.count_params() > shared.count_params()
    before = to_numpy(own.decode(z[:, :2]))
    for layer in own.inference_heads:
        layer.kernel.assign(layer.kernel * 0.0 + 1.0)
    np.testing.assert_array_equal(to_numpy(own.decode(z[:, :2])), before)


def test_a_softplus_variance_head_is_softplus_plus_its_floor():
    model = make(variance_head="softplus", batch_norm=False)
    model(digits(5))
    raw = np.linspace(-30, 10, 16, dtype="float32").reshape(2, 8)  # 2·4 outputs: mean, then variance
    mean, log_var = (to_numpy(t) for t in model._gaussian(raw))
    np.testing.assert_array_equal(mean, raw[:, :4])
    expected = np.log(np.logaddexp(0.0, raw[:, 4:].astype("float64")) + zoo.LadderVAE.SOFTPLUS_VARIANCE_FLOOR)
    np.testing.assert_allclose(log_var, expected, rtol=1e-5)
    assert log_var.min() >= np.log(zoo.LadderVAE.SOFTPLUS_VARIANCE_FLOOR) - 1e-4
    # With batch norm, each head's outputs are normalized (the authors' Dense → BN → softplus).
    normed = make(variance_head="softplus")
    normed(digits(5))
    assert len(normed.estimate_norms) == len(normed.prior_norms) == 2


@pytest.mark.parametrize("options, message", [
    ({"bottom_up": "mean"}, "`bottom_up` must be one of 'features', 'means'"),
    ({"variance_head": "exp"}, "`variance_head` must be one of 'log_var', 'softplus'"),
    ({"share_top_down": "no"}, "`share_top_down` must be True or False"),
])
def test_bad_options_are_named(options, message):
    with pytest.raises(ValueError, match=message):
        make(**options)
