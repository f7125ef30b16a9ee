"""Posteriors q(z|x): the diagonal Gaussian, and flows on top of it (planar, IAF).

A posterior is the layer at the end of the encoder: it maps encoder features to q's
parameters (one dense map, ``params = features @ kernel + bias``) and draws z with its
exact log-density,

    z_0 ~ N(μ(x), diag σ²(x)),   z = f_K ∘ … ∘ f_1 (z_0),
    log q(z|x) = log N(z_0; μ, σ²) − Σ_t log |det ∂f_t/∂z_{t−1}|,

so every bound and importance-sampled log-likelihood stays exact for every family. The
diagonal Gaussian has no f_t; a flow adds its steps. Only the diagonal Gaussian has a
closed-form KL to N(0, I); a model with a flow posterior uses the Monte-Carlo KL
log q(z|x) − log p(z).

>>> zoo.MLPVAE(posterior="planar")                         # 10 planar steps
>>> zoo.MLPVAE(posterior=zoo.posteriors.IAF(num_steps=4))
"""

import numpy as np
import keras
from keras import ops

from losses.base import LOG_2PI, check_integer, check_non_negative, from_registry, random_normal, soft_clip

# Posterior log-variances are soft-clipped here by default: σ_q ∈ [e^-6, e^4] keeps exp() finite.
MIN_LOG_VAR, MAX_LOG_VAR = -12.0, 8.0
LOG_VAR_CLIPS = ("soft", "hard")


def split_gaussian(params, log_var_range=(MIN_LOG_VAR, MAX_LOG_VAR), log_var_clip="soft"):
    """(mean, log_var) from a layer's 2·n outputs, the log-variance clipped into ``log_var_range``:
    smoothly (``"soft"``, ``losses.soft_clip``) or as a hardtanh (``"hard"``: no gradient outside
    it, the VampPrior authors' code's [−6, 2])."""
    mean, log_var = ops.split(params, 2, axis=-1)
    low, high = log_var_range
    if log_var_clip == "hard":
        return mean, ops.clip(log_var, low, high)
    return mean, soft_clip(log_var, low, high)


def tile_samples(tensor, k):
    """``tensor`` (batch, ...) repeated k times, sample-major: (k·batch, ...)."""
    if k == 1:
        return tensor  # (eager PyTorch copies on tile)
    return ops.tile(tensor, (k,) + (1,) * (len(tensor.shape) - 1))


