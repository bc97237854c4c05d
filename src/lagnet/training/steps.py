"""The pure pieces of the gradient loop and their compiled forms.

Each step — simulate a fresh batch, evaluate the target, run the model, masked MSE on the valid
steps of the paths where the target is finite, gradient, clip, Adam, decoupled weight decay — is
one pure function ``step(params, opt_state, key, lr, consts) -> (params, opt_state, loss)``; a
chunk of steps runs under one ``jax.jit`` as a ``lax.scan``. Everything that may differ between
two runs of one shape — the seed's keys, the learning rate, the weight decay, the scalings, the
formula's parameters, a fixed data set — is an argument, never a constant baked into the
program, so:

* one compilation serves every run of a shape in a process (:func:`compiled` keeps them, keyed by
  structure), which is what lets a sweep's worker skip compiling for its second point;
* K runs of one shape train together as one program by ``vmap`` over a leading member axis
  (a *pack*). The host loop always holds that axis: a single run is a pack of one, whose
  program squeezes the axis away inside ``jit`` (free), so it runs the unbatched step.

Legend: K members, N paths, L time steps, C input channels, O outputs.
"""

from __future__ import annotations

import json
import math
from collections import OrderedDict

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

from lagnet.config import RunConfig, TrainConfig
from lagnet.models import Normalised
from lagnet.samples import EXPLODED
from lagnet.tasks import Task


def masked_mse(
    pred: jax.Array, y: jax.Array, valid: jax.Array, scale=None, per_output: bool = False
) -> jax.Array:
    """Mean squared error over paths, outputs and the valid steps only. pred, y: (N, L, O);
    ``per_output``: one per output (O,), over paths and valid steps.

    Paths whose target is not finite, or more than ``EXPLODED`` standard deviations from its
    mean, on a valid step (a recursion that exploded on a rare path) are left out of the mean;
    their NaNs never reach the gradient. ``scale``: (y_mean, y_std) when ``y`` is in the user's
    units (validation), None when it is normalised (training). A threshold on raw values left
    out every path of a target of 1e6 (prices in cents): validation MSE 0 at every row."""
    z = y if scale is None else (y - scale[0]) / scale[1]
    ok = jnp.isfinite(y) & (jnp.abs(z) < EXPLODED)
    path_ok = jnp.all(ok | ~valid[None, :, None], axis=(1, 2))  # (N,)
    w = (valid[None, :, None] & path_ok[:, None, None]).astype(pred.dtype)  # (N, L, 1)
    err = pred - jnp.where(ok, y, 0.0)
    if per_output:
        return jnp.sum(w * err**2, axis=(0, 1)) / jnp.maximum(jnp.sum(w), 1.0)
    return jnp.sum(w * err**2) / jnp.maximum(jnp.sum(w) * pred.shape[2], 1.0)


def finite_paths(y: jax.Array, valid: jax.Array) -> jax.Array:
    """(N,) bool: paths whose target is finite (and below ``EXPLODED``) on every valid step."""
    ok = jnp.isfinite(y) & (jnp.abs(y) < EXPLODED)
    return jnp.all(ok | ~valid[None, :, None], axis=(1, 2))


