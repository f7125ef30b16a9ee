"""The base VAE's objective and options, on a small MLP (zoo/vae.py)."""

import math

import numpy as np
import pytest
import keras

import losses
import zoo
from losses import DataError
from tests.helpers import to_numpy
from tests.zoo.common import digits


def mlp(**kwargs):
    return zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=3, hidden=(16,), **kwargs)


def mean_terms(model, x, repeats):
    """Each objective term, per example, averaged over ``repeats`` independent draws."""
    big = np.concatenate([x] * repeats)
    terms = {k: to_numpy(v).reshape(repeats, len(x)) for k, v in model.objective(big).items()}
    return terms


def test_monte_carlo_and_analytic_elbo_agree_in_expectation():
    x = digits(8)
    analytic = mlp(kl="analytic")
    mc = mlp(kl="monte_carlo")
    mc.set_weights(analytic.get_weights())
    a = mean_terms(analytic, x, 4000)["elbo"]
    m = mean_terms(mc, x, 4000)["elbo"]
    stderr = np.sqrt(a.var(0) / len(a) + m.var(0) / len(m))
    assert np.all(np.abs(a.mean(0) - m.mean(0)) < 5 * stderr + 1e-3)
    # The analytic KL removes the KL's sampling noise.
    assert a.var(0).mean() < m.var(0).mean()


def test_iwae_bound_tightens_with_k_and_k1_is_the_elbo():
    x = digits(8)
    base = mlp(kl="monte_carlo")
    means = {}
    for k in (1, 5, 50):
        model = mlp(k=k)
        model.set_weights(base.get_weights())
        means[k] = mean_terms(model, x, 400 if k < 50 else 100)["elbo"].mean()
    vae = mean_terms(base, x, 400)["elbo"].mean()
    assert abs(means[1] - vae) < 0.05 * abs(vae) / 10
    assert means[1] < means[5] < means[50]


def test_beta_weights_the_kl_in_the_loss_only():
    x = digits(16)
    terms = {k: to_numpy(v) for k, v in mlp(beta=0.25).objective(x).items()}
    np.testing.assert_allclose(terms["loss"], terms["reconstruction"] + 0.25 * terms["kl"], rtol=1e-5)
    np.testing.assert_allclose(terms["elbo"], -(terms["reconstruction"] + terms["kl"]), rtol=1e-5)


def test_kl_warmup_ramps_from_zero_to_beta():
    x = digits(64)
    model = mlp(beta=2.0, kl_warmup_steps=4)
    model.compile(optimizer="adam")
    assert float(to_numpy(model.kl_weight())) == 0.0
    model.fit(x, epochs=1, batch_size=32, verbose=0)  # 2 steps
    assert float(to_numpy(model.kl_weight())) == pytest.approx(1.0)
    model.fit(x, epochs=2, batch_size=32, verbose=0)  # 6 steps
    assert float(to_numpy(model.kl_weight())) == pytest.approx(2.0)


def test_free_bits_floor_each_dimension():
    x = digits(32)
    model = mlp(free_bits=0.5)
    terms = {k: to_numpy(v) for k, v in model.objective(x).items()}
    per_dim = to_numpy(losses.gaussian_kl_per_dim(*model.encode(x))).mean(0)
    floor = np.maximum(per_dim, 0.5).sum()
    assert terms["loss"].mean() == pytest.approx(terms["reconstruction"].mean() + floor, rel=1e-5)
    with pytest.raises(ValueError, match="free_bits"):
        mlp(free_bits=0.5, k=5)


def test_dequantization_puts_continuous_bounds_on_the_discrete_scale():
    x = digits(16, binary=False)  # 17 levels
    model = mlp(likelihood=losses.Gaussian(scale=0.05), data_levels=17)
    target, offset = model.observe(keras.ops.convert_to_tensor(x), 3)
    target = to_numpy(target).reshape((3,) + x.shape)
    k = np.round(x * 16)
    assert np.all((target >= k / 17) & (target < (k + 1) / 17))
    assert len(np.unique(target[:, 0].reshape(3, -1)[:, 0])) == 3  # fresh noise per sample
    assert offset == pytest.approx(64 * math.log(17))
    # Discrete likelihoods score x itself.
    discrete = mlp(likelihood=losses.DiscretizedLogistic(levels=17), data_levels=17)
    params = discrete.decode(discrete.encode(x)[0])
    np.testing.assert_allclose(to_numpy(discrete._log_px(discrete.observe(x, 1), 1, params))[0],
                               to_numpy(discrete.likelihood.log_prob(x, params)), rtol=1e-6)


