"""Linear Recurrent Unit (Orvieto et al. 2023, "Resurrecting Recurrent Neural Networks for
Long Sequences"): a complex diagonal linear recurrence, run over time by a parallel (or a
sequential) scan, in residual blocks with a nonlinear per-step mixing.

One unit, state size P, width H:

    h_t = λ ⊙ h_{t-1} + γ ⊙ (B u_t),    y_t = Re(C h_t) + D ⊙ u_t,    h_{-1} = 0
    λ = exp(-exp(ν) + i·exp(θ)),        γ = exp(γ_log), initialised to sqrt(1 - |λ|²)

|λ| starts uniform on the ring r_min ≤ |λ| ≤ r_max (uniform in area: |λ|² uniform in
[r_min², r_max²]; the paper's 0.9 … 0.999 by default) and arg λ uniform in [0, max_phase]; the
exp-parametrisation keeps |λ| < 1 throughout training, and γ keeps the state's variance near the
input's for |λ| → 1. ν, θ and γ take half the learning rate of the other weights, as the paper
advises (stored divided by ``RECURRENT_LR``; see there); a weight decay, when set, still applies
to them.
Complex parameters and states are real/imaginary float32 pairs, the arithmetic written out:
safetensors has no complex type, and on the CPU the parallel scan ran 1.5× faster on pairs
than on complex64.

Two ways over time, held equal by the tests: ``jax.lax.associative_scan`` (depth O(log L)) and a
sequential ``lax.scan``. Each is the default where it is faster — measured for a train step of
the default network at N=128, L=101: on an H200 the parallel scan, 1.4 ms against 5.7 ms; on one
CPU thread the loop, 190 ms against 280 ms, compiled in 3.5 s against 15 s.

Block:  h ← h + GLU(gelu(LRU(h))),  GLU(v) = (v W₁ + b₁) ⊙ sigmoid(v W₂ + b₂); with
``lru_norm = "layer"`` the paper's pre-norm, h ← h + GLU(gelu(LRU(LayerNorm(h)))). The network:
a linear encoder C -> H, ``layers`` blocks, an MLP head. No norm is the default: the per-step
LayerNorm divides each step by its own spread, a nonlinear rescaling that a sum over time (the
adding problem) must then undo; without it the adding problem's NRMSE at 3000 steps halved
(0.051 -> 0.025, two seeds), and at 60 s it reached 0.0035-0.0046 against 0.0115-0.0154
(benchmarks/results/lru_norm*-2026-12-05.jsonl).

Legend: N paths, L time steps, C channels, H model width, P state size, O outputs.
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

# The paper's smaller step for the recurrent parameters ν, θ, γ (Orvieto et al. 2023: e.g.
# half the learning rate). lagnet's optimiser has one rate, and Adam's step does not depend on
# the gradient's scale, so each is stored divided by this factor and used multiplied by it:
# its step, in its own units, is RECURRENT_LR × the rate.
RECURRENT_LR = 0.5


def _normal(rng: np.random.Generator, shape, std: float) -> jax.Array:
    return jax.device_put(rng.normal(0.0, std, shape).astype(np.float32))


def _cmul(ar, ai, br, bi):
    """(ar + i·ai)(br + i·bi) as a pair."""
    return ar * br - ai * bi, ar * bi + ai * br


def _combine(left, right):
    """The associative operator of h_t = a_t h_{t-1} + b_t, on (Re a, Im a, Re b, Im b):
    applying (a₁, b₁) then (a₂, b₂) is (a₂a₁, a₂b₁ + b₂)."""
    ar1, ai1, br1, bi1 = left
    ar2, ai2, br2, bi2 = right
    ar, ai = _cmul(ar2, ai2, ar1, ai1)
    br, bi = _cmul(ar2, ai2, br1, bi1)
    return ar, ai, br + br2, bi + bi2


def default_parallel() -> bool:
    """The parallel scan except on the CPU, where the sequential one is faster. JAX's default
    backend decides: a run pinned to the CPU of a GPU machine takes the parallel scan, slower
    there but with the same result."""
    return jax.default_backend() != "cpu"


class LRU(eqx.Module):
    """One linear recurrent unit, (N, L, H) -> (N, L, H). Initialisation as in the paper's
    appendix: B ~ N(0, 1/(2H)) and C ~ N(0, 1/P) per real and imaginary part, D ~ N(0, 1)."""

    nu_log_slow: jax.Array  # (P,): ν / RECURRENT_LR
    theta_log_slow: jax.Array  # (P,): θ / RECURRENT_LR
    gamma_log_slow: jax.Array  # (P,): γ_log / RECURRENT_LR
    b_re: jax.Array  # (H, P)
    b_im: jax.Array  # (H, P)
    c_re: jax.Array  # (P, H)
    c_im: jax.Array  # (P, H)
    d: jax.Array  # (H,)

    def __init__(
        self,
        width: int,
        state: int,
        r_min: float,
        r_max: float,
        *,
        rng: np.random.Generator,
        max_phase: float = 2 * math.pi,
    ):
        # 1 - U[0, 1) lies in (0, 1]: no log(0) at r_min = 0 or a zero phase.
        u1, u2 = 1.0 - rng.uniform(size=state), 1.0 - rng.uniform(size=state)
        nu_log = np.log(-0.5 * np.log(u1 * (r_max**2 - r_min**2) + r_min**2))
        theta_log = np.log(max_phase * u2)
        modulus = np.exp(-np.exp(nu_log))
        gamma_log = 0.5 * np.log(1.0 - modulus**2)
        self.nu_log_slow = jnp.asarray(nu_log / RECURRENT_LR, jnp.float32)
        self.theta_log_slow = jnp.asarray(theta_log / RECURRENT_LR, jnp.float32)
        self.gamma_log_slow = jnp.asarray(gamma_log / RECURRENT_LR, jnp.float32)
        self.b_re = _normal(rng, (width, state), 1.0 / math.sqrt(2 * width))
        self.b_im = _normal(rng, (width, state), 1.0 / math.sqrt(2 * width))
        self.c_re = _normal(rng, (state, width), 1.0 / math.sqrt(state))
        self.c_im = _normal(rng, (state, width), 1.0 / math.sqrt(state))
        self.d = _normal(rng, (width,), 1.0)

    @property
    def nu_log(self) -> jax.Array:
        return RECURRENT_LR * self.nu_log_slow

    @property
    def theta_log(self) -> jax.Array:
        return RECURRENT_LR * self.theta_log_slow

    @property
    def gamma_log(self) -> jax.Array:
        return RECURRENT_LR * self.gamma_log_slow

    @property
    def eigenvalues(self) -> tuple[jax.Array, jax.Array]:
        """λ as (Re λ, Im λ), each (P,)."""
        modulus, phase = jnp.exp(-jnp.exp(self.nu_log)), jnp.exp(self.theta_log)
        return modulus * jnp.cos(phase), modulus * jnp.sin(phase)

    def _drive(self, u: jax.Array) -> tuple[jax.Array, jax.Array]:
        """γ ⊙ (B u): (..., H) -> a pair of (..., P)."""
        p = self.nu_log_slow.shape[0]
        bu = u @ jnp.concatenate([self.b_re, self.b_im], axis=1)  # (..., 2P), one matmul
        gamma = jnp.exp(self.gamma_log)
        return bu[..., :p] * gamma, bu[..., p:] * gamma

    def _read(self, h: tuple[jax.Array, jax.Array], u: jax.Array) -> jax.Array:
        """Re(C h) + D ⊙ u: a pair of (..., P), (..., H) -> (..., H)."""
        return jnp.concatenate(h, axis=-1) @ jnp.concatenate([self.c_re, -self.c_im]) + self.d * u

    def states(self, u: jax.Array) -> tuple[jax.Array, jax.Array]:
        """All states by a parallel scan in O(log L) depth: u (N, L, H) -> a pair of (N, L, P)."""
        br, bi = self._drive(u)  # (N, L, P)
        ar, ai = (jnp.broadcast_to(a, br.shape) for a in self.eigenvalues)
        _, _, hr, hi = jax.lax.associative_scan(_combine, (ar, ai, br, bi), axis=1)
        return hr, hi

    def states_loop(self, u: jax.Array) -> tuple[jax.Array, jax.Array]:
        """The same states one step at a time (``lax.scan``): the reference, and the faster
        way on the CPU."""
        lam = self.eigenvalues
        b = tuple(jnp.swapaxes(a, 0, 1) for a in self._drive(u))  # (L, N, P) each

        def body(h, b_t):
            h = self._advance(lam, h, b_t)
            return h, h

        _, (hr, hi) = jax.lax.scan(body, self.init_state(u.shape[0]), b)  # (L, N, P)
        return jnp.swapaxes(hr, 0, 1), jnp.swapaxes(hi, 0, 1)  # (N, L, P)

    @staticmethod
    def _advance(lam, h, b_t):
        """h_t = λ ⊙ h_{t-1} + b_t on pairs."""
        hr, hi = _cmul(*lam, *h)
        return hr + b_t[0], hi + b_t[1]

    def __call__(self, u: jax.Array, parallel: bool | None = None) -> jax.Array:
        """u: (N, L, H) -> (N, L, H); ``parallel`` picks the scan (None: ``default_parallel``)."""
        parallel = default_parallel() if parallel is None else parallel
        return self._read(self.states(u) if parallel else self.states_loop(u), u)

    def init_state(self, n: int):
        h = jnp.zeros((n, self.nu_log_slow.shape[0]), jnp.float32)
        return h, h

    def step(self, u_t: jax.Array, h):
        """u_t (N, H), h a pair of (N, P) -> y_t (N, H), new h."""
        h = self._advance(self.eigenvalues, h, self._drive(u_t))
        return self._read(h, u_t), h


class LayerNorm(eqx.Module):
    """Per-step layer normalisation over the last axis, with a learned scale and shift."""

    scale: jax.Array  # (H,)
    shift: jax.Array  # (H,)

    def __init__(self, width: int):
        self.scale = jnp.ones((width,), jnp.float32)
        self.shift = jnp.zeros((width,), jnp.float32)

    def __call__(self, h: jax.Array) -> jax.Array:
        mean = h.mean(axis=-1, keepdims=True)
        var = ((h - mean) ** 2).mean(axis=-1, keepdims=True)
        return (h - mean) * jax.lax.rsqrt(var + 1e-5) * self.scale + self.shift


class LRUBlock(eqx.Module):
    """h ← h + GLU(gelu(LRU(LayerNorm(h)))), (N, L, H) -> (N, L, H); without the norm when
    ``norm`` is False."""

    norm: LayerNorm | None
    lru: LRU
    w_glu: jax.Array  # (H, 2H): value and gate
    b_glu: jax.Array  # (2H,)

    def __init__(
        self,
        width: int,
        state: int,
        r_min: float,
        r_max: float,
        max_phase: float = 2 * math.pi,
        *,
        rng: np.random.Generator,
        norm: bool = True,
    ):
        self.norm = LayerNorm(width) if norm else None
        self.lru = LRU(width, state, r_min, r_max, rng=rng, max_phase=max_phase)
        bound = 1.0 / math.sqrt(width)
        self.w_glu = uniform(rng, (width, 2 * width), bound)
        self.b_glu = uniform(rng, (2 * width,), bound)

    def _mix(self, h: jax.Array, y: jax.Array) -> jax.Array:
        value, gate = jnp.split(jax.nn.gelu(y) @ self.w_glu + self.b_glu, 2, axis=-1)
        return h + value * jax.nn.sigmoid(gate)

    def _normed(self, h: jax.Array) -> jax.Array:
        return h if self.norm is None else self.norm(h)

    def __call__(self, h: jax.Array, parallel: bool | None = None) -> jax.Array:
        return self._mix(h, self.lru(self._normed(h), parallel))

    def step(self, h_t: jax.Array, state):
        y_t, state = self.lru.step(self._normed(h_t), state)
        return self._mix(h_t, y_t), state


class LRUConfig(NetConfig):
    """Linear recurrent units: ``layers`` blocks of width ``hidden``, state size ``lru_state``,
    eigenvalue moduli initialised in [``lru_r_min``, ``lru_r_max``] (the paper's 0.9 … 0.999),
    phases in [0, ``lru_max_phase``]; ``lru_norm``: none (the default, measured better) or the
    paper's pre-norm (``"layer"``)."""

    DEFAULT_LAYERS: ClassVar[int] = 2
    kind: Literal["lru"] = "lru"
    lru_state: int = Field(64, gt=0)
    lru_r_min: float = Field(0.9, ge=0, lt=1)
    lru_r_max: float = Field(0.999, gt=0, lt=1)
    lru_max_phase: float = Field(2 * math.pi, gt=0, le=2 * math.pi)
    lru_norm: Literal["layer", "none"] = "none"


class LRUNet(SequenceNet):
    """A linear encoder C -> ``hidden``, ``layers`` LRU blocks of state size ``lru_state``, and
    an MLP head (reading [h_t, x_t] with ``skip``).

    >>> net = LRUNet(LRUConfig(hidden=8, lru_state=16), 1, 1,
    ...              key=jax.random.PRNGKey(0))
    >>> net(jnp.zeros((4, 10, 1))).shape
    (4, 10, 1)
    """

    w_in: jax.Array  # (C, H)
    b_in: jax.Array  # (H,)
    blocks: tuple[LRUBlock, ...]
    head: MLPHead
    skip: bool = eqx.field(static=True)

    def __init__(self, cfg: LRUConfig, c_in: int, c_out: int, *, key):
        if cfg.lru_r_min > cfg.lru_r_max:
            raise LagnetError(
                "model.lru_r_min",
                cfg.lru_r_min,
                f"must not exceed model.lru_r_max ({cfg.lru_r_max})",
            )
        rng = host_rng(key)
        bound = 1.0 / math.sqrt(c_in)
        self.w_in = uniform(rng, (c_in, cfg.hidden), bound)
        self.b_in = uniform(rng, (cfg.hidden,), bound)
        self.blocks = tuple(
            LRUBlock(
                cfg.hidden,
                cfg.lru_state,
                cfg.lru_r_min,
                cfg.lru_r_max,
                cfg.lru_max_phase,
                rng=rng,
                norm=cfg.lru_norm == "layer",
            )
            for _ in range(cfg.num_layers)
        )
        self.skip = cfg.skip
        self.head = MLPHead(
            cfg.hidden + (c_in if cfg.skip else 0), cfg.head, c_out, cfg.head_activation, rng=rng
        )

    def __call__(self, x: jax.Array, parallel: bool | None = None) -> jax.Array:
        """x: (N, L, C) -> (N, L, O). ``parallel``: the parallel scan (True), the sequential
        one (False), or the faster on this backend (None)."""
        h = x @ self.w_in + self.b_in  # (N, L, H)
        for block in self.blocks:
            h = block(h, parallel)
        return read_out(self.head, h, x, self.skip)  # (N, L, O)

    def init_state(self, n: int):
        return tuple(block.lru.init_state(n) for block in self.blocks)

    def step(self, x_t: jax.Array, state):
        """x_t (N, C) -> y_t (N, O), new state (a pair of (N, P) per block)."""
        h, new = step_blocks(self.blocks, x_t @ self.w_in + self.b_in, state)
        return read_out(self.head, h, x_t, self.skip), new


FAMILIES.register(
    Family(
        kind="lru",
        config=LRUConfig,
        summary="linear recurrent units (Orvieto et al. 2023)",
        build=lambda cfg, c_in, c_out, key, max_lag=None: LRUNet(cfg, c_in, c_out, key=key),
        recurrent=True,
        grow=grow_net,
        examples={"lru": dict(hidden=8, lru_state=8)},
    )
)
