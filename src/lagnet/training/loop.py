"""The gradient loop. It knows nothing about the model beyond "an Equinox module".

Each step — simulate a fresh batch, evaluate the target, run the model, masked MSE on the valid
steps, gradient, clip, AdamW update — is one pure function
``step(params, opt_state, key, lr, consts) -> (params, opt_state, loss)``; a chunk of steps runs under
one ``jax.jit`` as a ``lax.scan``, so fresh data costs almost nothing and there is no
Python-side state to stop it being vmapped over many models later. The host side only picks
learning rates, validates, keeps the best weights, watches the clock and calls callbacks.

Legend: N paths, L time steps, C input channels, O outputs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from lagnet.config import RunConfig, TrainConfig
from lagnet.models import Normalised, build_net
from lagnet.samples import (
    HISTORY_COLUMNS,
    Callback,
    FitResult,
    StopTraining,
    check_target_finite,
    fit_scales,
    pilot_sample,
    run_keys,
    validation_set,
)
from lagnet.tasks import Task

CHUNK_MAX = 50  # steps per jitted call: long enough to hide dispatch, short enough for Ctrl-C


# ----------------------------------------------------------------------------- pure pieces
def masked_mse(pred: jax.Array, y: jax.Array, valid: jax.Array) -> jax.Array:
    """Mean squared error over paths, outputs and the valid steps only. pred, y: (N, L, O)."""
    w = valid.astype(pred.dtype)[None, :, None]  # (1, L, 1)
    return jnp.sum(w * (pred - y) ** 2) / (jnp.sum(w) * pred.shape[0] * pred.shape[2])


def lr_at(step: int, total: int, cfg: TrainConfig) -> float:
    """Linear warm-up to ``cfg.lr``, then cosine decay to ``cfg.lr·end_lr_factor`` at ``total``."""
    warmup = min(cfg.warmup, max(total // 10, 1))
    if step < warmup:
        return cfg.lr * (step + 1) / warmup
    frac = min(1.0, (step - warmup) / max(total - warmup, 1))
    end = cfg.lr * cfg.end_lr_factor
    return end + 0.5 * (cfg.lr - end) * (1.0 + math.cos(math.pi * frac))


def make_optimizer(cfg: TrainConfig) -> optax.GradientTransformation:
    """Clip by global norm, then Adam with decoupled weight decay. The learning rate is applied
    by the step (``-lr · update``) so the host can schedule it and lower it after a divergence."""
    parts = [optax.clip_by_global_norm(cfg.clip), optax.scale_by_adam()]
    if cfg.weight_decay > 0:
        parts.append(optax.add_decayed_weights(cfg.weight_decay))
    return optax.chain(*parts)


def make_step(task: Task, static, optimizer, cfg: TrainConfig, fixed: bool = False):
    """The pure train step ``step(params, opt_state, key, lr, consts)``.

    ``consts = (scales, data)``: the model's scalings (x_mean, x_std, y_mean, y_std) and, when
    ``fixed``, the fixed data set (x, y, valid) to draw batches from. They are arguments rather
    than constants baked into the compiled step, so one compilation (and JAX's persistent cache)
    serves every seed, and large data sets do not bloat the program."""

    def loss_fn(params, x, y, valid, scales):
        x_mean, x_std, y_mean, y_std = scales
        net = eqx.combine(params, static)
        return masked_mse(net((x - x_mean) / x_std), (y - y_mean) / y_std, valid)

    def step(params, opt_state, key, lr, consts):
        scales, data = consts
        if not fixed:
            x, y, valid = task.sample(key, cfg.batch, cfg.length)
        else:
            idx = jax.random.choice(key, data[0].shape[0], (cfg.batch,), replace=False)
            x, y, valid = data[0][idx], data[1][idx], data[2]
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y, valid, scales)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = jax.tree_util.tree_map(lambda p, u: p - lr * u, params, updates)
        return params, opt_state, loss

    return step


def make_chunk(step):
    """K steps in one jitted call: keys (K, 2), lrs (K,), consts -> params, opt_state,
    losses (K,)."""

    @jax.jit
    def chunk(params, opt_state, keys, lrs, consts):
        def body(carry, inp):
            p, s, loss = step(*carry, *inp, consts)
            return (p, s), loss

        (params, opt_state), losses = jax.lax.scan(body, (params, opt_state), (keys, lrs))
        return params, opt_state, losses

    return chunk


# ----------------------------------------------------------------------------- the loop
@jax.jit
def _step_keys(key: jax.Array, steps: jax.Array) -> jax.Array:
    """One key per training step: fold the step number into the run's training key."""
    return jax.vmap(lambda i: jax.random.fold_in(key, i))(steps)


def _chunk_size(val_every: int) -> int:
    """Steps per jitted call: a divisor of ``val_every`` between 10 and CHUNK_MAX when there is
    one, so validation falls exactly every ``val_every`` steps; otherwise about CHUNK_MAX, and
    validation comes at the first chunk boundary past each ``val_every`` steps."""
    for d in range(min(CHUNK_MAX, val_every), 9, -1):
        if val_every % d == 0:
            return d
    return max(1, val_every // math.ceil(val_every / CHUNK_MAX))


def train(cfg: RunConfig, task: Task, callbacks: Iterable[Callback] = ()) -> FitResult:
    """Train the network of a gradient-trained family for ``cfg`` on ``task``. Stops at ``train.steps``, at the wall-clock budget
    ``train.max_seconds`` (which the learning-rate schedule is fitted to), on a validation
    plateau (``train.patience``), after repeated divergence, or on Ctrl-C — and returns the
    weights that did best on the fixed validation set in every case. ``lagnet.fitting.fit``
    is the entry point that sends each family to its learner."""
    tc = cfg.train
    t_start = time.perf_counter()
    k_init, _, k_train, k_data = run_keys(cfg.seed)

    net = build_net(cfg.model, task.c_in, task.c_out, k_init, max_lag=task.memory_hint)
    held_out = pilot_sample(cfg, task)
    check_target_finite(cfg, held_out)
    scales = fit_scales(task, cfg, held_out)
    params, static = eqx.partition(net, eqx.is_array)
    optimizer = make_optimizer(tc)
    opt_state = optimizer.init(params)

    data = None
    if tc.fixed_paths is not None:
        data = task.sample(k_data, tc.fixed_paths, tc.length)
    chunk = make_chunk(make_step(task, static, optimizer, tc, fixed=data is not None))
    consts = (scales, data)

    val_set = validation_set(cfg, task, held_out)
    y_val_var = float(jnp.var(val_set[1][:, val_set[2]]))

    @jax.jit
    def _validate(params, scales, x_val, y_val, valid_val):
        model = Normalised(eqx.combine(params, static), *scales)
        return masked_mse(model(x_val), y_val, valid_val)

    def validate(params):
        return _validate(params, scales, *val_set)

    validate(params).block_until_ready()  # compile now, so it does not skew the step timing

    k = _chunk_size(tc.val_every)
    # The loss is computed on normalised targets; history reports it in the target's units
    # (exact for one output) so it sits on the same axis as the validation MSE.
    loss_units = float(jnp.mean(scales[3] ** 2))
    history = {key: [] for key in HISTORY_COLUMNS}
    best = dict(params=params, val_mse=math.inf, step=0)
    step, since_val, lr_factor, divergences, bad_vals = 0, 0, 1.0, 0, 0
    planned = tc.steps
    stopped = "steps"
    loss_acc: list[float] = []
    t_train = None  # when the first compiled chunk finished (compile excluded from speed)
    steps_timed = 0

    def elapsed() -> float:
        return time.perf_counter() - t_start

    try:
        while step < planned:
            # The last chunk may be partial: its surplus steps get learning rate 0 (the
            # weights stay put) instead of a second compile for a shorter chunk.
            active = min(k, planned - step)
            keys = _step_keys(k_train, jnp.arange(step, step + k))
            lrs = jnp.asarray(
                [
                    lr_factor * lr_at(s, planned, tc) if s < step + active else 0.0
                    for s in range(step, step + k)
                ],
                jnp.float32,
            )
            new_params, new_state, losses = chunk(params, opt_state, keys, lrs, consts)
            losses = np.asarray(losses)[:active]
            if t_train is None:
                t_train = time.perf_counter()
            else:
                steps_timed += k
            if not np.all(np.isfinite(losses)):
                # Divergence guard: back to the best weights, fresh optimiser, lower rate.
                divergences += 1
                if divergences > 4:
                    stopped = "diverged"
                    break
                lr_factor *= 0.3
                params, opt_state = best["params"], optimizer.init(best["params"])
                continue
            params, opt_state = new_params, new_state
            step += active
            since_val += active
            loss_acc.extend(losses.tolist())

            # Fit the planned number of steps to the wall-clock budget.
            if tc.max_seconds is not None and steps_timed > 0:
                per_step = (time.perf_counter() - t_train) / steps_timed
                left = tc.max_seconds - elapsed()
                possible = step + int(max(left, 0.0) / per_step)
                planned = min(tc.steps, max(step, possible - possible % k))
                if left <= 0:
                    planned = step

            if since_val >= tc.val_every or step >= planned:
                since_val = 0
                val_mse = float(validate(params))
                r2 = 1.0 - val_mse / y_val_var if y_val_var > 0 else float("nan")
                row = dict(
                    step=step,
                    seconds=elapsed(),
                    lr=float(lrs[active - 1]),
                    loss=float(np.mean(loss_acc)) * loss_units,
                    val_mse=val_mse,
                    val_r2=r2,
                )
                loss_acc = []
                for name, v in row.items():
                    history[name].append(v)
                if val_mse < best["val_mse"] * (1 - 1e-4):
                    best.update(params=params, val_mse=val_mse, step=step)
                    bad_vals = 0
                else:
                    bad_vals += 1
                speed = steps_timed / (time.perf_counter() - t_train) if steps_timed else 0.0
                for cb in callbacks:
                    cb(dict(row, planned=planned, steps_per_s=speed))
                if tc.patience is not None and bad_vals >= tc.patience:
                    stopped = "plateau"
                    break
        else:
            if tc.max_seconds is not None and step < tc.steps:
                stopped = "max_seconds"
    except StopTraining as stop:
        stopped = stop.reason
    except KeyboardInterrupt:
        stopped = "interrupted"

    if best["val_mse"] == math.inf:  # never validated (interrupted at once): use what we have
        best["params"] = params
    seconds = elapsed()
    train_seconds = (time.perf_counter() - t_train) if t_train else 0.0
    model = Normalised(eqx.combine(best["params"], static), *scales)
    info = dict(
        steps=step,
        seconds=seconds,
        sequences=step * tc.batch,
        stopped=stopped,
        ms_per_step=1e3 * train_seconds / steps_timed if steps_timed else None,
        best_step=best["step"],
        best_val_mse=best["val_mse"],
        divergences=divergences,
    )
    return FitResult(model=model, history=history, info=info)
