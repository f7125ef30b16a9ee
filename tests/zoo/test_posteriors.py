"""Posteriors (zoo/posteriors.py): log q(z|x) of the Gaussian and of the flows, checked
against scipy, finite-difference Jacobians and a Monte-Carlo density identity."""

import numpy as np
import pytest
from scipy import stats
import keras

import zoo
from tests.helpers import to_numpy
from tests.zoo.common import digits


def model_with(posterior, latent_dim=2, scale=0.5):
    model = zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=latent_dim, hidden=(16,), posterior=posterior)
    # Random flow parameters (a fresh model's IAF starts at the identity).
    rng = np.random.default_rng(0)
    for variable in model.posterior.weights:
        variable.assign(rng.normal(scale=scale, size=variable.shape))
    return model


FLOWS = {"planar": lambda: zoo.posteriors.Planar(num_steps=5),
         "iaf": lambda: zoo.posteriors.IAF(num_steps=3, hidden=(12, 12))}


def test_gaussian_log_q_is_scipys():
    model = zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=3, hidden=(16,))
    params = model.posterior_params(digits(4))
    z, log_q, mean, log_var = model.posterior.sample(params, 5, keras.random.SeedGenerator(0))
    z, mean, log_var = (to_numpy(t).astype("float64") for t in (z, mean, log_var))
    expected = stats.norm.logpdf(z, mean, np.exp(0.5 * log_var)).sum(1)
    np.testing.assert_allclose(to_numpy(log_q), expected, rtol=1e-5)
    assert z.shape == (20, 3)


def jacobian_log_det(transform, z0):
    """log |det ∂f/∂z0| of each row by central differences, from the float32 transform."""
    eps, dims = 1e-2, z0.shape[1]
    columns = []
    for d in range(dims):
        step = np.zeros_like(z0)
        step[:, d] = eps
        columns.append((to_numpy(transform(z0 + step)).astype("float64")
                        - to_numpy(transform(z0 - step)).astype("float64")) / (2 * eps))
    jacobians = np.stack(columns, axis=2)  # (rows, out, in)
    return np.linalg.slogdet(jacobians)[1]


@pytest.mark.parametrize("flow", sorted(FLOWS))
def test_flow_log_det_matches_a_finite_difference_jacobian(flow):
    model = model_with(FLOWS[flow](), latent_dim=3)
    params = model.posterior_params(digits(6))
    z0 = np.random.default_rng(1).normal(size=(6, 3)).astype("float32")
    _, log_det = model.posterior.transform(keras.ops.convert_to_tensor(z0), params)
    expected = jacobian_log_det(lambda z: model.posterior.transform(keras.ops.convert_to_tensor(z), params)[0], z0)
    assert np.abs(expected).max() > 0.05  # the flow does something
    np.testing.assert_allclose(to_numpy(log_det), expected, atol=5e-3)


@pytest.mark.parametrize("flow", sorted(FLOWS))
def test_flow_of_k_draws_per_example_is_the_flow_of_each_row(flow):
    """``transform(z, params, k)`` takes each example's params once for its k draws (no k-fold
    copy): the same numbers as the params repeated for every row."""
    model = model_with(FLOWS[flow](), latent_dim=3)
    params = model.posterior_params(digits(4))
    z0 = keras.ops.convert_to_tensor(np.random.default_rng(2).normal(size=(5 * 4, 3)).astype("float32"))
    z, log_det = model.posterior.transform(z0, params, 5)
    z_rows, log_det_rows = model.posterior.transform(z0, zoo.posteriors.tile_samples(params, 5))
    assert tuple(z.shape) == (20, 3) and tuple(log_det.shape) == (20,)
    np.testing.assert_allclose(to_numpy(z), to_numpy(z_rows), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(to_numpy(log_det), to_numpy(log_det_rows), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("flow", sorted(FLOWS))
def test_flow_density_passes_a_monte_carlo_check(flow):
    """E_{z~q}[r(z)/q(z)] = ∫ r = 1 for any density r: a wrong log q (a constant off, a
    determinant with the wrong sign) moves the mean away from 1."""
    # Parameters that bend q (a 5-planar-step or 3-IAF-step q is visibly non-Gaussian) but keep
    # r/q bounded for a Gaussian r narrower than the samples: at larger ones the ratio's heavy
    # tail made 100,000 draws miss 1 by 4 standard errors now and then.
    model = model_with(FLOWS[flow](), latent_dim=2, scale=0.25)
    params = model.posterior_params(digits(1))
    z, log_q, _, _ = model.posterior.sample(params, 400_000, keras.random.SeedGenerator(0))
    z, log_q = to_numpy(z).astype("float64"), to_numpy(log_q).astype("float64")
    reference = stats.multivariate_normal(z.mean(0), 0.5 * np.cov(z.T))
    ratios = np.exp(reference.logpdf(z) - log_q)
    assert ratios.max() < 10  # bounded: the standard error below means something
    assert ratios.mean() == pytest.approx(1.0, abs=5 * ratios.std() / np.sqrt(len(ratios)))


def test_made_is_autoregressive():
    made = zoo.posteriors.MADE(4, hidden=(10, 10), context_dim=3)
    made.build()
    rng = np.random.default_rng(0)
    for variable in made.weights:
        variable.assign(rng.normal(size=variable.shape))
    z = rng.normal(size=(1, 4)).astype("float32")
    context = rng.normal(size=(1, 3)).astype("float32")
    base = np.concatenate([to_numpy(t) for t in made(z, context)], axis=1)
    for j in range(4):
        moved = z.copy()
        moved[0, j] += 1.0
        changed = np.concatenate([to_numpy(t) for t in made(moved, context)], axis=1) != base
        # Outputs i (of m and of s) depend on z_<i only: never on z_j for i ≤ j.
        assert not changed[0, : j + 1].any() and not changed[0, 4: 4 + j + 1].any()
        assert changed[0, j + 1: 4].all()


def test_planar_steps_stay_invertible():
    model = model_with(zoo.posteriors.Planar(num_steps=1), latent_dim=2)
    params = to_numpy(model.posterior_params(digits(64)))
    u, w = params[:, 4:6], params[:, 6:8]
    wu = (w * u).sum(1)
    u_hat = u + ((np.logaddexp(0, wu) - 1 - wu) / (w * w).sum(1))[:, None] * w
    assert np.all((w * u_hat).sum(1) >= -1 - 1e-5)


@pytest.mark.parametrize("flow", sorted(FLOWS))
def test_flows_refuse_the_analytic_kl_and_bad_steps(flow):
    with pytest.raises(ValueError, match="kl='analytic' needs a closed-form KL"):
        zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=2, hidden=(8,), posterior=flow, kl="analytic")
    model = zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=2, hidden=(8,), posterior=flow)
    assert model.kl == "auto" and not model.analytic_kl
    for bad in (0, -2, 1.5):
        with pytest.raises(ValueError, match="`num_steps` must be a positive integer"):
            zoo.posteriors.get(flow, num_steps=bad)


