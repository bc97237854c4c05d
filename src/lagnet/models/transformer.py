"""A small causal Transformer encoder with sliding-window attention and ALiBi positions.

Pre-LN blocks (Xiong et al. 2020):  h ← h + Attn(LN(h));  h ← h + MLP(LN(h)),  MLP 4× wide, gelu.
Step t attends to the last ``context`` steps, t-context+1 … t (a banded causal mask). Positions
enter only as biases on the score of query t and key s that depend on the distance d = t - s:

    score = q·k/sqrt(E) - m_k·d + r_k[d]        (r_k[d] = 0 for d ≥ NEAR)

-m_k·d is ALiBi (Press, Smith & Lewis 2022, "Train Short, Test Long"), fixed slopes
m_k = 2^(-8(k+1)/heads); r_k is a learned bias for the NEAR nearest distances, as T5's relative
bias (Raffel et al. 2020). ALiBi alone cannot single out step t-1 (its slopes are gentle and
content does not say which step is which): learning x[t]·x[t-1] in 200 steps it stayed at
MSE 0.44·Var(y) where r_k reached 0.03. Nothing depends on absolute position, so a model trained on short paths
runs on paths 10× longer — evaluation does.

Sequences much longer than ``context`` are cut into blocks of ``context`` steps; a block's
queries see its own keys and the previous block's, so memory grows as L·context rather than L²
(where one banded L×L has fewer scores, as at L = 200, W = 128, that is used instead). On the
CPU the paths go through the network a few at a time, each slice's scores small enough to stay
in cache and recomputed in the backward pass, and the learned bias's gradient is read off the
scores' gradient on its R diagonals: a train step at N = 128, L = 200 went from 1.2–2.4 s to
0.25–0.48 s on the shared 2-core machine (benchmarks/transformer_step.py).

Legend: N paths, L time steps, C channels, H model width, A heads, E = H/A per head, O outputs,
W context, B blocks.
"""

from __future__ import annotations

import math
from typing import ClassVar, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from pydantic import Field

from lagnet.errors import LagnetError
from lagnet.models.base import SequenceNet, read_out, step_blocks
from lagnet.models.family import FAMILIES, Family, NetConfig, grow_net
from lagnet.models.layers import MLPHead, host_rng, uniform
from lagnet.models.lru import LayerNorm

NEAR = 8  # distances with a learned bias of their own
_MASKED = -1e30  # a score that softmax turns into an exact zero weight
CHUNK_SCORES = 1_000_000  # scores per slice of paths on the CPU


def alibi_slopes(heads: int) -> np.ndarray:
    """m_k = 2^(-8(k+1)/heads): geometric, from 2^(-8/heads) down to 2^-8."""
    return 2.0 ** (-8.0 * np.arange(1, heads + 1) / heads)


def _near_adder(distance: np.ndarray, r: int):
    """scores (..., A, Q, S), near (A, R) -> scores + near[:, distance] where distance < R, with
    a gradient for ``near`` read off the R diagonals of the scores' gradient (a gather of
    N·A·R·Q numbers) — not a contraction of the whole (N, A, Q, S) gradient with a one-hot,
    which took about half the time of an attention layer's gradient on the CPU."""
    q_len = distance.shape[0]
    onehot = (distance[None] == np.arange(r)[:, None, None]).astype(np.float32)  # (R, Q, S)
    cols, hit = np.zeros((r, q_len), np.int32), np.zeros((r, q_len), bool)
    for d in range(r):  # the key column at distance d of each query row, if any
        rows, js = np.nonzero(distance == d)
        cols[d, rows], hit[d, rows] = js, True
    rows = np.arange(q_len)[None, :]

    @jax.custom_vjp
    def add(scores, near):
        return scores + (near @ onehot.reshape(r, -1)).reshape(-1, *onehot.shape[1:])

    def forward(scores, near):
        return add(scores, near), None

    def backward(_, g):
        diagonals = jnp.where(hit, g[..., rows, cols], 0.0)  # (..., A, R, Q)
        return g, diagonals.sum(-1).reshape(-1, *diagonals.shape[-3:-1]).sum(0)

    add.defvjp(forward, backward)
    return add


