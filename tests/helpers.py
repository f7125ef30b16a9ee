"""Helpers the tests share: numpy conversion, gradients on any backend, quadrature, the
top-level scripts as modules."""

import importlib
import os
import pathlib
import sys

import numpy as np
import keras
from keras import ops

BACKEND = keras.backend.backend()
ROOT = pathlib.Path(__file__).resolve().parents[1]


def script(name):
    """The repository's top-level script ``name``.py (train, tune) as a module, to call its
    ``main`` or read its constants in the test's process."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return importlib.import_module(name)


def xla_flags(*flags):
    """XLA_FLAGS for a subprocess: ``flags`` plus this test run's optimization level
    (``python -m tests`` compiles at LLVM -O0, tests/__main__.py), not this process's other
    flags (e.g. a virtual device count)."""
    level = [flag for flag in os.environ.get("XLA_FLAGS", "").split()
             if flag.startswith("--xla_backend_optimization_level")]
    return " ".join([*level, *flags])


def to_numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def gradient(fn, x):
    """d sum(fn(x)) / dx on the active backend, as numpy."""
    x = np.asarray(x, dtype="float32")
    if BACKEND == "jax":
        import jax

        return np.asarray(jax.grad(lambda v: fn(v).sum())(x))
    if BACKEND == "tensorflow":
        import tensorflow as tf

        v = tf.Variable(x)
        with tf.GradientTape() as tape:
            total = tf.reduce_sum(fn(v))
        return tape.gradient(total, v).numpy()
    if BACKEND == "torch":
        import torch

        v = torch.tensor(x, requires_grad=True)
        fn(v).sum().backward()
        return v.grad.numpy()
    raise NotImplementedError(BACKEND)


def gauss_legendre(lo, hi, segments=200, order=20):
    """Nodes and weights of a composite Gauss-Legendre rule on [lo, hi]."""
    t, w = np.polynomial.legendre.leggauss(order)
    edges = np.linspace(lo, hi, segments + 1)
    half = np.diff(edges)[:, None] / 2
    mid = (edges[:-1] + edges[1:])[:, None] / 2
    return (mid + half * t).ravel(), (half * w).ravel()


def integrate_density(log_density, breakpoints, tails=True):
    """∫ exp(log_density(x)) dx over the real line (or [first, last] breakpoint if not tails).

    ``log_density`` maps a 1-D float64 array of points to log-densities (one batched call).
    Composite Gauss-Legendre between breakpoints; each infinite tail is mapped to [0, 1)
    by x = b ± t/(1 − t), which is exact enough for tails decaying at least like 1/x².
    """
    points, weights = [], []
    bps = sorted(breakpoints)
    for lo, hi in zip(bps[:-1], bps[1:]):
        p, w = gauss_legendre(lo, hi)
        points.append(p)
        weights.append(w)
    if tails:
        t, wt = gauss_legendre(0.0, 1.0, segments=400, order=20)
        jac = 1.0 / (1.0 - t) ** 2
        points += [bps[-1] + t / (1 - t), bps[0] - t / (1 - t)]
        weights += [wt * jac, wt * jac]
    points = np.concatenate(points)
    weights = np.concatenate(weights)
    values = np.exp(np.asarray(log_density(points), dtype="float64"))
    return float(np.sum(values * weights))


def soft_clip_np(x, low, high, k=10.0):
    """The soft clip, written independently in numpy (float64)."""
    x = low + np.logaddexp(0.0, k * (np.asarray(x, "float64") - low)) / k
    return high - np.logaddexp(0.0, k * (high - x)) / k


def variable_gradients(loss_fn, variables):
    """d loss_fn() / d each Keras variable, on the active backend, as numpy arrays."""
    if BACKEND == "jax":
        import jax

        def loss_of(values):
            with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                return loss_fn()

        return [np.asarray(g) for g in jax.grad(loss_of)([v.value for v in variables])]
    if BACKEND == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = loss_fn()
        return [g.numpy() for g in tape.gradient(loss, [v.value for v in variables])]
    if BACKEND == "torch":
        import torch

        loss = loss_fn()
        return [g.detach().cpu().numpy() for g in torch.autograd.grad(loss, [v.value for v in variables])]
    raise NotImplementedError(BACKEND)
