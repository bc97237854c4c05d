"""Sequence models, all (N, L, C_in) -> (N, L, C_out) and causal. One file per family, each
declaring itself in :data:`lagnet.models.family.FAMILIES`.

``build_net(cfg, c_in, c_out, key)`` makes the trainable network of a gradient-trained family;
``Normalised`` wraps it with the scalings that put predictions in the user's units.
"""

from __future__ import annotations

import equinox as eqx
import jax
import numpy as np

from lagnet.errors import LagnetError
from lagnet.models.base import Normalised as Normalised
from lagnet.models.base import SequenceNet as SequenceNet
from lagnet.models.base import identity_scaling as identity_scaling
from lagnet.models.family import FAMILIES as FAMILIES
from lagnet.models.family import ModelConfig as ModelConfig
from lagnet.models.family import family as family
from lagnet.models.family import model_config as model_config


def build_net(
    cfg: ModelConfig, c_in: int, c_out: int, key: jax.Array, *, max_lag: int | None = None
) -> SequenceNet:
    """The untrained network for ``cfg`` with ``c_in`` input and ``c_out`` output channels.

    ``max_lag`` is the target formula's largest lag where known (it sets default windows).
    Closed-form families (esn, narx) are fitted, not built: see ``lagnet.fitting``.
    """
    fam = family(cfg.kind)
    if fam.build is None:
        raise LagnetError("model.kind", cfg.kind, "is not a gradient-trained family")
    return fam.build(cfg, c_in, c_out, key, max_lag=max_lag)


@eqx.filter_jit
def predict(model, x: jax.Array) -> jax.Array:
    """``model(x)`` compiled once per model structure and input shape (not once per call)."""
    return model(x)


def batched(fn, x: np.ndarray, batch: int = 256, pad: bool = False) -> np.ndarray:
    """``fn`` over x (N, L, C) ``batch`` paths at a time, as one NumPy array. With ``pad`` the
    last batch is padded with zeros to the same shape, so ``fn`` compiles once. No paths: an
    empty array of ``fn``'s output shape."""
    if x.shape[0] == 0:
        return np.asarray(fn(np.zeros((1, *x.shape[1:]), x.dtype)))[:0]
    size = min(batch, x.shape[0])
    extra = -x.shape[0] % size if pad else 0
    xp = np.concatenate([x, np.zeros((extra, *x.shape[1:]), x.dtype)]) if extra else x
    out = [np.asarray(fn(xp[i : i + size])) for i in range(0, xp.shape[0], size)]
    return np.concatenate(out, axis=0)[: x.shape[0]]


def predict_batched(model, x: np.ndarray, batch: int = 256, pad: bool = False) -> np.ndarray:
    """``model(x)`` on the host's x, ``batch`` paths at a time (see :func:`batched`)."""
    return batched(lambda xb: predict(model, xb), x, batch, pad)


def count_parameters(net) -> int:
    return sum(a.size for a in jax.tree_util.tree_leaves(eqx.filter(net, eqx.is_array)))
