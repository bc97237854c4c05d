"""Recurrent networks: Elman (tanh/relu), GRU and LSTM encoders, stacked, with an MLP head.

Each layer projects the inputs of all time steps in one matmul, then scans over time with the
whole batch in the carry — state (N, H). A vmap of per-path scans was measured 2–3× slower.
Initialisation follows torch.nn.RNN/GRU/LSTM: U(-1/sqrt(H), 1/sqrt(H)) for every weight.

Legend: N paths, L time steps, C channels, H hidden units, O outputs.
"""

from __future__ import annotations

import math
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from lagnet.models.base import SequenceNet, read_out
from lagnet.models.family import FAMILIES, Family, NetConfig, grow_net
from lagnet.models.layers import ACTIVATIONS, MLPHead, host_rng, uniform

GATES = {"rnn": 1, "gru": 3, "lstm": 4}


class RecurrentLayer(eqx.Module):
    """One recurrent layer. ``kind`` is ``rnn`` (h = act(W x + U h + b)), ``gru`` or ``lstm``
    (gate order as in torch: GRU r, z, n; LSTM i, f, g, o)."""

    w_ih: jax.Array  # (C, G·H)
    w_hh: jax.Array  # (H, G·H)
    b_ih: jax.Array  # (G·H,)
    b_hh: jax.Array  # (G·H,)
    kind: str = eqx.field(static=True)
    activation: str = eqx.field(static=True)

    def __init__(
        self, kind: str, c_in: int, hidden: int, activation: str, *, rng: np.random.Generator
    ):
        g = GATES[kind] * hidden
        bound = 1.0 / math.sqrt(hidden)
        self.w_ih = uniform(rng, (c_in, g), bound)
        self.w_hh = uniform(rng, (hidden, g), bound)
        self.b_ih = uniform(rng, (g,), bound)
        self.b_hh = uniform(rng, (g,), bound)
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

    def __init__(
        self,
        kind,
        c_in,
        c_out,
        hidden,
        num_layers,
        activation,
        head,
        head_activation,
        skip=False,
        *,
        key,
    ):
        rng = host_rng(key)
        self.layers = tuple(
            RecurrentLayer(kind, c_in if i == 0 else hidden, hidden, activation, rng=rng)
            for i in range(num_layers)
        )
        self.skip = skip
        self.head = MLPHead(hidden + (c_in if skip else 0), head, c_out, head_activation, rng=rng)

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


# ----------------------------------------------------------------------------- the families
class ElmanConfig(NetConfig):
    """An Elman network: h_t = ``activation``(W x_t + U h_{t-1} + b)."""

    kind: Literal["rnn"] = "rnn"
    activation: Literal["tanh", "relu"] = "tanh"


class GRUConfig(NetConfig):
    """A GRU encoder (Cho et al. 2014)."""

    kind: Literal["gru"] = "gru"


class LSTMConfig(NetConfig):
    """An LSTM encoder (Hochreiter & Schmidhuber 1997)."""

    kind: Literal["lstm"] = "lstm"


def _build(cfg, c_in: int, c_out: int, key: jax.Array, max_lag=None) -> RecurrentNet:
    return RecurrentNet(
        cfg.kind,
        c_in,
        c_out,
        cfg.hidden,
        cfg.num_layers,
        getattr(cfg, "activation", "tanh"),
        cfg.head,
        cfg.head_activation,
        cfg.skip,
        key=key,
    )


def _states(net: RecurrentNet, x: jax.Array) -> jax.Array:
    """Every layer's h side by side: (N, L, layers·H)."""
    h, hs = x, []
    for layer in net.layers:
        h = layer(h)  # (N, L, H)
        hs.append(h)
    return jnp.concatenate(hs, axis=-1)


for _config, _summary, _examples, _bench in [
    (
        ElmanConfig,
        "Elman RNN (tanh or relu)",
        {
            # the forum's Elman network: tanh, identity head, no skip
            "forum": dict(hidden=10, head=(20,), head_activation="identity", skip=False),
            "rnn-relu": dict(hidden=6, activation="relu"),
        },
        False,
    ),
    (
        GRUConfig,
        "GRU, the reference recurrent network",
        {"gru": dict(hidden=6), "gru-2layers-noskip": dict(hidden=5, layers=2, skip=False)},
        True,
    ),
    (LSTMConfig, "LSTM", {"lstm-linear-head": dict(hidden=6, head=())}, True),
]:
    FAMILIES.register(
        Family(
            kind=_config.model_fields["kind"].default,
            config=_config,
            summary=_summary,
            build=_build,
            recurrent=True,
            states=_states,
            grow=grow_net,
            saturating=lambda cfg: getattr(cfg, "activation", "tanh") == "tanh",
            examples=_examples,
            in_bench=_bench,
        )
    )