@pytest.mark.parametrize("likelihood", ["bernoulli", "sigma_vae"])
def test_k_samples_score_as_if_the_data_were_tiled(likelihood):
    x = digits(5, binary=likelihood == "bernoulli")
    model = mlp(likelihood=likelihood)
    z = keras.random.normal((3 * 5, 3), seed=0)  # 3 samples per example, sample-major
    params = model.decode(z)
    ours = to_numpy(model._log_px(model.observe(x, 3), 3, params))
    tiled = to_numpy(model.likelihood.log_prob(np.concatenate([x] * 3), params)).reshape(3, 5)
    np.testing.assert_allclose(ours, tiled, rtol=1e-5)


def test_discrete_likelihood_must_match_the_data_levels():
    with pytest.raises(ValueError, match="Binarize"):
        mlp(likelihood="bernoulli", data_levels=17)
    with pytest.raises(ValueError, match=r"levels=17"):
        mlp(likelihood="discretized_logistic", data_levels=17)


@pytest.mark.parametrize("kwargs,match", [
    ({"latent_dim": 0}, "latent_dim"),
    ({"latent_dim": -3}, "latent_dim"),
    ({"k": 0}, "`k`"),
    ({"beta": -1.0}, "beta"),
    ({"kl": "exact"}, "kl"),
    ({"likelihood": "mse"}, "Valid names"),
    ({"likelihood": "gaussian", "dynamic_binarization": True}, "needs the bernoulli likelihood"),
])
def test_bad_options_name_the_argument(kwargs, match):
    arguments = {"input_shape": (8, 8, 1), "latent_dim": 3, "hidden": (16,), **kwargs}
    with pytest.raises(ValueError, match=match):
        zoo.MLPVAE(**arguments)


def test_bad_data_is_reported_before_training():
    model = mlp()
    model.compile(optimizer="adam")
    x = digits(32)
    with pytest.raises(DataError, match=r"x.reshape\(-1, 8, 8, 1\)"):
        model.fit(x.reshape(32, 64), verbose=0)
    with pytest.raises(DataError, match="does not match"):
        model.fit(np.zeros((4, 7, 7, 1), "float32"), verbose=0)
    with pytest.raises(DataError, match="NaN"):
        model.fit(np.where(x > 0, np.nan, 0).astype("float32"), verbose=0)
    with pytest.raises(DataError, match="continuous_bernoulli"):
        model.fit(digits(32, binary=False), verbose=0)
    with pytest.raises(DataError, match="batch axis"):
        model.evaluate(x[0], verbose=0)
    with pytest.raises(DataError, match="NaN"):
        model.fit(x, validation_data=(np.full_like(x, np.nan),), verbose=0)
    with pytest.raises(DataError, match="Python list.*np.asarray"):
        model.fit(x.tolist(), verbose=0)


def test_dynamic_binarization_scores_fresh_binary_draws_of_grey_data():
    # Constant logits c make −log p(x|z) = D·softplus(c) − c·Σx: for a binary draw of
    # x = 0.3 everywhere, Σx is a whole number of ones, Binomial(64, 0.3) (mean 19.2).
    model = mlp(dynamic_binarization=True)
    kernel, bias = model.head.dense.weights
    kernel.assign(np.zeros(kernel.shape, "float32"))
    bias.assign(np.ones(bias.shape, "float32"))
    x = np.full((200, 8, 8, 1), 0.3, "float32")
    reconstruction = to_numpy(model(x, training=True)["reconstruction"])
    ones = 64 * math.log1p(math.e) - reconstruction  # c = 1
    np.testing.assert_allclose(ones, np.round(ones), atol=2e-3)
    assert len(np.unique(np.round(ones))) > 3  # a fresh draw per example
    assert abs(ones.mean() - 19.2) < 3 * math.sqrt(64 * 0.21 / 200)
    # Evaluation scores the data as given: it must be binary.
    assert to_numpy(model.objective(digits(4))["elbo"]).shape == (4,)


