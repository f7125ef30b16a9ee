"""KL terms between the encoder's q(z|x) = N(μ, diag σ²) and the prior p(z) = N(0, I).

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
