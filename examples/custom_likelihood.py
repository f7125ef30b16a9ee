"""Write your own likelihood as a normalized density, check it, and train a VAE with it.

    python examples/custom_likelihood.py            # the generalized Gaussian on digits
    KERAS_BACKEND=torch python examples/custom_likelihood.py --quick

The generalized Gaussian (Nadarajah 2005; scipy.stats.gennorm) has a shape β between the
Laplace (β = 1) and the Gaussian (β = 2):

    p(x | μ, σ, β) = β / (2σ·Γ(1/β)) · exp(−|(x − μ)/σ|^β).

Three steps: the log-density in keras.ops with every constant, a class that says what its
parameters are (``losses.LocationScale`` handles σ: fixed, learned or shared), and checks
that it is a density (it matches scipy and integrates to 1) before any training.
"""

import argparse
import math
import pathlib

import numpy as np
import keras
from keras import ops

import losses
from losses.base import check_positive


def generalized_gaussian_log_prob(x, loc, log_scale, shape):
    """log p = log β − log 2 − log σ − lgamma(1/β) − |(x − μ)/σ|^β; elementwise, nats."""
    z = ops.abs((x - loc) * ops.exp(-log_scale))
    return math.log(shape) - math.log(2.0) - math.lgamma(1.0 / shape) - log_scale - ops.power(z, shape)


@keras.saving.register_keras_serializable(package="examples")
class GeneralizedGaussian(losses.LocationScale):
    """Generalized Gaussian p(x | μ, σ, β); σ as in ``losses.Gaussian``, β fixed.

    Args:
        shape: β ≥ 1 (1: Laplace, 2: Gaussian with variance σ²/2).
    """

    default_name = "generalized_gaussian"

    def __init__(self, shape=1.5, **kwargs):
        self.shape = check_positive("shape", shape, "GeneralizedGaussian")
        if self.shape < 1:
            raise ValueError(f"GeneralizedGaussian: `shape` must be ≥ 1 (|z|^β has no gradient at 0 below), got {shape}.")
        super().__init__(**kwargs)

    def log_density(self, x, loc, log_scale, params):
        return generalized_gaussian_log_prob(x, loc, log_scale, self.shape)

    def standard_sample(self, shape, params, seed):
        # |Z|^β ~ Gamma(1/β, 1), with a random sign.
        magnitude = ops.power(keras.random.gamma(shape, 1.0 / self.shape, seed=seed), 1.0 / self.shape)
        sign = ops.sign(keras.random.uniform(shape, seed=seed) - 0.5)
        return sign * magnitude

    def get_config(self):
        return {**super().get_config(), "shape": self.shape}


def check_density(likelihood):
    """The density against scipy's on a grid, and its integral: before any training."""
    from scipy import integrate, stats

    def log_p(values):  # one example per value: log_prob sums over an example's one dimension
        values = np.asarray(values, "float32").reshape(-1, 1)
        return keras.ops.convert_to_numpy(likelihood.log_prob(values, np.zeros_like(values))).astype("float64")

    grid = np.linspace(-4, 4, 9)
    error = np.abs(log_p(grid) - stats.gennorm.logpdf(grid, likelihood.shape, scale=likelihood.scale)).max()
    total, _ = integrate.quad(lambda v: math.exp(log_p([v])[0]), -50, 50, points=[0.0], limit=200)
    print(f"max |log p − scipy's| = {error:.2e}, ∫ p dx = {total:.6f}")
    return error < 1e-4 and abs(total - 1) < 1e-4


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", type=float, default=1.5, help="β of the generalized Gaussian")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="a few epochs: seconds")
    args = parser.parse_args(argv)
    epochs, samples = (4, 50) if args.quick else (args.epochs, 1000)

    import zoo
    from sklearn.datasets import load_digits

    if not check_density(GeneralizedGaussian(shape=args.shape, scale=0.7)):
        print("not a normalized density: fix log_prob before training with it")
        return 1

    keras.utils.set_random_seed(0)
    x = (load_digits().images / 16.0).astype("float32")[..., None]
    train, test = x[:1500], x[1500:]
    results = {}
    for name, likelihood in (("generalized Gaussian", GeneralizedGaussian(shape=args.shape, scale="learned")),
                             ("Gaussian", losses.Gaussian(scale="learned"))):
        model = zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=8, hidden=(128,), likelihood=likelihood, data_levels=17)
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        model.fit(train, epochs=epochs, batch_size=64, verbose=0)
        log_px = zoo.log_likelihood(model, test, num_samples=samples)
        results[name] = zoo.bits_per_dim(model, log_px)
        print(f"{name:>22}: test {results[name]:.4f} bits/dim (IS, k={samples}; on the 17-level data's scale)")

    # Registered for serialization, the likelihood is saved with the model and comes back with its β.
    custom = zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=8, hidden=(128,),
                        likelihood=GeneralizedGaussian(shape=args.shape, scale="learned"), data_levels=17)
    path = pathlib.Path("examples_output/custom_likelihood.keras")
    path.parent.mkdir(parents=True, exist_ok=True)
    custom.save(path)
    reloaded = keras.saving.load_model(path)
    print(f"saved and reloaded {path}: likelihood {reloaded.likelihood!r}")
    return 0 if reloaded.likelihood.shape == args.shape else 1


if __name__ == "__main__":
    raise SystemExit(main())