def test_dynamic_binarization_trains_on_grey_data_and_evaluates_binary_data():
    model = mlp(dynamic_binarization=True)
    model.compile(optimizer="adam")
    grey, binary = digits(64, binary=False), digits(64)
    history = model.fit(grey, validation_data=(binary,), epochs=2, verbose=0)
    assert np.isfinite(history.history["val_elbo"]).all()
    with pytest.raises(DataError, match="binarize validation and test data once"):
        model.fit(grey, validation_data=(grey,), verbose=0)
    with pytest.raises(DataError, match="zoo.datasets.binarize"):
        model.evaluate(grey, verbose=0)
    with pytest.raises(DataError, match=r"dynamic_binarization.*\[0, 1\]"):
        model.fit(grey * 16, verbose=0)
    assert zoo.MLPVAE.from_config(model.get_config()).dynamic_binarization


def test_a_nan_loss_stops_training_with_the_likely_cause():
    model = mlp(likelihood=losses.Gaussian(scale=1e-30))
    model.compile(optimizer="adam")
    with pytest.raises(FloatingPointError, match="learning rate"):
        model.fit(digits(64), epochs=3, verbose=0)


def test_sample_and_reconstruct_shapes():
    model = mlp(likelihood="continuous_bernoulli")
    assert to_numpy(model.sample(5)).shape == (5, 8, 8, 1)
    drawn = to_numpy(model.sample(5, mean=False))
    assert drawn.shape == (5, 8, 8, 1) and drawn.min() >= 0 and drawn.max() <= 1
    assert to_numpy(model.reconstruct(digits(3))).shape == (3, 8, 8, 1)


def test_integer_data_under_a_continuous_likelihood_is_flagged():
    model = mlp(likelihood="gaussian")
    model.compile(optimizer="adam")
    levels = (digits(32, binary=False) * 16).astype("uint8")  # 0…16 as integers
    with pytest.warns(UserWarning, match="data_levels=L"):
        model.fit(levels, verbose=0)
    with pytest.raises(DataError, match="divide by 255"):
        mlp(likelihood="continuous_bernoulli").fit((levels * 15).astype("uint8"), verbose=0)


@pytest.mark.parametrize("n,batch_size", [(1, 64), (5, 64), (33, 8)])
def test_tiny_data_and_batches_larger_than_the_data_train(n, batch_size):
    model = mlp()
    model.compile(optimizer="adam")
    history = model.fit(digits(n), batch_size=batch_size, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))


@pytest.mark.parametrize("images,likelihood", [
    (np.zeros((64, 8, 8, 1), "float32"), "bernoulli"),                               # all black
    (np.full((64, 8, 8, 1), 0.5, "float32"), losses.Gaussian(scale="learned")),      # constant grey
    (np.full((64, 8, 8, 1), 1.0, "float32"), losses.Laplace(scale="shared")),
    (np.full((64, 8, 8, 1), 0.5, "float32"), "sigma_vae"),                           # σ → 0 optimal
])
def test_constant_images_never_give_nan(images, likelihood):
    # σ collapses toward 0 and logits run off to −∞: soft-clipped, the loss stays finite.
    model = mlp(likelihood=likelihood)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    history = model.fit(images, epochs=30, batch_size=32, verbose=0)
    assert np.all(np.isfinite(history.history["loss"])), history.history["loss"]
    assert np.isfinite(to_numpy(model.objective(images)["elbo"])).all()


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="torch.compile (jit_compile=True on PyTorch)")
@pytest.mark.parametrize("kwargs,binary", [
    (dict(likelihood="bernoulli", dynamic_binarization=True, k=3), False),
    (dict(likelihood="gaussian", data_levels=17), False),
], ids=["dynamic-binarization-iwae", "dequantized"])
def test_torch_compiled_step_is_one_graph_up_to_the_backward_pass(kwargs, binary):
    import torch

    x = digits(64, binary=binary)
    model = mlp(**kwargs)
    model.compile(optimizer="adam")
    explained = torch._dynamo.explain(model.train_step)((keras.ops.convert_to_tensor(x),))
    # keras.random's draws would each split it (and run the Python around them eagerly).
    reasons = [reason.reason for reason in explained.break_reasons]
    assert all("backward" in reason for reason in reasons), reasons


# -- the bounds of Rainforth et al. 2018 on the same samples ----------------------------------

def same_draws(model, state):
    """Reset the model's seed generator, so the next objective draws what another one drew."""
    model.seed_generator.state.assign(state)
    return model


