"""What the families share: per-step MLP heads, activations, and initialisation drawn on the host.

Legend: N paths, L time steps, C channels, H hidden units, O outputs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "silu": jax.nn.silu,
    "relu": jax.nn.relu,
    "tanh": jnp.tanh,
    "gelu": jax.nn.gelu,
    "identity": lambda v: v,
}


def uniform(rng: np.random.Generator, shape, bound):
    # Cast on the host and put: jnp.asarray(…, float32) would compile a conversion per shape.
    return jax.device_put(rng.uniform(-bound, bound, shape).astype(np.float32))


def host_rng(key: jax.Array) -> np.random.Generator:
    """A NumPy generator seeded by a JAX key. Initialisation draws on the host: drawing each
    weight with jax.random compiles one kernel per shape (measured 2.4 s for a GRU, 0.1 s so)."""
    return np.random.default_rng(np.asarray(jax.random.key_data(key)).ravel().tolist())


class MLPHead(eqx.Module):
    """Per-time-step MLP: (..., H) -> (..., O). Hidden ``widths`` with ``activation``;
    an empty ``widths`` is a linear read-out."""

    weights: tuple[jax.Array, ...]
    biases: tuple[jax.Array, ...]
    activation: str = eqx.field(static=True)

    def __init__(
        self,
        c_in: int,
        widths: Sequence[int],
        c_out: int,
        activation: str,
        *,
        rng: np.random.Generator,
    ):
        sizes = [c_in, *widths, c_out]
        ws, bs = [], []
        for a, b in zip(sizes[:-1], sizes[1:]):
            bound = 1.0 / math.sqrt(a)
            ws.append(uniform(rng, (a, b), bound))
            bs.append(uniform(rng, (b,), bound))
        self.weights, self.biases = tuple(ws), tuple(bs)
        self.activation = activation

    def __call__(self, h: jax.Array) -> jax.Array:
        act = ACTIVATIONS[self.activation]
        for w, b in zip(self.weights[:-1], self.biases[:-1]):
            h = act(h @ w + b)
        return h @ self.weights[-1] + self.biases[-1]
