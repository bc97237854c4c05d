"""The array side of the formula language: lagged values, window functions, exponentially
weighted means and recursive targets. :mod:`lagnet.targets` parses a formula; this file computes.

Every place a formula reads a series is a :class:`Ref` ``(op, name, size, lag)``:

    x[t-k]             Ref("at", "x", 1, k)     x[t-k]
    sum(x, k, lag=l)   Ref("sum", "x", k, l)    Σ_{j=l}^{l+k-1} x[t-j]
    mean(x, k, lag=l)  Ref("mean", "x", k, l)   sum / k
    std(x, k, lag=l)   Ref("std", "x", k, l)    population std of x[t-l-k+1 .. t-l]
    max / min(x, k)    Ref("max" | "min", …)    largest / smallest of the same window
    ewm(x, α, lag=l)   Ref("ewm", "x", α, l)    m[t-l], m_t = α·x_t + (1-α)·m_{t-1}, m_0 = x_0

A ref's *extent* is how far back it looks: ``k-1+lag`` for a window, ``lag`` for the others.
Values a ref would read before t = 0 are filled with zeros here; the valid-step mask of
:class:`lagnet.targets.Target` hides them.

Windows are computed by doubling: blocks of 1, 2, 4, … steps are merged pairwise, and the
window of k steps is put together from the blocks of k's binary digits — about 2·log2(k)
shifted elementwise operations however long the window, and every sum is a balanced tree of
k terms (rounding error ~ log2(k)·eps, where cumsum differences lose ~ t·eps to cancellation).
The population std merges (count, mean, M2) triples with the update of Chan, Golub & LeVeque
(1979), "Updating formulae and a pairwise algorithm for computing sample variances", which
never subtracts two large sums of squares.

Legend: N paths, L time steps.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

WINDOWS = ("sum", "mean", "std", "max", "min")
State = tuple[jax.Array, ...]


class Ref(NamedTuple):
    """One read of a series: ``op`` "at", a window name or "ewm"; ``size`` the window length
    (1 for "at") or ewm's alpha; ``lag`` the offset back from t."""

    op: str
    name: str
    size: int | float
    lag: int

    @property
    def extent(self) -> int:
        """How many steps before t the ref reaches."""
        if self.op in WINDOWS:
            return int(self.size) - 1 + self.lag
        return self.lag


def trace_cost(ref: Ref) -> int:
    """About how many array operations computing ``ref`` traces to (a shift and a merge are
    one or a few each): what :func:`lagnet.targets.compile_target` bounds, so that a hostile
    formula cannot take minutes to trace and compile. An ewm's scan is about 150."""
    if ref.op == "at":
        return 1
    if ref.op == "ewm":
        return 150
    k = int(ref.size)
    merges = k.bit_length() - 1 + bin(k).count("1") - 1
    return 2 + merges * (15 if ref.op == "std" else 3)


def shift(x: jax.Array, k: int, fill: float = 0.0) -> jax.Array:
    """x moved k steps later along time: out[:, t] = x[:, t-k], ``fill`` before the start."""
    if k == 0:
        return x
    # One lax.pad (low k, high -k crops the end): jnp.pad + a slice took ~6 ms each to trace,
    # so a formula of 220 lags spent over a second tracing.
    return jax.lax.pad(x, jnp.asarray(fill, x.dtype), [(0, 0, 0), (k, -k, 0)])  # (N, L)


# --------------------------------------------------------------------------- sliding windows
def _merge_sum(old: State, n_old: int, new: State, n_new: int) -> State:
    return (old[0] + new[0],)


def _merge_max(old: State, n_old: int, new: State, n_new: int) -> State:
    return (jnp.maximum(old[0], new[0]),)


def _merge_min(old: State, n_old: int, new: State, n_new: int) -> State:
    return (jnp.minimum(old[0], new[0]),)


def _merge_moments(old: State, n_old: int, new: State, n_new: int) -> State:
    """(mean, M2) of two disjoint stretches of n_old and n_new values (Chan et al. 1979)."""
    n = n_old + n_new
    delta = new[0] - old[0]
    return (old[0] + delta * (n_new / n), old[1] + new[1] + delta**2 * (n_old * n_new / n))


_MERGE: dict[str, Callable[[State, int, State, int], State]] = {
    "sum": _merge_sum,
    "mean": _merge_sum,
    "max": _merge_max,
    "min": _merge_min,
    "std": _merge_moments,
}


def sliding(x: jax.Array, k: int, op: str) -> jax.Array:
    """``op`` over the window x[t-k+1 .. t] at every t; x (N, L) -> (N, L).

    The first k-1 steps mix in zeros from before the start (they are masked downstream).
    """
    merge = _MERGE[op]
    leaf: State = (x, jnp.zeros_like(x)) if op == "std" else (x,)
    blocks = [leaf]  # blocks[b][..][:, t] summarises x[t-2**b+1 .. t]
    while 2 ** len(blocks) <= k:
        b, size = blocks[-1], 2 ** (len(blocks) - 1)
        blocks.append(merge(tuple(shift(s, size) for s in b), size, b, size))
    acc: State | None = None
    n = 0  # acc summarises x[t-n+1 .. t]; the next block, older, ends at t-n
    for b in reversed(range(len(blocks))):
        size = 2**b
        if not k & size:
            continue
        block = tuple(shift(s, n) for s in blocks[b])
        acc = block if acc is None else merge(block, size, acc, n)
        n += size
    assert acc is not None and n == k
    if op == "mean":
        return acc[0] / k
    if op == "std":
        return jnp.sqrt(acc[1] / k)
    return acc[0]