def bound_pair(reference_kwargs, **kwargs):
    first = mlp(**kwargs)
    second = mlp(**reference_kwargs)
    second.set_weights(first.get_weights())
    return first, second, to_numpy(first.seed_generator.state)


def test_miwae_with_one_group_is_iwae_and_ciwae_mixes_the_elbo_and_iwae():
    x = digits(8)
    miwae, iwae, state = bound_pair({"k": 4}, bound="miwae", k=4, m=1)
    np.testing.assert_allclose(to_numpy(same_draws(miwae, state).objective(x)["loss"]),
                               to_numpy(same_draws(iwae, state).objective(x)["loss"]), rtol=1e-6)
    ciwae = mlp(bound="ciwae", k=4, ciwae_beta=0.3)
    ciwae.set_weights(iwae.get_weights())
    log_px, log_ratio, _, _ = same_draws(iwae, state).log_weight_terms(x, 4)
    log_w = to_numpy(log_px - log_ratio).astype("float64")
    from scipy.special import logsumexp

    elbo, iwae_bound = log_w.mean(0), logsumexp(log_w, axis=0) - np.log(4)
    terms = same_draws(ciwae, state).objective(x)
    np.testing.assert_allclose(to_numpy(terms["loss"]), -(0.3 * elbo + 0.7 * iwae_bound), rtol=1e-5)
    np.testing.assert_allclose(to_numpy(terms["elbo"]), elbo, rtol=1e-5)  # the plain ELBO is what is logged


def test_miwae_averages_m_iwae_bounds_of_k():
    x = digits(8)
    miwae, iwae, state = bound_pair({"k": 6}, bound="miwae", k=3, m=2)
    log_px, log_ratio, _, _ = same_draws(iwae, state).log_weight_terms(x, 6)
    groups = to_numpy(log_px - log_ratio).astype("float64").reshape(2, 3, -1)
    from scipy.special import logsumexp

    expected = (logsumexp(groups, axis=1) - np.log(3)).mean(0)
    np.testing.assert_allclose(to_numpy(same_draws(miwae, state).objective(x)["loss"]), -expected, rtol=1e-5)


def test_piwae_trains_the_decoder_on_iwae_mk_and_the_encoder_on_miwae():
    from tests.helpers import variable_gradients

    x = digits(8)
    piwae, iwae, state = bound_pair({"k": 6}, bound="piwae", k=3, m=2)
    miwae = mlp(bound="miwae", k=3, m=2)
    miwae.set_weights(piwae.get_weights())

    def gradients(model, part):
        variables = (model.decoder.trainable_variables + model.head.trainable_variables if part == "generative"
                     else model.encoder.trainable_variables + model.posterior.trainable_variables)
        same_draws(model, state)
        return variable_gradients(lambda: keras.ops.mean(model.objective(x)["loss"]), variables)

    for part, reference in (("generative", iwae), ("inference", miwae)):
        for got, want in zip(gradients(piwae, part), gradients(reference, part), strict=True):
            np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-5, err_msg=part)
    # And not the other way round: the two bounds' gradients differ.
    assert not all(np.allclose(a, b, rtol=2e-4, atol=2e-5)
                   for a, b in zip(gradients(iwae, "inference"), gradients(miwae, "inference")))


@pytest.mark.parametrize("bound,kwargs", [("miwae", {"k": 3, "m": 2}), ("piwae", {"k": 3, "m": 2}),
                                          ("ciwae", {"k": 4})])
def test_each_bound_passes_the_family_checks(bound, kwargs, tmp_path):
    from tests.zoo.common import run_family_checks

    run_family_checks(lambda: mlp(bound=bound, **kwargs), digits(), tmp_path)


@pytest.mark.parametrize("kwargs,match", [
    ({"bound": "tvo"}, "`bound` must be one of"),
    ({"m": 2}, "m=2 .* applies to bound='miwae' or 'piwae'"),
    ({"bound": "ciwae", "k": 2, "ciwae_beta": 1.5}, "`ciwae_beta` must lie in"),
    ({"ciwae_beta": 0.5}, "ciwae_beta applies to bound='ciwae'"),
    ({"bound": "miwae", "m": 0}, "`m` must be a positive integer"),
    ({"kl": "exact"}, "`kl` must be one of"),
])
def test_bad_bound_options_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        mlp(**kwargs)
