"""Temporal convolutional network: causal dilated convolutions in residual blocks, with an MLP
head (Bai, Kolter & Koltun 2018, "An Empirical Evaluation of Generic Convolutional and
Recurrent Networks for Sequence Modeling").

A causal convolution with kernel K and dilation d reads the inputs K-1 steps of d apart:

    conv(x)_t = b + sum_{j<K} W_j x_{t - j·d}          (x_s = 0 for s < 0)

Block i (dilation 2**i) is  out = relu(res(x) + relu(conv2(relu(conv1(x)))))  with res the
identity, or a 1×1 convolution where the channel count changes. Weight norm and dropout of the
paper are left out: the data here are fresh every step, so there is nothing to overfit.

Legend: N paths, L time steps, C channels, H hidden channels, O outputs, K kernel size.
"""

from __future__ import annotations

import math
from typing import ClassVar, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from pydantic import Field

from lagnet.models.base import SequenceNet, read_out, step_blocks
from lagnet.models.family import FAMILIES, Family, NetConfig, grow_net
from lagnet.models.layers import MLPHead, host_rng, uniform


class CausalConv(eqx.Module):
    """One causal dilated convolution, (N, L, C) -> (N, L, H). Initialised as torch's Conv1d:
    U(-1/sqrt(K·C), 1/sqrt(K·C))."""

    weight: jax.Array  # (K·C, H): tap j (input x_{t-j·d}) in rows j·C … (j+1)·C
    bias: jax.Array  # (H,)
    kernel: int = eqx.field(static=True)
    dilation: int = eqx.field(static=True)

    def __init__(
        self, c_in: int, c_out: int, kernel: int, dilation: int, *, rng: np.random.Generator
    ):
        bound = 1.0 / math.sqrt(kernel * c_in)
        self.weight = uniform(rng, (kernel * c_in, c_out), bound)
        self.bias = uniform(rng, (c_out,), bound)
        self.kernel, self.dilation = kernel, dilation

    @property
    def span(self) -> int:
        """How many past inputs beside the current one a step reads: (K-1)·d."""
        return (self.kernel - 1) * self.dilation

    def __call__(self, x: jax.Array) -> jax.Array:
        length = x.shape[1]
        xp = jnp.pad(x, ((0, 0), (self.span, 0), (0, 0)))  # (N, span+L, C)
        taps = [
            xp[:, self.span - j * self.dilation : self.span - j * self.dilation + length]
            for j in range(self.kernel)
        ]
        return jnp.concatenate(taps, axis=-1) @ self.weight + self.bias  # (N, L, K·C) -> (N, L, H)

    def init_state(self, n: int, c: int) -> jax.Array:
        return jnp.zeros((n, self.span, c), jnp.float32)  # the last span inputs, oldest first

    def step(self, x_t: jax.Array, buf: jax.Array):
        """x_t (N, C), buf (N, span, C) -> (N, H), new buf."""
        full = jnp.concatenate([buf, x_t[:, None]], axis=1)  # (N, span+1, C), newest last
        taps = [full[:, self.span - j * self.dilation] for j in range(self.kernel)]
        return jnp.concatenate(taps, axis=-1) @ self.weight + self.bias, full[:, 1:]


class TemporalBlock(eqx.Module):
    """Two causal convolutions of one dilation and a residual connection."""

    conv1: CausalConv
    conv2: CausalConv
    down: CausalConv | None  # a 1×1 convolution where the channel count changes

    def __init__(
        self, c_in: int, hidden: int, kernel: int, dilation: int, *, rng: np.random.Generator
    ):
        self.conv1 = CausalConv(c_in, hidden, kernel, dilation, rng=rng)
        self.conv2 = CausalConv(hidden, hidden, kernel, dilation, rng=rng)
        self.down = CausalConv(c_in, hidden, 1, 1, rng=rng) if c_in != hidden else None

    def _residual(self, x: jax.Array) -> jax.Array:
        return x if self.down is None else x @ self.down.weight + self.down.bias

    def __call__(self, x: jax.Array) -> jax.Array:
        """x: (N, L, C) -> (N, L, H)."""
        h = jax.nn.relu(self.conv2(jax.nn.relu(self.conv1(x))))
        return jax.nn.relu(self._residual(x) + h)

    def init_state(self, n: int):
        c_in = self.conv1.weight.shape[0] // self.conv1.kernel
        hidden = self.conv2.weight.shape[1]
        return self.conv1.init_state(n, c_in), self.conv2.init_state(n, hidden)

    def step(self, x_t: jax.Array, state):
        b1, b2 = state
        h, b1 = self.conv1.step(x_t, b1)
        h, b2 = self.conv2.step(jax.nn.relu(h), b2)
        return jax.nn.relu(self._residual(x_t) + jax.nn.relu(h)), (b1, b2)


