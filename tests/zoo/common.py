"""The checks every zoo model goes through (one helper; each model test calls it)."""

import numpy as np
import keras
from sklearn.datasets import load_digits

from tests.helpers import to_numpy

METRICS = {"loss", "elbo", "reconstruction", "kl", "bits_per_dim"}


def digits(n=256, binary=True):
    """scikit-learn's bundled 8×8 digits: binarized, or on their 17 levels k/16."""
    images = load_digits().images[:n].astype("float32") / 16.0
    x = (images > 0.5).astype("float32") if binary else images
    return x[..., None]


def digit_labels(n=256):
    return load_digits().target[:n]


def run_model_checks(make_model, x, tmp_path, inputs=None, fit_args=(), epochs=8):
    """Build, fit a few steps (loss must drop), metric names, reproducibility, .keras round trip.

    ``make_model()`` builds a fresh model; ``inputs`` is what predict takes (default x).
    """
    inputs = x if inputs is None else inputs
    model = make_model()
    assert model.built and model.count_params() > 0
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    before = model.evaluate(*(fit_args or (x,)), batch_size=len(x), verbose=0, return_dict=True)
    history = model.fit(*(fit_args or (x,)), epochs=epochs, batch_size=32, verbose=0).history
    after = model.evaluate(*(fit_args or (x,)), batch_size=len(x), verbose=0, return_dict=True)
    assert METRICS <= set(history) and METRICS <= set(after), sorted(history)
    assert all(np.isfinite(v).all() for v in history.values())
    assert after["loss"] < before["loss"] - 1.0, (before, after)
    # Per example, in nats: bits/dim is −elbo / (D ln 2).
    np.testing.assert_allclose(after["bits_per_dim"], -after["elbo"] / (model.num_dims * np.log(2)), rtol=1e-4)

    prediction = to_numpy(model.predict(inputs, verbose=0))
    assert prediction.shape == (len(x),) + model.data_shape

    path = tmp_path / f"{model.name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is type(model) and loaded.get_config() == model.get_config()
    np.testing.assert_array_equal(to_numpy(loaded.predict(inputs, verbose=0)), prediction)
    return model, history


def fit_history(make_model, x, seed, epochs=2, fit_args=()):
    keras.utils.set_random_seed(seed)
    model = make_model()
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    return model.fit(*(fit_args or (x,)), epochs=epochs, batch_size=32, shuffle=False, verbose=0).history


def elbo_mean(model, x, repeats=10):
    """The evaluated ELBO (β = 1; the model's bound), averaged over ``repeats`` draws."""
    return float(np.mean([model.evaluate(x, batch_size=len(x), verbose=0, return_dict=True)["elbo"]
                          for _ in range(repeats)]))


def fingerprint(model, x):
    """Deterministic outputs of a model on ``x``, for comparisons across reloads and backends:
    the reconstruction, q's Gaussian, the decoder and the prior at fixed z, and the flow at a
    fixed z_0 (every random draw excluded)."""
    from keras import ops

    rng = np.random.default_rng(0)
    z = rng.normal(size=(4, model.latent_dim)).astype("float32")
    params = model.posterior_params(x[:4])
    z0 = rng.normal(size=(4, model.posterior_dim)).astype("float32")
    flowed, log_det = model.posterior.transform(ops.convert_to_tensor(z0), params)
    mean, log_var = model.encode(x[:4])
    return {
        "reconstruction": to_numpy(model.predict(x, verbose=0)),
        "z_mean": to_numpy(mean), "z_log_var": to_numpy(log_var),
        "decoded": to_numpy(model.decode(z)),
        "log_prior": to_numpy(model.prior.log_prob(ops.convert_to_tensor(z), model.encode)),
        "flowed": to_numpy(flowed), "log_det": to_numpy(log_det),
    }


def run_family_checks(make_model, x, tmp_path, epochs=8):
    """Every check a model family gets (one line per family in its test): ``run_model_checks``
    (build, fit, metrics, .keras round trip), identical deterministic outputs after reloading,
    and on the trained model an importance-sampled log-likelihood above the ELBO that grows
    with k (within the estimates' noise). Returns the trained model."""
    model, _ = run_model_checks(make_model, x, tmp_path, epochs=epochs)
    path = tmp_path / "family.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    for key, value in fingerprint(model, x).items():
        np.testing.assert_array_equal(fingerprint(reloaded, x)[key], value, err_msg=key)

    import zoo

    elbo = elbo_mean(model, x)
    ll = {k: zoo.log_likelihood(model, x, num_samples=k).mean() for k in (1, 20, 400)}
    if model.num_samples == 1 or model.bound != "iwae":  # the logged elbo is the plain ELBO, IS at k = 1
        assert abs(ll[1] - elbo) < 1.0, (ll, elbo)
    # Increasing in k, as far as one estimate can show it: above the (averaged) ELBO at k = 20;
    # from k = 20 to 400 a well-fit toy model gains ~0.01 nats, about the noise of one k = 20
    # estimate (0.01-0.02 here), so that step allows 0.05 nats of noise.
    assert elbo < ll[20] and ll[400] > max(elbo, ll[20] - 0.05) and ll[400] < 0, (elbo, ll)
    return model
