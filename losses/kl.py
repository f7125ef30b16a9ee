"""KL terms between the encoder's q(z|x) = N(μ, diag σ²) and the prior p(z) = N(0, I), and the
latent densities the priors use (diagonal Gaussians, mixtures of them).

Two estimators of the same KL(q‖p): the analytic form, and the single-sample Monte Carlo
form log q(z|x) − log p(z) used by the TensorFlow CVAE tutorial (equal in expectation).
All return shape (batch,) summed over latent dims in nats, unless named ``*_per_dim``.
"""

from keras import ops

from losses.base import LOG_2PI, sum_over_event_dims


def gaussian_kl_per_dim(z_mean, z_log_var):
    """KL(N(μ, σ²) ‖ N(0, 1)) = ½·(μ² + σ² − 1 − log σ²) per latent dimension."""
    return 0.5 * (ops.square(z_mean) + ops.exp(z_log_var) - 1.0 - z_log_var)


def gaussian_kl(z_mean, z_log_var):
    """Analytic KL(q(z|x) ‖ N(0, I)), summed over latent dims: shape (batch,), nats."""
    return sum_over_event_dims(gaussian_kl_per_dim(z_mean, z_log_var))


def diagonal_gaussian_log_prob(z, mean, log_var):
    """log N(z; μ, diag σ²) = −½·Σ[(z − μ)²/σ² + log σ² + log 2π]: shape (batch,)."""
    return -0.5 * sum_over_event_dims(
        ops.square(z - mean) * ops.exp(-log_var) + log_var + LOG_2PI
    )


def standard_normal_log_prob(z):
    """log N(z; 0, I) = −½·Σ[z² + log 2π]: shape (batch,)."""
    return -0.5 * sum_over_event_dims(ops.square(z) + LOG_2PI)


def monte_carlo_kl(z, z_mean, z_log_var):
    """Single-sample KL estimate log q(z|x) − log p(z) at z ~ q(z|x): shape (batch,)."""
    return diagonal_gaussian_log_prob(z, z_mean, z_log_var) - standard_normal_log_prob(z)


def mixture_of_gaussians_log_prob(z, means, log_vars, log_weights):
    """log Σ_k π_k·N(z; μ_k, diag σ_k²), z (n, L), means and log_vars (K, L), log π (K,): (n,).

    The quadratic forms Σ_d (z_d − μ_kd)²/σ_kd² of all n × K pairs are three matrix products
    (z², z and the μ_k/σ_k² against each other) instead of an (n, K, L) array: K = 500 VampPrior
    components over an importance-sampled evaluation's thousands of z per step. z and the μ_k
    are first centred on the mean of the μ_k, which keeps the terms that cancel small (in
    float32 the error is ~1e-7·Σ_d (z_d − c_d)²/σ_kd², e.g. < 1e-3 nats for |z − c| < 3, σ > 0.05).
    """
    means = ops.convert_to_tensor(means)
    z, log_vars, log_weights = (ops.convert_to_tensor(t, dtype=means.dtype) for t in (z, log_vars, log_weights))
    center = ops.mean(means, axis=0)
    z, means = z - center, means - center
    precision = ops.exp(-log_vars)
    quadratic = (ops.matmul(ops.square(z), ops.transpose(precision))
                 - 2.0 * ops.matmul(z, ops.transpose(means * precision))
                 + ops.sum(ops.square(means) * precision, axis=-1))
    quadratic = ops.maximum(quadratic, 0.0)  # rounding can take a near-zero form below 0
    log_normalizers = ops.sum(log_vars, axis=-1) + means.shape[-1] * LOG_2PI
    return ops.logsumexp(log_weights - 0.5 * (quadratic + log_normalizers), axis=-1)
