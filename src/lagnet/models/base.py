"""What every lagnet model is: a causal map (N, L, C_in) -> (N, L, C_out), plus the wrapper
that keeps normalisation inside the model so predictions come out in the user's units.

Legend: N paths, L time steps, C channels, H hidden units, O outputs.
"""

from __future__ import annotations

import abc

import equinox as eqx
import jax
import jax.numpy as jnp


class SequenceNet(eqx.Module):
    """A trainable causal sequence network on normalised data: (N, L, C) -> (N, L, O).

    Streaming: ``init_state(n)`` and ``step(x_t, state) -> (y_t, state)`` run one time step
    at a time and agree with the full-sequence call.
    """

    @abc.abstractmethod
    def __call__(self, x: jax.Array) -> jax.Array: ...

    @abc.abstractmethod
    def init_state(self, n: int): ...

    @abc.abstractmethod
    def step(self, x_t: jax.Array, state): ...


class Normalised(eqx.Module):
    """A network with its input and target scalings stored beside it (fitted on a pilot
    sample). ``model(x)`` takes and returns the user's units:

        y_hat = net((x - x_mean) / x_std) * y_std + y_mean

    The scalings are plain arrays, not trained: the training loop differentiates ``net`` only.
    """

    net: SequenceNet
    x_mean: jax.Array  # (C,)
    x_std: jax.Array  # (C,)
    y_mean: jax.Array  # (O,)
    y_std: jax.Array  # (O,)

    def __call__(self, x: jax.Array) -> jax.Array:
        """x: (N, L, C) -> (N, L, O), both in the user's units."""
        return self.net(self.normalise_x(x)) * self.y_std + self.y_mean

    def normalise_x(self, x: jax.Array) -> jax.Array:
        return (x - self.x_mean) / self.x_std

    def normalise_y(self, y: jax.Array) -> jax.Array:
        return (y - self.y_mean) / self.y_std

    def init_state(self, n: int):
        return self.net.init_state(n)

    def step(self, x_t: jax.Array, state):
        """One time step for streaming use: x_t (N, C) -> y_t (N, O), new state."""
        y_t, state = self.net.step(self.normalise_x(x_t), state)
        return y_t * self.y_std + self.y_mean, state


def read_out(head, h: jax.Array, x: jax.Array, skip: bool) -> jax.Array:
    """The head on the encoder output h (..., H); with ``skip`` the current input x (..., C)
    is fed beside it, [h, x] (..., H + C)."""
    if skip:
        h = jnp.concatenate([h, x], axis=-1)  # (..., H + C)
    return head(h)


def step_blocks(blocks, h: jax.Array, state) -> tuple[jax.Array, tuple]:
    """One time step through stacked blocks, each ``block.step(h, s) -> (h, s)``; returns the
    last block's output and the new state of every block."""
    new = []
    for block, s in zip(blocks, state):
        h, s = block.step(h, s)
        new.append(s)
    return h, tuple(new)


def identity_scaling(c: int) -> tuple[jax.Array, jax.Array]:
    return jnp.zeros((c,), jnp.float32), jnp.ones((c,), jnp.float32)