class TCNConfig(NetConfig):
    """Causal dilated convolutions of kernel ``tcn_kernel``, dilations 1, 2, 4, … over
    ``layers`` residual blocks of ``hidden`` channels (receptive field
    1 + 2·(kernel-1)·(2**layers - 1))."""

    DEFAULT_LAYERS: ClassVar[int] = 4
    kind: Literal["tcn"] = "tcn"
    tcn_kernel: int = Field(3, ge=2)


def reach(cfg: TCNConfig, layers: int | None = None) -> int:
    """Inputs an output sees with ``layers`` blocks (default: the config's)."""
    n = cfg.num_layers if layers is None else layers
    return 1 + 2 * (cfg.tcn_kernel - 1) * (2**n - 1)


def _widen(cfg: TCNConfig, need: int) -> tuple[str, str, dict]:
    layers = next(n for n in range(1, 30) if reach(cfg, n) >= need)
    return (
        f"{cfg.num_layers} blocks of kernel {cfg.tcn_kernel}",
        f"more dilated blocks: model.layers = {layers}",
        {"model.layers": layers},
    )


class TCN(SequenceNet):
    """``layers`` temporal blocks of ``hidden`` channels, dilations 1, 2, 4, …, kernel
    ``tcn_kernel``, then an MLP head (reading [h_t, x_t] with ``skip``).

    Output t depends on inputs t-RF+1 … t, RF = ``receptive_field`` = 1 + 2·(K-1)·(2**layers - 1)
    (two convolutions per block). Streaming keeps each convolution's last (K-1)·d inputs.

    >>> net = TCN(TCNConfig(layers=3), 1, 1, key=jax.random.PRNGKey(0))
    >>> net.receptive_field, net(jnp.zeros((4, 10, 1))).shape
    (29, (4, 10, 1))
    """

    blocks: tuple[TemporalBlock, ...]
    head: MLPHead
    skip: bool = eqx.field(static=True)

    def __init__(self, cfg: TCNConfig, c_in: int, c_out: int, *, key):
        rng = host_rng(key)
        self.blocks = tuple(
            TemporalBlock(c_in if i == 0 else cfg.hidden, cfg.hidden, cfg.tcn_kernel, 2**i, rng=rng)
            for i in range(cfg.num_layers)
        )
        self.skip = cfg.skip
        self.head = MLPHead(
            cfg.hidden + (c_in if cfg.skip else 0), cfg.head, c_out, cfg.head_activation, rng=rng
        )

    @property
    def receptive_field(self) -> int:
        """Steps an output sees, the current one included."""
        return 1 + sum(b.conv1.span + b.conv2.span for b in self.blocks)

    def __call__(self, x: jax.Array) -> jax.Array:
        """x: (N, L, C) -> (N, L, O)."""
        h = x
        for block in self.blocks:
            h = block(h)  # (N, L, H)
        return read_out(self.head, h, x, self.skip)  # (N, L, O)

    def init_state(self, n: int):
        return tuple(block.init_state(n) for block in self.blocks)

    def step(self, x_t: jax.Array, state):
        """x_t (N, C) -> y_t (N, O), new state."""
        h, new = step_blocks(self.blocks, x_t, state)
        return read_out(self.head, h, x_t, self.skip), new


FAMILIES.register(
    Family(
        kind="tcn",
        config=TCNConfig,
        summary="temporal convolutional network (dilated, causal)",
        build=lambda cfg, c_in, c_out, key, max_lag=None: TCN(cfg, c_in, c_out, key=key),
        reach=reach,
        widen=_widen,
        grow=grow_net,
        examples={"tcn": dict(hidden=8, layers=2)},
    )
)