def test_unknown_posteriors_and_architectures_that_cannot_take_a_flow():
    with pytest.raises(ValueError, match="Unknown posterior 'realnvp'. Valid names: gaussian, iaf, planar"):
        zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=2, hidden=(8,), posterior="realnvp")
    with pytest.raises(ValueError, match="posterior='planar' does not work with this model; valid choices: gaussian"):
        zoo.LadderVAE(input_shape=(8, 8, 1), latent_dims=(4, 2), hidden=(8, 4), posterior="planar")


def test_reconstructions_push_the_base_mean_through_the_flow():
    model = model_with(FLOWS["planar"](), latent_dim=3)
    x = digits(4)
    params = model.posterior_params(x)
    z = model.posterior.transform(model.encode(x)[0], params)[0]
    expected = to_numpy(model.likelihood.mean(model.decode(z)))
    np.testing.assert_allclose(to_numpy(model.predict(x, verbose=0)), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("flow", sorted(FLOWS))
def test_each_flow_passes_the_family_checks(flow, tmp_path):
    from tests.zoo.common import run_family_checks

    run_family_checks(lambda: zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=3, hidden=(32,),
                                         posterior=FLOWS[flow]()), digits(), tmp_path)


def test_the_log_variance_clip_is_soft_by_default_and_hard_on_request():
    raw = np.array([[0.0, 0.0, 0.0, -10.0, -3.0, 5.0]], "float32")  # mean (3), log-variance (3)
    soft = zoo.posteriors.DiagonalGaussian()
    hard = zoo.posteriors.get("gaussian", log_var_range=(-6, 2), log_var_clip="hard")
    np.testing.assert_allclose(to_numpy(hard.split(keras.ops.convert_to_tensor(raw))[1]), [[-6.0, -3.0, 2.0]])
    soft_log_var = to_numpy(soft.split(keras.ops.convert_to_tensor(raw))[1])
    np.testing.assert_allclose(soft_log_var, [[-10.0, -3.0, 5.0]], atol=1e-4)  # inside (−12, 8): unchanged
    assert hard.get_config()["log_var_range"] == [-6.0, 2.0] and hard.get_config()["log_var_clip"] == "hard"


def test_a_hierarchys_every_gaussian_head_takes_the_posteriors_clip(tmp_path):
    # The VampPrior authors clip q(z2|x), q(z1|x, z2) and p(z1|z2) alike: so does HVAE.
    posterior = {"name": "gaussian", "log_var_range": (-1.0, 0.5), "log_var_clip": "hard"}
    model = zoo.presets.get("hvae_vampprior_mnist", input_shape=(8, 8, 1), latent_dim=3, hidden_dim=3,
                            hidden=(8,), prior="standard_normal", posterior=posterior, kl_warmup_steps=0)
    rng = np.random.default_rng(0)
    for variable in model.trainable_variables:  # large weights: raw log-variances far outside the range
        variable.assign(rng.normal(scale=3.0, size=variable.shape))
    x = keras.ops.convert_to_tensor(digits(16))
    z2_log_var = to_numpy(model.posterior.gaussian(model.posterior_params(x))[1])
    z1_log_var = to_numpy(model.encode_z1(model.encoder_z1_x(x), model.posterior.gaussian(model.posterior_params(x))[0])[1])
    p_log_var = to_numpy(model.prior_z1_params(keras.ops.ones((16, 3)))[1])
    for log_var in (z2_log_var, z1_log_var, p_log_var):
        assert log_var.min() == -1.0 and log_var.max() == 0.5, (log_var.min(), log_var.max())
    path = tmp_path / "h.keras"
    zoo.save_model(model, path)
    loaded = zoo.load_model(path)
    assert loaded.posterior.log_var_clip == "hard" and loaded.posterior.log_var_range == (-1.0, 0.5)
    np.testing.assert_allclose(to_numpy(loaded.prior_z1_params(keras.ops.ones((16, 3)))[1]), p_log_var)


@pytest.mark.parametrize("arguments, message", [
    ({"log_var_clip": "tanh"}, "log_var_clip must be one of soft, hard"),
    ({"log_var_range": (2, -6)}, "low < high"),
    ({"log_var_range": (-6, float("inf"))}, "two finite numbers"),
    ({"log_var_range": 2}, "two finite numbers"),
])
def test_bad_log_variance_clips_are_named(arguments, message):
    with pytest.raises(ValueError, match=message):
        zoo.posteriors.Planar(num_steps=2, **arguments)
