"""What an importance-sampling step's necessary parts cost on JAX, apart (issue 51's floor).

The 784-200-200-50 Bernoulli MLP VAE's decoder on one step of ``zoo.log_likelihood`` (2,040
rows: 2 images x 1,020 samples), ten steps per jitted call, each variant reduced to row sums so
that no (rows, 784) output is written out: the three matrix products alone, with the biases and
tanh, with Σ x·l, with the Bernoulli's Σ softplus(l) (the whole log p(x | z)), and the softplus
sum alone. ``python bench/is_floor.py``; bench/README.md has the numbers.
"""
import os
import time

os.environ.setdefault("KERAS_BACKEND", "jax")
import jax
import jax.numpy as jnp

import zoo  # sets the XLA flags the zoo runs with (YNNPACK fusion off)
from losses.base import softplus  # the form zoo.log_likelihood uses

del zoo
rows, steps = 2040, 300
k = jax.random.PRNGKey(0)
W1 = jax.random.normal(k, (50, 200)) * .1; W2 = jax.random.normal(k, (200, 200)) * .1; W3 = jax.random.normal(k, (200, 784)) * .1
b1 = jnp.zeros(200); b2 = jnp.zeros(200); b3 = jnp.zeros(784)
z = jax.random.normal(k, (rows, 50)); x = (jax.random.uniform(k, (rows, 784)) < .3).astype("float32")
variants = {
 "matmuls (row sums)": lambda z: jnp.sum(((z @ W1) @ W2) @ W3, -1),
 "+bias,tanh (row sums)": lambda z: jnp.sum(jnp.tanh(jnp.tanh(z @ W1 + b1) @ W2 + b2) @ W3 + b3, -1),
 "+x.l sum": lambda z: jnp.sum(x * (jnp.tanh(jnp.tanh(z @ W1 + b1) @ W2 + b2) @ W3 + b3), -1),
 "+softplus sum (full log p(x|z))": lambda z: (lambda l: jnp.sum(x * l, -1) - jnp.sum(softplus(l), -1))(jnp.tanh(jnp.tanh(z @ W1 + b1) @ W2 + b2) @ W3 + b3),
 "softplus sum alone": lambda z: jnp.sum(softplus(x * 3 - z[:, :1]), -1),
}
fns = {n: jax.jit(lambda z, f=f: jax.lax.map(f, jnp.stack([z] * 10)).sum()) for n, f in variants.items()}
for n, f in fns.items(): f(z).block_until_ready()
for rep in range(3):
    for n, f in fns.items():
        t = time.perf_counter()
        for _ in range(steps // 10): f(z).block_until_ready()
        print(f"{n:40s} {(time.perf_counter() - t) / steps * 1e3:.2f} ms/step", flush=True)
