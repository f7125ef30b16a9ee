"""Nats ↔ bits per dimension, on the discrete data's scale.

A discrete likelihood gives −log P(x) directly. A continuous density p trained on uniformly
dequantized data y = (k + u)/L, u ~ U[0, 1)^D, bounds the discrete data's code length by
−log P(x) ≤ E_u[−log p(y)] + D·log L (Theis et al. 2016). bits/dim = nats / (D·ln 2).
"""

import math


def dequantization_nats(num_dims, levels):
    """D·log L: the term that puts a density on y = (k + u)/L onto the discrete scale."""
    if levels is None:
        return 0.0
    return num_dims * math.log(levels)


def bits_per_dim(nats, num_dims, dequantization_levels=None):
    """Turn a per-example code length in nats into bits per dimension.

    Args:
        nats: −log p per example (number, array or tensor), summed over dims, in nats.
        num_dims: D, the number of data dimensions per example.
        dequantization_levels: L when ``nats`` is a continuous density's −log p(y) on data
            dequantized as y = (k + u)/L; adds D·log L. None for discrete likelihoods.
    """
    if num_dims <= 0:
        raise ValueError(f"bits_per_dim: `num_dims` must be > 0, got {num_dims!r}.")
    return (nats + dequantization_nats(num_dims, dequantization_levels)) / (num_dims * math.log(2.0))