def lr_at(step: int, total: int, cfg: TrainConfig) -> float:
    """Linear warm-up to ``cfg.lr``, then cosine decay to ``cfg.lr·end_lr_factor`` at ``total``."""
    warmup = min(cfg.warmup, max(total // 10, 1))
    if step < warmup:
        return cfg.lr * (step + 1) / warmup
    frac = min(1.0, (step - warmup) / max(total - warmup, 1))
    end = cfg.lr * cfg.end_lr_factor
    return end + 0.5 * (cfg.lr - end) * (1.0 + math.cos(math.pi * frac))


def make_optimizer(cfg: TrainConfig) -> optax.GradientTransformation:
    """Clip by global norm, then Adam. The step applies the learning rate and the decoupled
    weight decay (``p - lr·(update + wd·p)``, AdamW's order), both arguments of the step, so the
    host can schedule the rate and a pack can hold members with different rates and decays."""
    return optax.chain(optax.clip_by_global_norm(cfg.clip), optax.scale_by_adam())


def sample(task: Task, key, n: int, length: int, tparams, arrays):
    """``task.sample`` with the formula's parameters and the process's arrays (traced)."""
    return task.sample(key, n, length, params=tparams or None, arrays=arrays)


def make_step(task: Task, static, optimizer, cfg: TrainConfig, fixed: bool = False):
    """The pure train step ``step(params, opt_state, key, lr, consts, arrays) -> (params,
    opt_state, (loss, dropped))``, ``dropped`` the batch's paths whose target was not finite.

    ``consts = (scales, data, tparams, wd)``: the model's scalings (x_mean, x_std, y_mean,
    y_std); when ``fixed``, the fixed data set (x, y, valid) to draw batches from; the
    formula's parameters (name → scalar); the weight decay. ``arrays``: what the process draws
    paths from (observed data; ``process.arrays(length)``), shared by a pack's members."""

    def loss_fn(params, x, y, valid, scales):
        x_mean, x_std, y_mean, y_std = scales
        net = eqx.combine(params, static)
        return masked_mse(net((x - x_mean) / x_std), (y - y_mean) / y_std, valid)

    def step(params, opt_state, key, lr, consts, arrays):
        scales, data, tparams, wd = consts
        if not fixed:
            x, y, valid = sample(task, key, cfg.batch, cfg.length, tparams, arrays)
        else:
            idx = jax.random.choice(key, data[0].shape[0], (cfg.batch,), replace=False)
            x, y, valid = data[0][idx], data[1][idx], data[2]
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y, valid, scales)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = jax.tree_util.tree_map(lambda p, u: p - lr * (u + wd * p), params, updates)
        dropped = y.shape[0] - jnp.sum(finite_paths((y - scales[2]) / scales[3], valid))
        return params, opt_state, (loss, dropped)

    return step


def make_chunk(step):
    """k steps in one jitted call: keys (k, 2), lrs (k,), consts, arrays -> params, opt_state,
    (losses (k,), dropped (k,))."""
    return jax.jit(_scan(step))


def _scan(step):
    def chunk(params, opt_state, keys, lrs, consts, arrays=()):
        def body(carry, inp):
            p, s, loss = step(*carry, *inp, consts, arrays)
            return (p, s), loss

        (params, opt_state), losses = jax.lax.scan(body, (params, opt_state), (keys, lrs))
        return params, opt_state, losses

    return chunk


def _squeezed(fn, shared: int = 0):
    """``fn`` over a leading member axis of size 1, which it drops and puts back inside jit;
    the last ``shared`` arguments have no member axis."""

    def wrapped(*args):
        own, common = args[: len(args) - shared], args[len(args) - shared :]
        out = fn(*jax.tree_util.tree_map(lambda a: a[0], own), *common)
        return jax.tree_util.tree_map(lambda a: a[None], out)

    return wrapped


class Programs:
    """The compiled chunk and validation of one shape, for packs of ``members`` runs:
    ``chunk(params, opt_state, keys (K, k, 2), lrs (K, k), consts, arrays) -> (params,
    opt_state, (losses (K, k), dropped (K, k)))`` and ``validate(params, scales, x, y, valid) ->
    mse per output (K, O)``, every argument with a leading member axis but the process's ``arrays``."""

    def __init__(self, task: Task, static, cfg: TrainConfig, fixed: bool, members: int):
        self.optimizer = make_optimizer(cfg)
        self.static = static
        chunk = _scan(make_step(task, static, self.optimizer, cfg, fixed))

        def validate(params, scales, x, y, valid):
            model = Normalised(eqx.combine(params, static), *scales)
            return masked_mse(model(x), y, valid, scales[2:], per_output=True)

        # One program for the optimiser's state (eagerly, a zeros_like per weight's shape).
        self.init = jax.jit(self.optimizer.init)
        if members == 1:
            self.chunk = jax.jit(_squeezed(chunk, shared=1))
            self.validate = jax.jit(_squeezed(validate))
        else:
            self.chunk = jax.jit(jax.vmap(chunk, in_axes=(0, 0, 0, 0, 0, None)))
            self.validate = jax.jit(jax.vmap(validate))


_CACHE: OrderedDict[str, Programs] = OrderedDict()
_CACHE_SIZE = 8


def structure_key(cfg: RunConfig, task: Task, members: int) -> str:
    """What fixes a compiled program: the process, the formula (not its parameters' values),
    the inputs, the model, the training shapes and the pack size."""
    tc = cfg.train
    return json.dumps(
        dict(
            process=cfg.process.model_dump(mode="json"),
            formula=cfg.target.formula,
            init=cfg.target.init,
            params=sorted(getattr(task.target, "params", ()) or ()),
            inputs=list(task.inputs),
            model=cfg.model.model_dump(mode="json"),
            train=[tc.batch, tc.length, tc.clip, tc.fixed_paths],
            members=members,
        ),
        sort_keys=True,
        default=str,
    )


def compiled(cfg: RunConfig, task: Task, static, members: int = 1) -> Programs:
    """The programs of this shape, made once per process (a worker's later runs of the same
    shape reuse them). A custom process's runs are never shared: its simulator is the user's."""
    fixed = cfg.train.fixed_paths is not None
    if cfg.process.kind == "custom":
        return Programs(task, static, cfg.train, fixed, members)
    key = structure_key(cfg, task, members)
    if key not in _CACHE:
        _CACHE[key] = Programs(task, static, cfg.train, fixed, members)
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    _CACHE.move_to_end(key)
    return _CACHE[key]
