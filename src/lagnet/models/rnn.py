"""Recurrent networks: Elman (tanh/relu), GRU and LSTM encoders, stacked, with an MLP head.

Each layer projects the inputs of all time steps in one matmul, then scans over time with the
whole batch in the carry — state (N, H). A vmap of per-path scans was measured 2–3× slower.
Initialisation follows torch.nn.RNN/GRU/LSTM: U(-1/sqrt(H), 1/sqrt(H)) for every weight.

Legend: N paths, L time steps, C channels, H hidden units, O outputs.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from lagnet.models.base import SequenceNet, read_out

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "silu": jax.nn.silu,
    "relu": jax.nn.relu,
    "tanh": jnp.tanh,
    "gelu": jax.nn.gelu,
    "identity": lambda v: v,
}

GATES = {"rnn": 1, "gru": 3, "lstm": 4}


def _uniform(rng: np.random.Generator, shape, bound):
    return jnp.asarray(rng.uniform(-bound, bound, shape), jnp.float32)


def host_rng(key: jax.Array) -> np.random.Generator:
    """A NumPy generator seeded by a JAX key. Initialisation draws on the host: drawing each
    weight with jax.random compiles one kernel per shape (measured 2.4 s for a GRU, 0.1 s so)."""
    return np.random.default_rng(np.asarray(jax.random.key_data(key)).ravel().tolist())


class RecurrentLayer(eqx.Module):
    """One recurrent layer. ``kind`` is ``rnn`` (h = act(W x + U h + b)), ``gru`` or ``lstm``
    (gate order as in torch: GRU r, z, n; LSTM i, f, g, o)."""

    w_ih: jax.Array  # (C, G·H)
    w_hh: jax.Array  # (H, G·H)
    b_ih: jax.Array  # (G·H,)
    b_hh: jax.Array  # (G·H,)
    kind: str = eqx.field(static=True)
    activation: str = eqx.field(static=True)

    def __init__(self, kind: str, c_in: int, hidden: int, activation: str, *,
                 rng: np.random.Generator):
        g = GATES[kind] * hidden
        bound = 1.0 / math.sqrt(hidden)
        self.w_ih = _uniform(rng, (c_in, g), bound)
        self.w_hh = _uniform(rng, (hidden, g), bound)
        self.b_ih = _uniform(rng, (g,), bound)
        self.b_hh = _uniform(rng, (g,), bound)
        self.kind = kind
        self.activation = activation

    @property
    def hidden(self) -> int:
        return self.w_hh.shape[0]

    def init_state(self, n: int):
        h = jnp.zeros((n, self.hidden), jnp.float32)
        return (h, h) if self.kind == "lstm" else h

    def cell(self, state, xp_t: jax.Array):
        """One step from the projected input xp_t = x_t W_ih + b_ih, (N, G·H)."""
        if self.kind == "lstm":
            h, c = state
            i, f, g, o = jnp.split(xp_t + h @ self.w_hh + self.b_hh, 4, axis=-1)
            c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
            h = jax.nn.sigmoid(o) * jnp.tanh(c)
            return (h, c), h
        h = state
        hp = h @ self.w_hh + self.b_hh
        if self.kind == "gru":
            xr, xz, xn = jnp.split(xp_t, 3, axis=-1)
            hr, hz, hn = jnp.split(hp, 3, axis=-1)
            r = jax.nn.sigmoid(xr + hr)
            z = jax.nn.sigmoid(xz + hz)
            n = jnp.tanh(xn + r * hn)
            h = (1.0 - z) * n + z * h
        else:
            h = ACTIVATIONS[self.activation](xp_t + hp)
        return h, h

    def __call__(self, x: jax.Array) -> jax.Array:
        """x: (N, L, C) -> hidden states (N, L, H)."""
        xp = jnp.swapaxes(x @ self.w_ih + self.b_ih, 0, 1)  # (L, N, G·H), one matmul
        step = lambda s, xp_t: self.cell(s, xp_t)  # noqa: E731 — a bound method would be hashed
        _, hs = jax.lax.scan(step, self.init_state(x.shape[0]), xp)  # (L, N, H)
        return jnp.swapaxes(hs, 0, 1)  # (N, L, H)

    def step(self, x_t: jax.Array, state):
        return self.cell(state, x_t @ self.w_ih + self.b_ih)


class MLPHead(eqx.Module):
    """Per-time-step MLP: (..., H) -> (..., O). Hidden ``widths`` with ``activation``;
    an empty ``widths`` is a linear read-out."""

    weights: tuple[jax.Array, ...]
    biases: tuple[jax.Array, ...]
    activation: str = eqx.field(static=True)

    def __init__(self, c_in: int, widths: Sequence[int], c_out: int, activation: str, *,
                 rng: np.random.Generator):
        sizes = [c_in, *widths, c_out]
        ws, bs = [], []
        for a, b in zip(sizes[:-1], sizes[1:]):
            bound = 1.0 / math.sqrt(a)
            ws.append(_uniform(rng, (a, b), bound))
            bs.append(_uniform(rng, (b,), bound))
        self.weights, self.biases = tuple(ws), tuple(bs)
        self.activation = activation

    def __call__(self, h: jax.Array) -> jax.Array:
        act = ACTIVATIONS[self.activation]
        for w, b in zip(self.weights[:-1], self.biases[:-1]):
            h = act(h @ w + b)
        return h @ self.weights[-1] + self.biases[-1]


class RecurrentNet(SequenceNet):
    """Stacked recurrent layers and an MLP head: (N, L, C) -> (N, L, O).

    With ``skip`` the head reads the current input beside the last hidden state,
    [h_t, x_t] (N, L, H + C). The recurrence then has to carry only what needs the past, and
    the head is not confined to the bounded range of a tanh state: without it a function like
    x_t² saturates at inputs larger than any seen in training (measured: the rare |x_t| > 4
    dominated the test error)."""

    layers: tuple[RecurrentLayer, ...]
    head: MLPHead
    skip: bool = eqx.field(static=True)

    def __init__(self, kind, c_in, c_out, hidden, num_layers, activation, head, head_activation,
                 skip=False, *, key):
        rng = host_rng(key)
        self.layers = tuple(
            RecurrentLayer(kind, c_in if i == 0 else hidden, hidden, activation, rng=rng)
            for i in range(num_layers)
        )
        self.skip = skip
        self.head = MLPHead(hidden + (c_in if skip else 0), head, c_out, head_activation,
                            rng=rng)

    def __call__(self, x: jax.Array) -> jax.Array:
        h = x
        for layer in self.layers:
            h = layer(h)  # (N, L, H)
        return read_out(self.head, h, x, self.skip)  # (N, L, O)

    def init_state(self, n: int):
        return tuple(layer.init_state(n) for layer in self.layers)

    def step(self, x_t: jax.Array, state):
        """x_t (N, C) -> y_t (N, O), new state: the reference step-by-step recurrence."""
        h, new = x_t, []
        for layer, s in zip(self.layers, state):
            s, h = layer.step(h, s)
            new.append(s)
        return read_out(self.head, h, x_t, self.skip), tuple(new)