def example_major_normal(shape, samples, seed, dtype=None):
    """Standard normal draws for rows (samples·batch, n) stacked sample-major, drawn as
    (batch, samples, n): each example's draws are then the same whatever the batch's size, so
    a batch padded for data parallelism gives its real examples what the unpadded one would."""
    if samples == 1:
        return random_normal(shape, seed=seed, dtype=dtype)
    width = shape[-1]
    eps = random_normal((shape[0] // samples, samples, width), seed=seed, dtype=dtype)
    return ops.reshape(ops.transpose(eps, (1, 0, 2)), (-1, width))


def sample_diagonal_gaussian(mean, log_var, k, seed, with_log_q=True, copies=1):
    """k draws z = μ + σ·ε per example, sample-major (k·batch, n), with log N(z; μ, σ²)
    = −½·Σ(ε² + log σ² + log 2π), (k·batch,) (None unless ``with_log_q``: eager PyTorch runs
    every op it is given); also the tiled mean and log-variance. ``copies``: the rows already
    hold that many sample-major copies of each example (a lower layer, drawn once per sample)."""
    mean, log_var = tile_samples(mean, k), tile_samples(log_var, k)
    eps = example_major_normal(ops.shape(mean), k * copies, seed, mean.dtype)
    z = mean + ops.exp(0.5 * log_var) * eps
    log_q = -0.5 * ops.sum(ops.square(eps) + log_var + LOG_2PI, axis=-1) if with_log_q else None
    return z, log_q, mean, log_var


@keras.saving.register_keras_serializable(package="zoo")
class DiagonalGaussian(keras.layers.Layer):
    """q(z|x) = N(μ(x), diag σ²(x)), the usual VAE posterior, and the base of the flows.

    Its variables (``kernel``, ``bias``) are the encoder's last dense map to q's parameters:
    ``2·latent_dim`` of them, plus what a flow needs per example (``flow_param_count``).
    The model builds it: ``build(features_dim, latent_dim)``.
    """

    has_analytic_kl = True
    is_flow = False

    def __init__(self, log_var_range=(MIN_LOG_VAR, MAX_LOG_VAR), log_var_clip="soft", **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        if log_var_clip not in LOG_VAR_CLIPS:
            raise ValueError(f"{owner}: log_var_clip must be one of {', '.join(LOG_VAR_CLIPS)}, got {log_var_clip!r}.")
        try:
            low, high = (float(bound) for bound in log_var_range)
        except (TypeError, ValueError):
            low = high = None
        if low is None or not (np.isfinite(low) and np.isfinite(high) and low < high):
            raise ValueError(f"{owner}: log_var_range must be two finite numbers (low, high) with low < high, "
                             f"e.g. (-6, 2); got {log_var_range!r}.")
        self.log_var_range, self.log_var_clip = (low, high), log_var_clip

    def get_config(self):
        return {**super().get_config(), "log_var_range": list(self.log_var_range), "log_var_clip": self.log_var_clip}

    def split(self, params):
        """(mean, log_var) of a Gaussian head with this posterior's clip: the model's other
        Gaussian heads (a hierarchy's lower q and p layers) clip alike."""
        return split_gaussian(params, self.log_var_range, self.log_var_clip)

    def get_build_config(self):
        return None  # built by the model that owns it, with the model's latent size

    def flow_param_count(self, latent_dim):
        """Per-example parameters the flow takes from the encoder (after μ and log σ²)."""
        return 0

    def param_count(self, latent_dim):
        return 2 * latent_dim + self.flow_param_count(latent_dim)

    def build(self, features_dim, latent_dim):
        if self.built:  # a posterior object handed to a second model
            raise ValueError(f"{type(self).__name__}: this posterior belongs to another model already; "
                             f"pass a new one (or its name) to each model.")
        self.latent_dim = check_integer("latent_dim", latent_dim, type(self).__name__)
        count = self.param_count(self.latent_dim)
        # Named and ordered as a Dense layer's, so models saved before posteriors existed load.
        self.kernel = self.add_weight(shape=(int(features_dim), count), initializer="glorot_uniform",
                                      name="kernel")
        self.bias = self.add_weight(shape=(count,), initializer="zeros", name="bias")
        self.build_flow(self.latent_dim)

    def build_flow(self, latent_dim):
        """Create the flow's own variables (none for the Gaussian)."""

    def call(self, features):
        """q's parameters (batch, param_count) from encoder features (batch, features_dim)."""
        return ops.matmul(features, self.kernel) + self.bias

    def gaussian(self, params):
        """The base Gaussian's (mean, log_var), each (batch, latent_dim)."""
        return self.split(params[:, : 2 * self.latent_dim])

    def sample(self, params, k, seed, with_log_q=True):
        """k draws per example: z (k·batch, latent_dim), log q(z|x) (k·batch,; None unless
        ``with_log_q``), and the base Gaussian's (mean, log_var) of each draw (for the
        analytic KL)."""
        mean, log_var = self.gaussian(params)
        z, log_q, mean, log_var = sample_diagonal_gaussian(mean, log_var, k, seed, with_log_q or self.is_flow)
        if self.is_flow:
            z, log_det = self.transform(z, params, k)
            log_q = log_q - log_det
        return z, log_q, mean, log_var

    def transform(self, z, params, k=1):
        """The flow f_K ∘ … ∘ f_1 applied to z_0 (k·batch, latent_dim), k draws per example
        stacked sample-major, with ``params`` (batch, param_count) once per example:
        (z_K, Σ log |det J_t|) per row."""
        return z, ops.zeros(ops.shape(z)[:1], dtype=z.dtype)

    def point(self, params):
        """A deterministic z for reconstructions: the flow applied to the base mean."""
        mean = self.gaussian(params)[0]
        return self.transform(mean, params)[0] if self.is_flow else mean

    def describe(self):
        return "diagonal Gaussian"


@keras.saving.register_keras_serializable(package="zoo")
class Planar(DiagonalGaussian):
    """Planar flows (Rezende & Mohamed 2015): f(z) = z + û·tanh(wᵀz + b), K steps.

    Each step's u, w ∈ R^L and b ∈ R come from the encoder, per example (amortized, as in
    the paper). û = u + (m(wᵀu) − wᵀu)·w/‖w‖², m(a) = softplus(a) − 1, keeps wᵀû ≥ −1, so
    each step is invertible, and log |det ∂f/∂z| = log |1 + (1 − tanh²(wᵀz + b))·wᵀû|.

    Args:
        num_steps: K, the number of planar steps.
    """

    is_flow = True
    has_analytic_kl = False

    def __init__(self, num_steps=10, **kwargs):
        super().__init__(**kwargs)
        self.num_steps = check_integer("num_steps", num_steps, "Planar")

    def flow_param_count(self, latent_dim):
        return self.num_steps * (2 * latent_dim + 1)

    def build_flow(self, latent_dim):
        # Start every example at the same gentle flow: u = b = 0 and fixed random w with ‖w‖ ≈ 2
        # (wᵀû = m(0) = −0.31, so each step shifts z by ≤ 0.16 and log |det| ≥ log 0.69), the
        # encoder's dependence growing from zero. Glorot-initialized amortized u, w, b made
        # 80-step flows diverge within three epochs on every backend (KL 20 → 300 nats).
        size, flow = 2 * latent_dim, self.flow_param_count(latent_dim)
        kernel = ops.convert_to_numpy(self.kernel)
        kernel[:, size:] = 0.0
        self.kernel.assign(kernel)
        bias = np.zeros(size + flow, "float32")
        w_slice = slice(size + self.num_steps * latent_dim, size + 2 * self.num_steps * latent_dim)
        bias[w_slice] = ops.convert_to_numpy(keras.random.normal((self.num_steps * latent_dim,))) * 2.0 / np.sqrt(latent_dim)
        self.bias.assign(bias)

    def transform(self, z, params, k=1):
        size, steps = self.latent_dim, self.num_steps
        flow = params[:, 2 * size:]
        # Step-major, for one scan over the steps: K unrolled steps took XLA minutes to compile.
        u = ops.transpose(ops.reshape(flow[:, : steps * size], (-1, steps, size)), (1, 0, 2))
        w = ops.transpose(ops.reshape(flow[:, steps * size: 2 * steps * size], (-1, steps, size)), (1, 0, 2))
        b = ops.transpose(flow[:, 2 * steps * size:])
        # û and wᵀû depend on the example, not the sample: once per example and step, broadcast
        # over the k samples, instead of per row of k·batch copies of the params (with 80 steps
        # those copies made IS 4.6× slower than the same networks' Gaussian q).
        wu = ops.sum(w * u, axis=-1, keepdims=True)
        u_hat = u + (ops.softplus(wu) - 1.0 - wu) * w / (ops.sum(ops.square(w), axis=-1, keepdims=True) + 1e-12)
        w_u_hat = ops.sum(w * u_hat, axis=-1)  # the determinant of the û actually used

        def step(carry, inputs):
            z, log_det = carry  # (k, batch, L), (k, batch)
            u_hat_t, w_t, b_t, w_u_hat_t = inputs
            h = ops.tanh(ops.sum(w_t * z, axis=-1) + b_t)
            det = 1.0 + (1.0 - ops.square(h)) * w_u_hat_t
            return (z + u_hat_t * h[..., None], log_det + ops.log(ops.abs(det) + 1e-30)), None

        z = ops.reshape(z, (k, -1, size))
        carry = (z, ops.zeros(ops.shape(z)[:2], dtype=z.dtype))
        if keras.backend.backend() == "tensorflow":
            # TensorFlow's scan is a while loop whose gradient XLA refuses (no fixed size).
            for t in range(steps):
                carry, _ = step(carry, (u_hat[t], w[t], b[t], w_u_hat[t]))
        else:
            carry, _ = ops.scan(step, carry, (u_hat, w, b, w_u_hat))
        z, log_det = carry
        return ops.reshape(z, (-1, size)), ops.reshape(log_det, (-1,))

    def describe(self):
        return f"{self.num_steps} planar steps"

    def get_config(self):
        return {**super().get_config(), "num_steps": self.num_steps}


def made_masks(latent_dim, hidden):
    """MADE's connectivity (Germain et al. 2015) for z_1…z_L in order: masks of the hidden
    layers and of the output, so output i sees only z_1…z_{i−1} (and the context)."""
    degrees_in = np.arange(1, latent_dim + 1)
    masks, previous = [], degrees_in
    for width in hidden:
        degrees = (np.arange(width) % max(latent_dim - 1, 1)) + 1 if latent_dim > 1 else np.zeros(width, int)
        masks.append((degrees[None, :] >= previous[:, None]).astype("float32"))
        previous = degrees
    masks.append((degrees_in[None, :] > previous[:, None]).astype("float32"))
    return masks


@keras.saving.register_keras_serializable(package="zoo")
class MADE(keras.layers.Layer):
    """An autoregressive MLP: (z, context) → (m, s), each output i a function of z_<i only."""

    def __init__(self, latent_dim, hidden=(320, 320), context_dim=0, activation="elu", **kwargs):
        super().__init__(**kwargs)
        self.latent_dim = int(latent_dim)
        self.hidden = tuple(int(h) for h in hidden)
        self.context_dim = int(context_dim)
        self.activation = keras.activations.get(activation)
        self._activation_name = activation
        self.masks = made_masks(self.latent_dim, self.hidden)

    def build(self, input_shape=None):
        widths = (self.latent_dim,) + self.hidden
        self.kernels = [self.add_weight(shape=(a, b), initializer="glorot_uniform", name=f"kernel_{i}")
                        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:]))]
        self.biases = [self.add_weight(shape=(b,), initializer="zeros", name=f"bias_{i}")
                       for i, b in enumerate(self.hidden)]
        if self.context_dim:
            self.context_kernel = self.add_weight(shape=(self.context_dim, widths[1] if self.hidden else 2 * self.latent_dim),
                                                  initializer="glorot_uniform", name="context_kernel")
        # The output layer starts at zero: each step begins as (close to) the identity.
        self.output_kernel = self.add_weight(shape=(widths[-1], 2 * self.latent_dim), initializer="zeros",
                                             name="output_kernel")
        self.output_bias = self.add_weight(shape=(2 * self.latent_dim,), initializer="zeros", name="output_bias")

    def call(self, z, context=None):
        h = z
        for i, (kernel, bias) in enumerate(zip(self.kernels, self.biases)):
            h = ops.matmul(h, kernel * self.masks[i]) + bias
            if i == 0 and self.context_dim:
                h = h + ops.matmul(context, self.context_kernel)
            h = self.activation(h)
        out_mask = np.concatenate([self.masks[-1]] * 2, axis=1)
        out = ops.matmul(h, self.output_kernel * out_mask) + self.output_bias
        if not self.hidden and self.context_dim:
            out = out + ops.matmul(context, self.context_kernel)
        return out[:, : self.latent_dim], out[:, self.latent_dim:]

    def get_config(self):
        return {**super().get_config(), "latent_dim": self.latent_dim, "hidden": list(self.hidden),
                "context_dim": self.context_dim, "activation": self._activation_name}


