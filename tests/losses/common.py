"""What the likelihood tests share: strategies for fuzzed inputs and a tolerance rule."""

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

# Shapes (batch, event dims...): batch 1-4, up to 3 event axes of size 1-5.
shapes = hnp.array_shapes(min_dims=2, max_dims=4, min_side=1, max_side=5)


def arrays(shape, low, high):
    return hnp.arrays(
        np.float32, shape,
        elements=st.floats(low, high, allow_nan=False, allow_infinity=False, width=32),
    )


def assert_log_prob_matches(ours, reference_elementwise, rtol=1e-5, parts=None):
    """``ours`` (batch,) equals the reference summed over event dims, to ``rtol`` relative.

    Relative to the size of the terms being summed, Σ max(|ref_i|, 0.1), so a sum, or an
    element, that cancels to ~0 is held to float32 precision of its parts (~1e-7 of
    terms of order 1), not to an impossible 1e-5 of zero. ``parts`` (elementwise, optional):
    the size of the terms the implementation itself adds up where they exceed |ref_i|, e.g.
    |x·l| + softplus(l) for a Bernoulli summed as Σ x·l − Σ softplus(l).
    """
    ref = np.asarray(reference_elementwise, dtype="float64")
    ref = ref.reshape(ref.shape[0], -1)
    ours = np.asarray(ours, dtype="float64")
    assert ours.shape == (ref.shape[0],), f"log_prob shape {ours.shape}, want ({ref.shape[0]},)"
    assert np.all(np.isfinite(ours))
    scale = np.maximum(np.abs(ref), 0.1)
    if parts is not None:
        scale = np.maximum(scale, np.abs(np.asarray(parts, "float64")).reshape(ref.shape))
    tolerance = rtol * scale.sum(axis=1)
    error = np.abs(ours - ref.sum(axis=1))
    assert np.all(error <= tolerance), f"max error {error.max():.3g}, tolerance {tolerance.min():.3g}"
