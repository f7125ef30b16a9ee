"""A guard against a JAX CPU miscompile that silently changes the zoo's numbers.

jaxlib 0.10.2's XLA:CPU hands fused reductions to YNNPACK and gets one case wrong: a sum over
the last axis of a product broadcast over a leading axis, (x·p).sum(−1) − p.sum(−1) for p
(k, batch, D) and x (batch, D) — the Bernoulli log-likelihood of k samples of a batch — is
wrong once k·batch passes 32,768 rows (jax-ml/jax#39103; jaxlib 0.10.1 is right).
``zoo.log_likelihood`` then returned positive log-probabilities for binary data, and an IWAE
step of k·batch > 32,768 trained on a wrong bound. The same fusion made image-shaped data's
IS evaluation ~5× slower than flat data's (bench/README.md).

Two parts:
- ``disable_ynn_fusion()``, at ``import zoo``: on jaxlib versions known to have that fusion
  and its switch (0.10.2 to 0.11.x), adds ``--xla_cpu_experimental_ynn_fusion_type=`` (the
  fusion off) to ``XLA_FLAGS`` unless the user set that flag. JAX reads XLA_FLAGS when it
  first computes, so this works when zoo is imported before any JAX computation runs.
- ``check_reductions()``, once per process before the zoo compiles its first step: computes a
  known answer and raises ``MiscompileError``, naming the fix, if it comes out wrong.
"""

import importlib.metadata
import os

import numpy as np
import keras

FIX_FLAG = "--xla_cpu_experimental_ynn_fusion_type="
#: jaxlib releases whose XLA:CPU has YNNPACK fusion on by default and takes ``FIX_FLAG``
#: (an unknown flag in XLA_FLAGS aborts JAX at start, so newer releases are left alone).
FUSION_RELEASES = ((0, 10, 2), (0, 12, 0))
_VERIFIED = []  # holds True once this process's JAX computed the known answer


class MiscompileError(RuntimeError):
    """This JAX computes the zoo's reductions wrongly; the message names the fix."""


def _release(version):
    parts = []
    for part in version.split(".")[:3]:
        digits = "".join(c for c in part if c.isdigit()) or "0"
        parts.append(int(digits))
    return tuple(parts + [0] * (3 - len(parts)))


def disable_ynn_fusion(environ=os.environ):
    """Add ``FIX_FLAG`` to ``XLA_FLAGS`` on the JAX backend with an affected jaxlib, unless the
    user chose a YNN fusion setting. Returns whether it did."""
    if keras.backend.backend() != "jax" or "ynn_fusion_type" in environ.get("XLA_FLAGS", ""):
        return False
    try:
        release = _release(importlib.metadata.version("jaxlib"))
    except importlib.metadata.PackageNotFoundError:
        return False
    if not FUSION_RELEASES[0] <= release < FUSION_RELEASES[1]:
        return False
    environ["XLA_FLAGS"] = f"{environ.get('XLA_FLAGS', '')} {FIX_FLAG}".strip()
    return True


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
        version = importlib.metadata.version("jaxlib")
        late = (" The flag is set, but JAX had started computing before `import zoo`: import zoo "
                "first, or set it before Python starts." if FIX_FLAG in os.environ.get("XLA_FLAGS", "") else "")
        raise MiscompileError(
            f"jaxlib {version} computes sums over more than 32,768 rows wrongly on this CPU "
            f"(jax-ml/jax#39103; off by up to {np.abs(got - expected).max():.0f}), which would make "
            f"the zoo's log-likelihoods wrong: start Python with XLA_FLAGS={FIX_FLAG} (XLA's YNNPACK "
            f"fusion off), or install jaxlib 0.10.1 (pip install 'jax==0.10.1' 'jaxlib==0.10.1'), "
            f"or use another backend.{late}")
    _VERIFIED.append(True)