def _scores(length: int, context: int) -> int:
    """Attention scores per path and head: one banded L×L, or blocks of W queries by 2W keys
    where that is fewer."""
    nb = -(-length // context)
    return min(length * length, nb * 2 * context * context)


def _chunk(n: int, per_path: int) -> int:
    """Paths per slice of the attention: on the CPU a slice whose scores fit in cache
    (``CHUNK_SCORES`` numbers; measured fastest at L = 200), elsewhere all of them at once."""
    if jax.default_backend() != "cpu":
        return n
    fit = max(1, CHUNK_SCORES // max(per_path, 1))
    return min(n, 1 << (fit.bit_length() - 1))  # a power of two: no padding of 2^k paths


def _by_chunks(fn, arrays, chunk: int):
    """fn over slices of ``chunk`` paths (the leading axis), one after another, each slice
    recomputed in the backward pass rather than stored: (N, ...) arrays -> (N, ...)."""
    n = arrays[0].shape[0]
    if chunk >= n:
        return fn(*arrays)
    groups = -(-n // chunk)
    pad = lambda a: jnp.pad(a, [(0, groups * chunk - n)] + [(0, 0)] * (a.ndim - 1))  # noqa: E731
    split = tuple(pad(a).reshape(groups, chunk, *a.shape[1:]) for a in arrays)
    out = jax.lax.map(jax.checkpoint(lambda a: fn(*a)), split)
    return out.reshape(groups * chunk, *out.shape[2:])[:n]


class Attention(eqx.Module):
    """Multi-head self-attention over the last ``context`` steps with ALiBi biases."""

    w_qkv: jax.Array  # (H, 3H)
    b_qkv: jax.Array  # (3H,)
    w_out: jax.Array  # (H, H)
    b_out: jax.Array  # (H,)
    near: jax.Array  # (A, R): learned bias for distances 0 … R-1
    heads: int = eqx.field(static=True)
    context: int = eqx.field(static=True)

    def __init__(self, width: int, heads: int, context: int, *, rng: np.random.Generator):
        bound = 1.0 / math.sqrt(width)
        self.w_qkv = uniform(rng, (width, 3 * width), bound)
        self.b_qkv = jnp.zeros((3 * width,), jnp.float32)
        self.w_out = uniform(rng, (width, width), bound)
        self.b_out = jnp.zeros((width,), jnp.float32)
        self.near = jnp.zeros((heads, min(NEAR, context)), jnp.float32)
        self.heads, self.context = heads, context

    def _qkv(self, u: jax.Array):
        """u (..., H) -> q, k, v, each (..., A, E); q already scaled by 1/sqrt(E)."""
        q, k, v = jnp.split(u @ self.w_qkv + self.b_qkv, 3, axis=-1)
        split = lambda a: a.reshape(*a.shape[:-1], self.heads, -1)  # noqa: E731 — (..., A, E)
        q, k, v = split(q), split(k), split(v)
        return q / math.sqrt(q.shape[-1]), k, v

    def _attend(self, q, k, v, distance, valid):
        """Scores q·k - m·distance + r[distance], masked where not ``valid``, softmax over
        keys, weighted sum of v. q (N, ..., Q, A, E), k and v (N, ..., S, A, E), distance (Q, S)
        and valid broadcastable to (..., 1, Q, S) -> (N, ..., Q, A, E)."""
        slopes = alibi_slopes(self.heads).astype(np.float32)[:, None, None]  # fixed, not trained
        fixed = jnp.where(valid, -slopes * distance, _MASKED).astype(jnp.float32)  # (..., A, Q, S)
        add_near = _near_adder(np.asarray(distance), self.near.shape[1])

        def attend(q, k, v):
            # Heads moved before time, then plain batched matmuls: the same contraction written
            # as one einsum over (..., Q, A, E) ran 3.8× slower (forward + gradient) on the CPU.
            qh, kh, vh = (jnp.moveaxis(a, -2, -3) for a in (q, k, v))  # (..., A, Q|S, E)
            scores = add_near(qh @ jnp.swapaxes(kh, -1, -2) + fixed, self.near)  # (..., A, Q, S)
            return jnp.moveaxis(jax.nn.softmax(scores, axis=-1) @ vh, -3, -2)  # (..., Q, A, E)

        return _by_chunks(attend, (q, k, v), _chunk(q.shape[0], fixed.size))

    def __call__(self, u: jax.Array) -> jax.Array:
        """u: (N, L, H) -> (N, L, H)."""
        n, length, width = u.shape
        q, k, v = self._qkv(u)  # (N, L, A, E)
        w = self.context
        nb = -(-length // w)
        if _scores(length, w) == length * length:  # one banded L×L: fewer scores than blocks
            t = np.arange(length)
            distance = (t[:, None] - t[None, :]).astype(np.float32)  # (L, L)
            out = self._attend(q, k, v, distance, (distance >= 0) & (distance < w))
        else:
            pad = ((0, 0), (0, nb * w - length), (0, 0), (0, 0))
            blocks = lambda a: jnp.pad(a, pad).reshape(n, nb, w, *a.shape[2:])  # noqa: E731
            qb, kb, vb = blocks(q), blocks(k), blocks(v)  # (N, B, W, A, E)
            shift = ((0, 0), (1, 0), (0, 0), (0, 0), (0, 0))  # block b gets block b-1's keys
            kb = jnp.concatenate([jnp.pad(kb, shift)[:, :-1], kb], axis=2)  # (N, B, 2W, A, E)
            vb = jnp.concatenate([jnp.pad(vb, shift)[:, :-1], vb], axis=2)
            # Query i of block b is step b·W + i; key j is step (b-1)·W + j.
            i, j = np.arange(w)[:, None], np.arange(2 * w)[None, :]
            distance = (w + i - j).astype(np.float32)  # (W, 2W)
            valid = (distance >= 0) & (distance < w)
            first = np.broadcast_to(j >= w, (w, 2 * w))  # block 0 has no previous block
            valid = np.stack([valid & first] + [valid] * (nb - 1))[:, None]  # (B, 1, W, 2W)
            out = self._attend(qb, kb, vb, distance, valid)  # (N, B, W, A, E)
            out = out.reshape(n, nb * w, self.heads, -1)[:, :length]  # (N, L, A, E)
        return out.reshape(n, length, width) @ self.w_out + self.b_out  # (N, L, H)

    def init_state(self, n: int, width: int):
        """Keys and values of the last W steps, oldest first, and the step count."""
        kv = jnp.zeros((n, self.context, self.heads, width // self.heads), jnp.float32)
        return kv, kv, jnp.zeros((), jnp.int32)

    def step(self, u_t: jax.Array, state):
        """u_t (N, H) -> (N, H), new state."""
        k_buf, v_buf, t = state
        q, k, v = self._qkv(u_t[:, None])  # (N, 1, A, E)
        k_buf = jnp.concatenate([k_buf[:, 1:], k], axis=1)  # (N, W, A, E), newest last
        v_buf = jnp.concatenate([v_buf[:, 1:], v], axis=1)
        distance = np.arange(self.context - 1, -1, -1, dtype=np.float32)[None, :]  # (1, W)
        valid = distance <= t  # no keys from before the start
        out = self._attend(q, k_buf, v_buf, distance, valid)[:, 0]  # (N, A, E)
        y_t = out.reshape(out.shape[0], -1) @ self.w_out + self.b_out  # (N, H)
        return y_t, (k_buf, v_buf, t + 1)


class TransformerBlock(eqx.Module):
    """h ← h + Attn(LN(h)); h ← h + MLP(LN(h))."""

    norm1: LayerNorm
    attn: Attention
    norm2: LayerNorm
    mlp: MLPHead

    def __init__(self, width: int, heads: int, context: int, *, rng: np.random.Generator):
        self.norm1 = LayerNorm(width)
        self.attn = Attention(width, heads, context, rng=rng)
        self.norm2 = LayerNorm(width)
        self.mlp = MLPHead(width, (4 * width,), width, "gelu", rng=rng)

    def __call__(self, h: jax.Array) -> jax.Array:
        h = h + self.attn(self.norm1(h))
        return h + self.mlp(self.norm2(h))

    def step(self, h_t: jax.Array, state):
        a_t, state = self.attn.step(self.norm1(h_t), state)
        h_t = h_t + a_t
        return h_t + self.mlp(self.norm2(h_t)), state


class TransformerConfig(NetConfig):
    """A causal encoder of ``layers`` blocks, ``heads`` heads, attending over the last
    ``context`` steps."""

    DEFAULT_LAYERS: ClassVar[int] = 2
    kind: Literal["transformer"] = "transformer"
    heads: int = Field(4, gt=0)
    context: int = Field(128, gt=0)


def _widen(cfg: TransformerConfig, need: int) -> tuple[str, str, dict]:
    context = -(-(need - 1) // cfg.num_layers) + 1
    return (
        f"{cfg.num_layers} layers of model.context = {cfg.context}",
        f"a longer context: model.context = {context}",
        {"model.context": context},
    )


class Transformer(SequenceNet):
    """A linear embedding C -> ``hidden``, ``layers`` pre-LN blocks with ``heads`` heads over the
    last ``context`` steps, a final LayerNorm and an MLP head (reading [h_t, x_t] with ``skip``).
    Streaming keeps each block's last ``context`` keys and values.

    >>> net = Transformer(TransformerConfig(hidden=8, heads=2, context=4), 1, 1,
    ...                   key=jax.random.PRNGKey(0))
    >>> net(jnp.zeros((3, 10, 1))).shape
    (3, 10, 1)
    """

    w_in: jax.Array  # (C, H)
    b_in: jax.Array  # (H,)
    blocks: tuple[TransformerBlock, ...]
    norm: LayerNorm
    head: MLPHead
    skip: bool = eqx.field(static=True)

    def __init__(self, cfg: TransformerConfig, c_in: int, c_out: int, *, key):
        if cfg.hidden % cfg.heads:
            raise LagnetError("model.heads", cfg.heads, f"must divide model.hidden ({cfg.hidden})")
        rng = host_rng(key)
        bound = 1.0 / math.sqrt(c_in)
        self.w_in = uniform(rng, (c_in, cfg.hidden), bound)
        self.b_in = uniform(rng, (cfg.hidden,), bound)
        self.blocks = tuple(
            TransformerBlock(cfg.hidden, cfg.heads, cfg.context, rng=rng)
            for _ in range(cfg.num_layers)
        )
        self.norm = LayerNorm(cfg.hidden)
        self.skip = cfg.skip
        self.head = MLPHead(
            cfg.hidden + (c_in if cfg.skip else 0), cfg.head, c_out, cfg.head_activation, rng=rng
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        """x: (N, L, C) -> (N, L, O). On the CPU the paths go through in slices whose
        attention scores fit in cache (``_by_chunks``)."""

        def encode(x):
            h = x @ self.w_in + self.b_in  # (N, L, H)
            for block in self.blocks:
                h = block(h)
            return read_out(self.head, self.norm(h), x, self.skip)  # (N, L, O)

        per_path = self.blocks[0].attn.heads * _scores(x.shape[1], self.blocks[0].attn.context)
        return _by_chunks(encode, (x,), _chunk(x.shape[0], per_path))

    @property
    def receptive_field(self) -> int:
        """Each layer attends to the last ``context`` steps: 1 + layers·(context − 1)."""
        return 1 + len(self.blocks) * (self.blocks[0].attn.context - 1)

    def init_state(self, n: int):
        width = self.w_in.shape[1]
        return tuple(block.attn.init_state(n, width) for block in self.blocks)

    def step(self, x_t: jax.Array, state):
        """x_t (N, C) -> y_t (N, O), new state."""
        h, new = step_blocks(self.blocks, x_t @ self.w_in + self.b_in, state)
        h = self.norm(h)
        return read_out(self.head, h, x_t, self.skip), new


FAMILIES.register(
    Family(
        kind="transformer",
        config=TransformerConfig,
        summary="causal Transformer, sliding-window attention, ALiBi",
        build=lambda cfg, c_in, c_out, key, max_lag=None: Transformer(cfg, c_in, c_out, key=key),
        # each layer attends to t-context+1 … t
        reach=lambda cfg: 1 + cfg.num_layers * (cfg.context - 1),
        widen=_widen,
        grow=grow_net,
        # context < L: the full forward runs the blocked sliding-window path
        examples={"transformer": dict(hidden=8, heads=2, context=4)},
    )
)
