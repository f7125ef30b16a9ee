import warnings
import zipfile

import h5py
import numpy as np
import pytest
import keras
from scipy import special

import zoo
import zoo.training.torch_graph
from zoo import evaluation
from tests.helpers import to_numpy
from tests.zoo.common import digits


@pytest.fixture(scope="module")
def trained():
    keras.utils.set_random_seed(0)
    x = digits(128)
    model = zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=4, hidden=(32,))
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    model.fit(x, epochs=10, batch_size=32, verbose=0)
    return model, x


def test_importance_sampling_bounds_the_elbo_and_tightens_with_k(trained):
    model, x = trained
    elbo = np.mean([model.evaluate(x, batch_size=len(x), verbose=0, return_dict=True)["elbo"]
                    for _ in range(20)])
    ll = {k: zoo.log_likelihood(model, x, num_samples=k).mean() for k in (1, 10, 300)}
    assert abs(ll[1] - elbo) < 0.5  # k = 1 is the ELBO (both are noisy estimates)
    assert elbo < ll[10] < ll[300] < 0


def test_chunking_does_not_change_the_estimate(trained):
    model, x = trained
    a = zoo.log_likelihood(model, x[:16], num_samples=400, batch_size=16, max_decodes=100000)
    b = zoo.log_likelihood(model, x[:16], num_samples=400, batch_size=4, max_decodes=40)
    # Independent estimates of the same quantity: close per example, closer on average.
    np.testing.assert_allclose(a, b, atol=0.75)
    assert abs(a.mean() - b.mean()) < 0.15
    assert a.shape == (16,) and a.dtype == np.float64


def test_active_units_and_kl_per_dim(trained):
    model, x = trained
    count, variances = zoo.active_units(model, x)
    assert variances.shape == (4,) and count == int(np.sum(variances > 1e-2))
    assert zoo.active_unit_counts(model, x) == {"active_units": count}  # one stochastic layer
    kl = zoo.kl_per_dim(model, x)
    assert kl.shape == (4,) and np.all(kl >= 0)
    assert zoo.bits_per_dim(model, np.full(3, -64 * np.log(2))) == pytest.approx(1.0)


def test_bad_arguments(trained):
    model, x = trained
    with pytest.raises(ValueError, match="num_samples"):
        zoo.log_likelihood(model, x, num_samples=0)
    with pytest.raises(ValueError, match="two stochastic layers"):
        zoo.active_units(model, x, layer="h1")  # a one-layer model has no h1
    with pytest.raises(ValueError, match="`layer` must be None"):
        zoo.posterior_means(model, x, layer="h2")


def test_every_predict_step_sees_one_batch_shape(trained):
    model, x = trained

    batch_sizes = []

    def posterior_mean(vae, inputs):
        batch_sizes.append(inputs.shape[0])  # at trace time (TF, JAX) or every step (PyTorch)
        return vae.encode(inputs)[0]

    means = evaluation._predict(model, posterior_mean, x[:10], batch_size=4)
    assert set(batch_sizes) == {4}  # 10 examples: 4 + 4 + 2, the short batch padded to 4
    np.testing.assert_allclose(means, zoo.posterior_means(model, x[:10], batch_size=10), atol=1e-5)
    assert zoo.posterior_means(model, x[:3], batch_size=256).shape == (3, 4)


def _saved_entries(model, path):
    """Every group and dataset in the weights file of ``model.save(path)``."""
    model.save(path)
    names = []
    with zipfile.ZipFile(path) as archive, archive.open("model.weights.h5") as file:
        h5py.File(file, "r").visit(names.append)
    return names


def test_each_quantity_compiles_once_per_model_reads_current_weights_and_is_not_saved(tmp_path):
    keras.utils.set_random_seed(1)
    x = digits(16)
    model = zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=3, hidden=(8,))
    weights, saved = len(model.weights), _saved_entries(model, tmp_path / "before.keras")
    for _ in range(2):
        zoo.posterior_means(model, x)
        zoo.log_likelihood(model, x, num_samples=3)
    functions = model._evaluation_functions.functions
    assert len(functions) == 2  # posterior means; log weights at k = 3
    steps = {key: f.predict_function for key, f in functions.items()}
    zoo.log_likelihood(model, x, num_samples=5)
    assert len(functions) == 3 and all(functions[key].predict_function is step
                                       for key, step in steps.items())

    # The cached step is not a snapshot: it sees weights set after it was compiled.
    model.posterior.kernel.assign(np.zeros(model.posterior.kernel.shape))
    model.posterior.bias.assign(np.full(model.posterior.bias.shape, 0.5))
    np.testing.assert_allclose(zoo.posterior_means(model, x), 0.5)

    # Neither a weight nor a part of the saved model.
    assert len(model.weights) == weights
    assert _saved_entries(model, tmp_path / "after.keras") == saved
    reloaded = keras.saving.load_model(tmp_path / "after.keras")
    np.testing.assert_allclose(zoo.posterior_means(reloaded, x), 0.5)


