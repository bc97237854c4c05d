"""Sequence models, all (N, L, C_in) -> (N, L, C_out) and causal.

``build_net(cfg, c_in, c_out, key)`` makes the trainable network for a ``ModelConfig``;
``Normalised`` wraps it with the scalings that put predictions in the user's units.
"""

from __future__ import annotations

import equinox as eqx
import jax

from lagnet.config import ModelConfig
from lagnet.models.base import Normalised as Normalised
from lagnet.models.base import SequenceNet as SequenceNet
from lagnet.models.base import identity_scaling as identity_scaling
from lagnet.models.rnn import RecurrentNet as RecurrentNet


def build_net(cfg: ModelConfig, c_in: int, c_out: int, key: jax.Array) -> SequenceNet:
    """The untrained network for ``cfg`` with ``c_in`` input and ``c_out`` output channels."""
    if cfg.kind in ("rnn", "gru", "lstm"):
        return RecurrentNet(cfg.kind, c_in, c_out, cfg.hidden, cfg.layers, cfg.activation,
                            cfg.head, cfg.head_activation, cfg.skip, key=key)
    raise ValueError(f"model.kind: {cfg.kind!r} is not a known model")  # pragma: no cover


@eqx.filter_jit
def predict(model, x: jax.Array) -> jax.Array:
    """``model(x)`` compiled once per model structure and input shape (not once per call)."""
    return model(x)


def count_parameters(net) -> int:
    return sum(a.size for a in jax.tree_util.tree_leaves(eqx.filter(net, eqx.is_array)))
