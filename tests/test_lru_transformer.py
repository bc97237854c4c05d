"""The LRU and the Transformer against their formulas: the Transformer's attention (banded
L×L, blocked, sliced over paths) against a plain one written from the module's formula, values
and gradients; the LRU's parametrisation against the paper's recipe."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

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


LAYOUTS = [  # L ≤ W; one banded L×L; blocks of W — the last, whole and sliced, in the fast tier
    pytest.param(length, sliced, marks=() if length == 23 else pytest.mark.slow)
    for length in (4, 7, 23)
    for sliced in (False, True)
]


@pytest.mark.parametrize("length, sliced", LAYOUTS)
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
    outs = eqx.filter_jit(tr.Attention.__call__)(attn, u), eqx.filter_jit(plain_attention)(attn, u)
    np.testing.assert_allclose(*outs, rtol=1e-5, atol=1e-5)
    for a, b in zip(jax.tree_util.tree_leaves(g1), jax.tree_util.tree_leaves(g2)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)
    assert np.abs(np.asarray(g1.near)).max() > 1e-3  # the bias's gradient is not trivially 0


@pytest.mark.slow
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


@pytest.mark.slow
def test_transformer_step_benchmark_smoke():
    """benchmarks/transformer_step.py --smoke runs and prints its machine and a JSON line."""
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "transformer_step.py"
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run(
        [sys.executable, str(script), "--smoke"], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert "machine:" in proc.stdout and "date:" in proc.stdout
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    assert row["size"]["batch"] == 4 and row["median_s"] > 0


# ----------------------------------------------------------------------------- LRU
def _lru_layer(**settings):
    cfg = model_config(**{"kind": "lru", "hidden": 16, "lru_state": 4000, **settings})
    return build_net(cfg, 1, 1, jax.random.PRNGKey(0)).blocks[0].lru


def test_lru_defaults_follow_the_paper():
    """|λ| on the ring 0.9 … 0.999, phases uniform in [0, max_phase], γ = sqrt(1 - |λ|²),
    B with variance 1/(2H) and C with 1/P per real and imaginary part."""
    layer = _lru_layer(lru_max_phase=math.pi / 10)
    r2 = np.asarray(layer.eigenvalues[0]) ** 2 + np.asarray(layer.eigenvalues[1]) ** 2
    assert r2.min() >= 0.9**2 - 1e-6 and r2.max() <= 0.999**2 + 1e-6
    assert stats.kstest(r2, stats.uniform(0.81, 0.999**2 - 0.81).cdf).pvalue > 1e-3
    phase = np.arctan2(np.asarray(layer.eigenvalues[1]), np.asarray(layer.eigenvalues[0]))
    assert stats.kstest(phase, stats.uniform(0, math.pi / 10).cdf).pvalue > 1e-3
    np.testing.assert_allclose(np.exp(np.asarray(layer.gamma_log)), np.sqrt(1 - r2), rtol=1e-3)
    np.testing.assert_allclose(np.std(np.asarray(layer.b_re)), 1 / math.sqrt(2 * 16), rtol=0.02)
    np.testing.assert_allclose(np.std(np.asarray(layer.c_im)), 1 / math.sqrt(4000), rtol=0.02)


@pytest.mark.slow
def test_lru_recurrent_parameters_take_half_the_step():
    """One step of lagnet's optimiser (clip, Adam; p - lr·update): on its first step Adam moves
    every weight by lr (g/|g|); ν, θ and γ, in their own units, move by half that."""
    from lagnet.config import TrainConfig
    from lagnet.models.lru import RECURRENT_LR
    from lagnet.training.steps import make_optimizer

    layer = _lru_layer(hidden=4, lru_state=8)
    u = jax.random.normal(jax.random.PRNGKey(1), (2, 6, 4))
    params, static = eqx.partition(layer, eqx.is_array)
    loss = lambda p: jnp.sum(jnp.sin(eqx.combine(p, static)(u, parallel=False)))  # noqa: E731
    grads = jax.jit(jax.grad(loss))(params)
    opt = make_optimizer(TrainConfig(clip=1e6))
    updates, _ = jax.jit(opt.update)(grads, jax.jit(opt.init)(params), params)
    lr = 1e-3
    moved = eqx.combine(jax.tree_util.tree_map(lambda p, d: p - lr * d, params, updates), static)
    for name in ("nu_log", "theta_log", "gamma_log"):
        step = np.abs(np.asarray(getattr(moved, name) - getattr(layer, name)))
        np.testing.assert_allclose(step, 0.5 * lr, rtol=1e-3)
    assert RECURRENT_LR == 0.5
    np.testing.assert_allclose(np.abs(np.asarray(moved.d - layer.d)), lr, rtol=1e-3)


@pytest.mark.slow
def test_lru_without_norm_is_the_block_formula():
    """``lru_norm = "none"``, the default: each block is h + GLU(gelu(LRU(h))) with no
    normalisation (stepping equals the whole sequence: the model contract, on the defaults)."""
    cfg = model_config(kind="lru", hidden=8, lru_state=6)
    net = build_net(cfg, 2, 1, jax.random.PRNGKey(3))
    assert all(block.norm is None for block in net.blocks)
    x = jax.random.normal(jax.random.PRNGKey(4), (3, 7, 2))
    h = x @ net.w_in + net.b_in
    block = net.blocks[0]
    value, gate = jnp.split(jax.nn.gelu(block.lru(h, False)) @ block.w_glu + block.b_glu, 2, -1)
    np.testing.assert_allclose(block(h, False), h + value * jax.nn.sigmoid(gate), atol=1e-6)
    normed = model_config(kind="lru", hidden=8, lru_state=6, lru_norm="layer")
    normed = build_net(normed, 2, 1, jax.random.PRNGKey(3))
    assert all(b.norm is not None for b in normed.blocks)