# -- importance sampling against the exact log p(x) ------------------------------------------
# With a 2-D latent, log p(x) = log ∫ p(x|z) p(z) dz is a sum over a grid. Binary vectors of 8
# dimensions in two clusters; the estimate at k = 4,096 must match it for every prior ×
# posterior, at the default step (16 examples × 4,096 samples = 65,536 rows, past the 32,768
# where jaxlib 0.10.2's miscompile began: +1.17 nats) and at 4 examples a step (16,384 rows).
PRIORS = {"standard_normal": lambda: "standard_normal",
          "mog": lambda: zoo.priors.MixtureOfGaussians(num_components=5),
          "vampprior": lambda: zoo.priors.VampPrior(num_components=5)}
POSTERIORS = {"gaussian": lambda: "gaussian",
              "planar": lambda: zoo.posteriors.Planar(num_steps=4),
              "iaf": lambda: zoo.posteriors.IAF(num_steps=2, hidden=(16,))}


def two_clusters(n=256):
    rng = np.random.default_rng(0)
    x = (rng.random((n, 8)) < np.array([.1, .9, .3, .7, .5, .2, .8, .6])).astype("float32")
    x[: n // 2, :4] = 1 - x[: n // 2, :4]
    return x


def exact_log_px(model, x, half_width=7.0, points=401):
    """log Σ_grid p(x|z) p(z) Δz over [−7, 7]², float64; p(x|z) a Bernoulli of the decoder's
    logits written in numpy, p(z) the model's prior (its density is tested in test_priors)."""
    grid = np.linspace(-half_width, half_width, points)
    z = np.stack(np.meshgrid(grid, grid, indexing="ij"), -1).reshape(-1, 2).astype("float32")
    logits = to_numpy(model.decode(z)).astype("float64")
    log_pz = to_numpy(model.prior.log_prob(keras.ops.convert_to_tensor(z), model.encode)).astype("float64")
    log_px_given_z = x.astype("float64") @ logits.T - np.logaddexp(0.0, logits).sum(axis=1)
    return special.logsumexp(log_px_given_z + log_pz + 2 * np.log(grid[1] - grid[0]), axis=1)


@pytest.mark.parametrize("posterior", sorted(POSTERIORS))
@pytest.mark.parametrize("prior", sorted(PRIORS))
def test_importance_sampling_matches_quadrature(prior, posterior, monkeypatch):
    keras.utils.set_random_seed(0)
    x = two_clusters()
    model = zoo.MLPVAE(input_shape=(8,), latent_dim=2, hidden=(16,), prior=PRIORS[prior](),
                       posterior=POSTERIORS[posterior]())
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    model.fit(x, epochs=20, batch_size=64, verbose=0)
    x = x[::16]
    exact = exact_log_px(model, x)
    assert evaluation.importance_sampling_steps(model, len(x), 4096) == (16, 4096)
    for batch_size in (None, 4):
        estimate = zoo.log_likelihood(model, x, num_samples=4096, batch_size=batch_size)
        # Measured: means within 0.003 nats of the quadrature, single examples within 0.021.
        assert abs(estimate.mean() - exact.mean()) < 0.01, (batch_size, estimate - exact)
        np.testing.assert_allclose(estimate, exact, atol=0.06, err_msg=f"batch_size={batch_size}")
    if keras.backend.backend() == "torch":
        # A long evaluation's steps after the first few: one traced graph (zoo.training.torch_graph).
        monkeypatch.setattr(zoo.training.torch_graph, "TRACE_AFTER_STEPS", 0)
        del model._evaluation_functions.functions[(evaluation._log_weights, (("k", 4096),))]
        with warnings.catch_warnings():
            warnings.filterwarnings("error", message=".*could not be traced")
            estimate = zoo.log_likelihood(model, x, num_samples=4096, batch_size=4)
        step = model._evaluation_functions.functions[(evaluation._log_weights, (("k", 4096),))]
        assert step.predict_function.traced["graph"].runs_as == "torchscript"
        assert abs(estimate.mean() - exact.mean()) < 0.01, estimate - exact
        np.testing.assert_allclose(estimate, exact, atol=0.06, err_msg="traced")
