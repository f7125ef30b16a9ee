"""A guard against a JAX CPU miscompile that silently changes the zoo's numbers.

XLA:CPU in jaxlib 0.10.2 hands fused reductions to YNNPACK, and gets one case wrong: a sum
over the last axis of a product broadcast over a leading axis, (x·p).sum(−1) − p.sum(−1) for
p (k, batch, D) and x (batch, D) — the Bernoulli log-likelihood of k samples of a batch —
comes out wrong once k·batch passes 32,768 rows (jax-ml/jax#39103; jaxlib 0.10.1 is right).
``zoo.log_likelihood`` then returned positive log-probabilities for binary data, and an
IWAE step of k·batch > 32,768 would train on a wrong bound. The project's dependencies skip
jaxlib 0.10.2; this check finds the bug in whatever jaxlib is installed, once per process,
before the zoo compiles its first step, and stops with the fix instead of a wrong number.
"""

import numpy as np
import keras

FIX_FLAG = "--xla_cpu_experimental_ynn_fusion_type="
_VERIFIED = []  # holds True once this process's JAX computed the known answer


class MiscompileError(RuntimeError):
    """This JAX computes the zoo's reductions wrongly; the message names the fix."""


def _known_answer():
    """(x·p).sum(−1) − p.sum(−1) for p (2,049, 16, 2): 32,784 rows, small integers, so the
    exact answer is representable in float32 and any difference is the compiler's."""
    rows = np.arange(2049 * 16 * 2, dtype=np.int64).reshape(2049, 16, 2)
    p = ((rows % 7) - 3).astype("float32")
    x = (np.arange(16 * 2).reshape(16, 2) % 3 == 0).astype("float32")
    return p, x, (x * p).sum(-1) - p.sum(-1)


def check_reductions():
    """Raise ``MiscompileError`` if jit-compiled JAX gets the known answer wrong; a no-op on
    other backends and after the first success."""
    if _VERIFIED or keras.backend.backend() != "jax":
        return
    import jax

    p, x, expected = _known_answer()
    got = np.asarray(jax.jit(lambda p, x: (x * p).sum(-1) - p.sum(-1))(p, x))
    if not np.array_equal(got, expected):
        import jaxlib

        raise MiscompileError(
            f"jaxlib {jaxlib.__version__} computes sums over more than 32,768 rows wrongly on this "
            f"CPU (jax-ml/jax#39103; off by up to {np.abs(got - expected).max():.0f}), which would "
            f"make the zoo's log-likelihoods wrong. Install jaxlib 0.10.1 (pip install "
            f"'jax==0.10.1' 'jaxlib==0.10.1'), or start Python with XLA_FLAGS={FIX_FLAG} "
            f"(XLA's YNNPACK fusion off), or use another backend.")
    _VERIFIED.append(True)