@keras.saving.register_keras_serializable(package="zoo")
class IAF(DiagonalGaussian):
    """Inverse autoregressive flow (Kingma et al. 2016), K MADE steps with the stable gated update.

    The encoder also outputs a context h; each step t computes (m, s) = MADE_t(z, h) with
    output i depending on z_<i only, then

        σ = sigmoid(s + forget_bias),   z ← σ ⊙ z + (1 − σ) ⊙ m,   log |det| = Σ_i log σ_i,

    and the order of z is reversed between steps. ``forget_bias`` > 0 starts each step near
    the identity (σ ≈ 1), as the paper recommends.

    Args:
        num_steps: K, the number of IAF steps.
        hidden: widths of each MADE's hidden layers.
        context_dim: size of h (default: the latent size).
        activation: MADE's hidden activation.
        forget_bias: added to s before the sigmoid.
    """

    is_flow = True
    has_analytic_kl = False

    def __init__(self, num_steps=2, hidden=(320, 320), context_dim=None, activation="elu",
                 forget_bias=1.0, **kwargs):
        super().__init__(**kwargs)
        self.num_steps = check_integer("num_steps", num_steps, "IAF")
        self.hidden = tuple(check_integer("hidden entries", h, "IAF") for h in hidden)
        self.context_dim = None if context_dim is None else check_integer("context_dim", context_dim, "IAF", minimum=0)
        self.activation = activation
        self.forget_bias = check_non_negative("forget_bias", forget_bias, "IAF")

    def _context_dim(self, latent_dim):
        return latent_dim if self.context_dim is None else self.context_dim

    def flow_param_count(self, latent_dim):
        return self._context_dim(latent_dim)

    def build_flow(self, latent_dim):
        context = self._context_dim(latent_dim)
        self.steps = [MADE(latent_dim, self.hidden, context, self.activation, name=f"made_{t}")
                      for t in range(self.num_steps)]
        for made in self.steps:
            made.build()

    def transform(self, z, params, k=1):
        context = tile_samples(params[:, 2 * self.latent_dim:], k)
        log_det = ops.zeros(ops.shape(z)[:1], dtype=z.dtype)
        for t, made in enumerate(self.steps):
            if t:
                z = ops.flip(z, axis=-1)
            m, s = made(z, context)
            gate = ops.sigmoid(s + self.forget_bias)
            z = gate * z + (1.0 - gate) * m
            log_det = log_det + ops.sum(ops.log_sigmoid(s + self.forget_bias), axis=-1)
        return z, log_det

    def describe(self):
        return f"{self.num_steps} IAF steps"

    def get_config(self):
        return {**super().get_config(), "num_steps": self.num_steps, "hidden": list(self.hidden),
                "context_dim": self.context_dim, "activation": self.activation,
                "forget_bias": self.forget_bias}


_REGISTRY = {"gaussian": DiagonalGaussian, "planar": Planar, "iaf": IAF}


def names():
    """The posterior names ``get`` accepts."""
    return sorted(_REGISTRY)


def get(identifier, **kwargs):
    """A posterior layer from a name (with arguments), a config dict, or an instance."""
    return from_registry(identifier, kwargs, _REGISTRY, DiagonalGaussian, "posterior")
