"""Window MLP: a feed-forward network over the last ``window`` inputs, the plain answer to
"the target is a function of the last k lags".

    y_t = MLP([x_t, x_{t-1}, …, x_{t-k+1}])        (x_s = 0 for s < 0)

Legend: N paths, L time steps, C channels, H hidden units, O outputs, K window.
"""

from __future__ import annotations

from typing import ClassVar, Literal, Optional

import equinox as eqx
import jax
import jax.numpy as jnp
from pydantic import Field

from lagnet.models.base import SequenceNet
from lagnet.models.family import FAMILIES, Family, NetConfig, default_window, grow_net, widen_window
from lagnet.models.layers import MLPHead, host_rng


def lag_stack(x: jax.Array, window: int) -> jax.Array:
    """x (N, L, C) -> (N, L, K·C): at step t the inputs [x_t, x_{t-1}, …, x_{t-K+1}], zeros
    before the start (the mean, on normalised inputs).

    >>> lag_stack(jnp.arange(3.0).reshape(1, 3, 1), 2)[0].tolist()
    [[0.0, 0.0], [1.0, 0.0], [2.0, 1.0]]
    """
    n, length, c = x.shape
    xp = jnp.pad(x, ((0, 0), (window - 1, 0), (0, 0)))  # (N, K-1+L, C)
    lags = [xp[:, window - 1 - j : window - 1 - j + length] for j in range(window)]
    return jnp.concatenate(lags, axis=-1)  # (N, L, K·C)


class WindowConfig(NetConfig):
    """An MLP over the last ``window`` inputs (None = the formula's largest lag + 1, when the
    target reads only the inputs; else 10): ``layers`` hidden layers of ``hidden`` units, then
    the ``head`` widths."""

    DEFAULT_LAYERS: ClassVar[int] = 2
    kind: Literal["window"] = "window"
    window: Optional[int] = Field(None, gt=0, le=10_000)


class WindowNet(SequenceNet):
    """An MLP over the last ``window`` inputs: ``layers`` hidden layers of width ``hidden``,
    then the ``head`` widths, all with ``head_activation``, and a linear output.

    The defaults (2 × 32, then 64, silu) give three smooth hidden layers: enough to form the
    products and squares of a formula like x_t² + 0.1·x_{t-1}², which a single layer fits
    only with many more units. ``skip`` has nothing to add — the current input is already in
    the window — and is ignored.

    >>> net = WindowNet(WindowConfig(), 1, 1, window=2, key=jax.random.PRNGKey(0))
    >>> net(jnp.zeros((4, 10, 1))).shape
    (4, 10, 1)
    """

    mlp: MLPHead
    window: int = eqx.field(static=True)
    c_in: int = eqx.field(static=True)

    def __init__(self, cfg: WindowConfig, c_in: int, c_out: int, window: int, *, key):
        self.window, self.c_in = window, c_in
        widths = (cfg.hidden,) * cfg.num_layers + tuple(cfg.head)
        self.mlp = MLPHead(window * c_in, widths, c_out, cfg.head_activation, rng=host_rng(key))

    def __call__(self, x: jax.Array) -> jax.Array:
        """x: (N, L, C) -> (N, L, O)."""
        return self.mlp(lag_stack(x, self.window))

    def init_state(self, n: int):
        """The last K-1 inputs, newest first: (N, K-1, C), zeros before the start."""
        return jnp.zeros((n, self.window - 1, self.c_in), jnp.float32)

    def step(self, x_t: jax.Array, state):
        """x_t (N, C) -> y_t (N, O), new state."""
        lags = jnp.concatenate([x_t[:, None], state], axis=1)  # (N, K, C), newest first
        y_t = self.mlp(lags.reshape(lags.shape[0], -1))  # (N, K·C) -> (N, O)
        return y_t, lags[:, :-1]


FAMILIES.register(
    Family(
        kind="window",
        config=WindowConfig,
        summary="MLP over the last `window` inputs",
        build=lambda cfg, c_in, c_out, key, max_lag=None: WindowNet(
            cfg, c_in, c_out, default_window(cfg, max_lag), key=key
        ),
        reach=lambda cfg: cfg.window,
        widen=widen_window,
        grow=grow_net,
        # window unset: 5 steps from the largest lag, which the checkpoint must remember
        examples={"window": dict(hidden=8, max_lag=4)},
    )
)
