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


def default_window(cfg: ModelConfig, max_lag: int | None) -> int:
    """``model.window``, or the formula's largest lag + 1 when that is the memory needed
    (``Task.memory_hint``), else 10."""
    if cfg.window is not None:
        return cfg.window
    return max_lag + 1 if max_lag is not None else 10


def build_net(cfg: ModelConfig, c_in: int, c_out: int, key: jax.Array, *,
              max_lag: int | None = None) -> SequenceNet:
    """The untrained network for ``cfg`` with ``c_in`` input and ``c_out`` output channels.

    ``max_lag`` is the target formula's largest lag where known (it sets default windows).
    Closed-form families (esn, narx) are not built here: they are fitted, see ``lagnet.fitting``.
    """
    kind = cfg.kind
    if kind in ("rnn", "gru", "lstm"):
        return RecurrentNet(kind, c_in, c_out, cfg.hidden, cfg.num_layers, cfg.activation,
                            cfg.head, cfg.head_activation, cfg.skip, key=key)
    if kind == "window":
        from lagnet.models.window import WindowNet

        return WindowNet(cfg, c_in, c_out, default_window(cfg, max_lag), key=key)
    if kind == "tcn":
        from lagnet.models.tcn import TCN

        return TCN(cfg, c_in, c_out, key=key)
    if kind == "lru":
        from lagnet.models.lru import LRUNet

        return LRUNet(cfg, c_in, c_out, key=key)
    if kind == "transformer":
        from lagnet.models.transformer import Transformer

        return Transformer(cfg, c_in, c_out, key=key)
    raise ValueError(f"model.kind: {kind!r} is not a gradient-trained model")  # pragma: no cover


@eqx.filter_jit
def predict(model, x: jax.Array) -> jax.Array:
    """``model(x)`` compiled once per model structure and input shape (not once per call)."""
    return model(x)


def count_parameters(net) -> int:
    return sum(a.size for a in jax.tree_util.tree_leaves(eqx.filter(net, eqx.is_array)))
