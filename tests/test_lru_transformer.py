"""The LRU and the Transformer against their formulas: the Transformer's attention (banded
L×L, blocked, sliced over paths) against a plain one written from the module's formula, values
and gradients; the LRU's parametrisation against the paper's recipe."""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lagnet.models.transformer as tr
from lagnet.models import build_net, model_config

A, H, W = 2, 8, 5  # heads, width, context


def _attention(seed: int = 0) -> tr.Attention:
    """An Attention with a non-zero learned bias, so its gradient and its effect are tested."""
    attn = tr.Attention(H, A, W, rng=np.random.default_rng(seed))
    near = jax.random.normal(jax.random.PRNGKey(seed), attn.near.shape)
    return eqx.tree_at(lambda a: a.near, attn, near)


def plain_attention(attn: tr.Attention, u: jax.Array) -> jax.Array:
    """score(t, s) = q_t·k_s/sqrt(E) - m·(t-s) + r[t-s] (r = 0 from R on), keys t-W < s ≤ t,
    softmax over s, the values' weighted sum, the output projection: every pair at once."""
    n, length, _ = u.shape
    q, k, v = (a.reshape(n, length, A, -1) for a in jnp.split(u @ attn.w_qkv + attn.b_qkv, 3, -1))
    t = np.arange(length)
    d = t[:, None] - t[None, :]  # (L, L)
    r = attn.near.shape[1]
    near = jnp.where((d >= 0) & (d < r), attn.near[:, np.clip(d, 0, r - 1)], 0.0)  # (A, L, L)
    scores = jnp.einsum("ntae,nsae->nats", q, k) / math.sqrt(H // A)
    scores = scores - tr.alibi_slopes(A)[:, None, None] * d + near
    scores = jnp.where((d >= 0) & (d < W), scores, -jnp.inf)
    out = jnp.einsum("nats,nsae->ntae", jax.nn.softmax(scores, -1), v)
    return out.reshape(n, length, H) @ attn.w_out + attn.b_out


@pytest.mark.parametrize("length", [4, 7, 23])  # L ≤ W; one banded L×L; blocks of W
@pytest.mark.parametrize("sliced", [False, True])
def test_attention_equals_its_formula(length, sliced, monkeypatch):
    """Values and gradients (learned bias, weights, input) of the attention equal those of the
    plain formula, in each layout, whole or sliced over paths (3 paths in slices of 2: one
    padded)."""
    if sliced:
        monkeypatch.setattr(tr, "CHUNK_SCORES", 2 * tr._scores(length, W) * A)
        assert tr._chunk(3, tr._scores(length, W) * A) == 2
    attn = _attention()
    u = jax.random.normal(jax.random.PRNGKey(1), (3, length, H))
    weight = jax.random.normal(jax.random.PRNGKey(2), (3, length, H))

    def loss(fn, attn, u):
        return jnp.sum(fn(attn, u) * weight)

    ours = eqx.filter_jit(eqx.filter_value_and_grad(lambda a, u: loss(tr.Attention.__call__, a, u)))
    ref = eqx.filter_jit(eqx.filter_value_and_grad(lambda a, u: loss(plain_attention, a, u)))
    (v1, g1), (v2, g2) = ours(attn, u), ref(attn, u)
    np.testing.assert_allclose(float(v1), float(v2), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(attn(u), plain_attention(attn, u), rtol=1e-5, atol=1e-5)
    for a, b in zip(jax.tree_util.tree_leaves(g1), jax.tree_util.tree_leaves(g2)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)
    assert np.abs(np.asarray(g1.near)).max() > 1e-3  # the bias's gradient is not trivially 0


def test_transformer_sliced_over_paths_equals_whole(monkeypatch):
    """The network's forward and gradient are the same whether the paths go through at once or
    one at a time (the CPU's layout)."""
    cfg = model_config(kind="transformer", hidden=H, heads=A, context=W)
    net = build_net(cfg, 1, 1, jax.random.PRNGKey(0))
    x = jax.random.normal(jax.random.PRNGKey(1), (3, 12, 1))

    def run(chunk_scores):
        monkeypatch.setattr(tr, "CHUNK_SCORES", chunk_scores)
        loss = lambda m: jnp.mean(m(x) ** 2)  # noqa: E731
        return eqx.filter_jit(eqx.filter_value_and_grad(loss))(net)

    (v1, g1), (v2, g2) = run(1), run(10**9)  # slices of 1 path; all 3 at once
    np.testing.assert_allclose(float(v1), float(v2), rtol=1e-5)
    for a, b in zip(jax.tree_util.tree_leaves(g1), jax.tree_util.tree_leaves(g2)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-6)