def ewm(x: jax.Array, alpha: float) -> jax.Array:
    """Exponentially weighted mean along time, m_t = α·x_t + (1-α)·m_{t-1}, m_0 = x_0; (N, L).

    The recursion is the composition of affine maps m ↦ a·m + b, which is associative, so it
    runs as a parallel prefix scan (pandas: ``Series.ewm(alpha=α, adjust=False).mean()``).
    """
    a = jnp.full_like(x, 1.0 - alpha).at[:, 0].set(0.0)  # a_0 = 0: m_0 = x_0 whatever m_{-1}
    b = (alpha * x).at[:, 0].set(x[:, 0])

    def compose(first, then):
        (a1, b1), (a2, b2) = first, then
        return a1 * a2, a2 * b1 + b2

    return jax.lax.associative_scan(compose, (a, b), axis=1)[1]  # (N, L)


def ref_values(ref: Ref, x: jax.Array) -> jax.Array:
    """The values of ``ref`` at every step, from its series x (N, L); zeros before the start."""
    if ref.op == "at":
        return shift(x, ref.lag)
    if ref.op == "ewm":
        return shift(ewm(x, float(ref.size)), ref.lag)
    return shift(sliding(x, int(ref.size), ref.op), ref.lag)


# --------------------------------------------------------------------------- recursion
def _read_history(ref: Ref, hist: jax.Array, ewms: Mapping[float, jax.Array]) -> jax.Array:
    """A ref of the recursive series at the current step, from its past: hist[:, j] = y[t-1-j],
    ewms[α][:, j] = m[t-1-j]. Every ref here has lag >= 1. Returns (N,)."""
    if ref.op == "at":
        return hist[:, ref.lag - 1]
    if ref.op == "ewm":
        return ewms[float(ref.size)][:, ref.lag - 1]
    w = hist[:, ref.lag - 1 : ref.lag - 1 + int(ref.size)]  # (N, k)
    if ref.op == "std":  # two passes over k values: no cancellation
        return jnp.sqrt(jnp.mean((w - jnp.mean(w, axis=1, keepdims=True)) ** 2, axis=1))
    return {"sum": jnp.sum, "mean": jnp.mean, "max": jnp.max, "min": jnp.min}[ref.op](w, axis=1)


def recurse(
    expr: Callable[[Mapping[Any, Any], Any], Any],
    own: Sequence[Ref],
    outside: Mapping[Ref, jax.Array],
    init: float,
    n: int,
    length: int,
    consts: Mapping[Any, Any] | None = None,
) -> jax.Array:
    """y[t] = expr(refs at t) for t = 0, 1, …, L-1 by ``lax.scan``; returns y (N, L).

    ``own`` are the refs of y itself (all with lag >= 1), read from a carry holding the last
    max-extent values of y (and, per ewm alpha, the last values of y's ewm); ``outside`` holds
    the (N, L) values of every other ref; ``consts`` the formula's parameters (scalars, by
    their :class:`lagnet.targets_vocab.Param` key). y and its ewm are ``init`` before t = 0; y's ewm
    starts afresh at m_0 = y_0, as for any series.
    """
    depth = max([r.extent for r in own if r.op != "ewm"] + [1])
    ewm_depth: dict[float, int] = {}
    for r in own:
        if r.op == "ewm":
            ewm_depth[float(r.size)] = max(ewm_depth.get(float(r.size), 1), r.lag)
    keys = tuple(outside)
    xs = (jnp.arange(length), tuple(outside[r].T for r in keys))  # (L,), each (L, N)
    carry0 = (
        jnp.full((n, depth), init, jnp.float32),
        {a: jnp.full((n, d), init, jnp.float32) for a, d in ewm_depth.items()},
    )

    def step(carry, inputs):
        hist, ewms = carry
        t, now = inputs
        env: dict[Any, Any] = dict(consts or {})
        env.update(zip(keys, now))
        env.update({r: _read_history(r, hist, ewms) for r in own})
        y = jnp.broadcast_to(jnp.asarray(expr(env, jnp), jnp.float32), (n,))  # (N,)
        hist = jnp.concatenate([y[:, None], hist[:, :-1]], axis=1)  # (N, depth)
        new = {}
        for a, buf in ewms.items():
            m = jnp.where(t == 0, y, a * y + (1.0 - a) * buf[:, 0])  # (N,)
            new[a] = jnp.concatenate([m[:, None], buf[:, :-1]], axis=1)
        return (hist, new), y

    _, ys = jax.lax.scan(step, carry0, xs)  # (L, N)
    return ys.T  # (N, L)
