"""The host side of the gradient loop: picks learning rates, validates, keeps the best weights,
watches the clock, checkpoints, and calls callbacks. The compiled pieces are in ``steps.py``.

It trains a *pack*: K runs of one shape (one process structure, formula, model and batch
shape; seeds, learning rates, weight decays and formula parameters may differ) as one compiled
program over a leading member axis. A single run is a pack of one. Each member keeps its own
validation, best weights, plateau stop, divergence guard and history, so a packed member ends
with the metrics it would have had alone. With a step budget, chunks are cut by steps, never by
the clock, and a checkpoint is taken only between chunks, so a run resumed from its
checkpoint ends with the same weights, bit for bit, as one never stopped.

Legend: K members, N paths, L time steps, C input channels, O outputs.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Iterable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from lagnet.config import RunConfig
from lagnet.errors import LagnetError
from lagnet.models import Normalised, build_net
from lagnet.samples import (
    Callback,
    FitResult,
    StopTraining,
    check_target_finite,
    choice_score,
    drop_nonfinite,
    error_share,
    fit_scales,
    output_vars,
    pilot_sample,
    run_keys,
    share_r2,
    validation_set,
)
from lagnet.tasks import Task
from lagnet.training.durable import Checkpoint
from lagnet.training.member import Member
from lagnet.training.steps import compiled, lr_at

CHUNK_MAX = 50  # steps per jitted call: long enough to hide dispatch, short enough for Ctrl-C


@jax.jit
def _step_keys(key: jax.Array, steps: jax.Array) -> jax.Array:
    """One key per training step: fold the step number into the run's training key."""
    return jax.vmap(lambda i: jax.random.fold_in(key, i))(steps)


@jax.jit
def _select(mask, new, old):
    """Per member: ``new`` where ``mask`` (K,) is true, else ``old``."""
    pick = lambda a, b: jnp.where(mask.reshape((-1,) + (1,) * (a.ndim - 1)), a, b)  # noqa: E731
    return jax.tree_util.tree_map(pick, new, old)


def _stack(trees):
    """Leaf by leaf, the members' arrays stacked on a new first axis: on the host (NumPy), so
    that no leaf's shape compiles a program of its own (jnp.stack would, one per shape)."""
    return jax.tree_util.tree_map(
        lambda *a: jax.device_put(np.stack([np.asarray(x) for x in a])), *trees
    )


def _padded(val, n: int):
    """A member's validation set (x, y, valid) with paths added up to ``n``: NaN targets, which
    :func:`masked_mse` leaves out, so each member is validated on its own paths, as alone."""
    x, y, valid = (np.asarray(a) for a in val)
    extra = n - x.shape[0]
    if extra:
        x = np.concatenate([x, np.zeros((extra, *x.shape[1:]), x.dtype)])
        y = np.concatenate([y, np.full((extra, *y.shape[1:]), np.nan, y.dtype)])
    return x, y, valid


def _member(tree, i: int):
    return jax.tree_util.tree_map(lambda a: np.asarray(a)[i], tree)


def _chunk_size(val_every: int) -> int:
    """Steps per jitted call: a divisor of ``val_every`` between 10 and CHUNK_MAX when there is
    one, so validation falls exactly every ``val_every`` steps; otherwise about CHUNK_MAX, and
    validation comes at the first chunk boundary past each ``val_every`` steps."""
    for d in range(min(CHUNK_MAX, val_every), 9, -1):
        if val_every % d == 0:
            return d
    return max(1, val_every // math.ceil(val_every / CHUNK_MAX))


def budget_chunk(k: int, tc, val_seconds: float, val_paths: int) -> int:
    """Steps per jitted call under a wall-clock budget: at most a tenth of the budget's worth,
    so a slow model (a Transformer on long paths takes seconds a step on the CPU) stops within
    about 10% of it. A step's cost is estimated from one forward pass over the validation set:
    forward and backward on ``batch`` paths cost about 3 forwards of that many."""
    per_step = 3.0 * val_seconds * tc.batch / max(val_paths, 1)
    most = int(0.1 * tc.max_seconds / max(per_step, 1e-9))
    if most >= k:
        return k
    for d in range(max(most, 1), 0, -1):  # a divisor of val_every keeps validation on time
        if tc.val_every % d == 0:
            return d
    return 1


def train(
    cfg: RunConfig,
    task: Task,
    callbacks: Iterable[Callback] = (),
    checkpoint: Checkpoint | None = None,
) -> FitResult:
    """Train the network of a gradient-trained family for ``cfg`` on ``task``. Stops at
    ``train.steps``, at the wall-clock budget ``train.max_seconds`` (which the learning-rate
    schedule is fitted to), on a validation plateau (``train.patience``), after repeated
    divergence, when a callback raises :class:`StopTraining`, or on Ctrl-C / SIGTERM — and
    returns the weights that did best on the fixed validation set in every case. With a
    ``checkpoint``, it goes on from it when there is one, and writes it at least every
    ``train.checkpoint_seconds`` and when interrupted."""
    return train_pack([Member(cfg, task, list(callbacks), checkpoint)])[0]


def train_pack(members: list[Member]) -> list[FitResult]:
    """Train K members of one shape together (see the module's docstring)."""
    t_start = time.perf_counter()
    tc = members[0].cfg.train
    nets, scales, datas, vals, y_vars, tparams, k_trains = [], [], [], [], [], [], []
    for m in members:
        k_init, _, k_train, k_data = run_keys(m.cfg.seed)
        nets.append(
            build_net(m.cfg.model, m.task.c_in, m.task.c_out, k_init, max_lag=m.task.memory_hint)
        )
        held_out = pilot_sample(m.cfg, m.task)
        share = check_target_finite(m.cfg, held_out)
        held_out = drop_nonfinite(held_out) if share else held_out
        scales.append(fit_scales(m.task, m.cfg, held_out))
        fixed = None
        if tc.fixed_paths is not None:
            fixed = m.task.sample(k_data, tc.fixed_paths, tc.length)
        datas.append(fixed)
        val = validation_set(m.cfg, m.task, held_out)
        vals.append(val)
        y_vars.append(output_vars(val))
        param_values = getattr(m.task, "param_values", None)
        tparams.append(param_values() if param_values else {})
        k_trains.append(k_train)
    static = eqx.partition(nets[0], eqx.is_array)[1]
    progs = compiled(members[0].cfg, members[0].task, static, len(members))
    params = _stack([eqx.partition(n, eqx.is_array)[0] for n in nets])
    opt_fresh = _stack([progs.init(eqx.partition(n, eqx.is_array)[0]) for n in nets])
    opt_state, best = opt_fresh, params
    wds = [jnp.float32(m.cfg.train.weight_decay) for m in members]
    consts = _stack([(s, d, p, w) for s, d, p, w in zip(scales, datas, tparams, wds)])
    # What the process draws from (observed data), one copy for the pack: an argument of the
    # compiled step, so a program kept for its shape never trains on a file as it was.
    arrays = () if tc.fixed_paths is not None else members[0].task.process.arrays(tc.length)
    n_val = max(v[0].shape[0] for v in vals)  # paths a target was not finite on are gone
    val_set = _stack([_padded(v, n_val) for v in vals])
    t0 = time.perf_counter()
    progs.validate(params, _stack(scales), *val_set).block_until_ready()  # compile now
    compiling = time.perf_counter() - t0  # less one run of it, below: what the budget skips
    k = _chunk_size(tc.val_every)
    if tc.max_seconds is not None:  # a chunk is never more than a tenth of the budget
        t0 = time.perf_counter()
        progs.validate(params, _stack(scales), *val_set).block_until_ready()
        compiling = max(compiling - (time.perf_counter() - t0), 0.0)
        k = budget_chunk(k, tc, time.perf_counter() - t0, n_val)

    loss_units = [float(jnp.mean(s[3] ** 2)) for s in scales]  # history's loss in the y's units
    step, since_val, planned, elapsed_before = 0, 0, tc.steps, 0.0
    if all(m.checkpoint is not None and m.checkpoint.exists() for m in members):
        params, opt_state, best, shared = _resume(members, params, opt_state, best)
        step, since_val, planned, elapsed_before = shared
    t_train, steps_timed, first_chunk = None, 0, 0.0
    last_ckpt = time.perf_counter()
    every = tc.checkpoint_seconds
    scales_stacked = _stack(scales)

    def elapsed() -> float:
        """The budget's clock: compilation is not on it (a point of a sweep that compiled
        its programs trained 100 steps in a 3 s budget where one that found them made
        trained 1800; a cold cache ate a short budget)."""
        return elapsed_before + time.perf_counter() - t_start - compiling

    def save(snapshot) -> None:
        shared = (snapshot[3], snapshot[4], snapshot[5], elapsed())
        for i, (m, host) in enumerate(zip(members, host_snap)):
            if m.checkpoint is not None:
                m.checkpoint.save(
                    dict(
                        params=_member(snapshot[0], i),
                        opt=_member(snapshot[1], i),
                        best=_member(snapshot[2], i),
                    ),
                    dict(shared=shared, member=host),
                )

    # What a checkpoint holds: the state after the last complete chunk, arrays and host side
    # together, so an interrupt arriving anywhere (a callback included) saves a consistent one.
    snapshot = (params, opt_state, best, step, since_val, planned)
    host_snap = [copy.deepcopy(m.host_state()) for m in members]
    try:
        while step < planned and any(m.stopped is None for m in members):
            active = min(k, planned - step)
            keys = jnp.stack([_step_keys(kt, jnp.arange(step, step + k)) for kt in k_trains])
            lrs = np.zeros((len(members), k), np.float32)
            for i, m in enumerate(members):
                if m.stopped is None:
                    lrs[i, :active] = [
                        m.lr_factor * lr_at(s, planned, m.cfg.train)
                        for s in range(step, step + active)
                    ]
            t_chunk = time.perf_counter()
            new_params, new_state, (losses, dropped) = progs.chunk(
                params, opt_state, keys, lrs, consts, arrays
            )
            losses, dropped = np.asarray(losses)[:, :active], np.asarray(dropped)[:, :active]
            if t_train is None:
                t_train = time.perf_counter()
                first_chunk = t_train - t_chunk  # compiling it, and running it once
            else:
                if steps_timed == 0:  # the first chunk's compilation: what it took beyond this
                    compiling += max(first_chunk - (time.perf_counter() - t_chunk), 0.0)
                steps_timed += k
            live = [i for i, m in enumerate(members) if m.stopped is None]
            diverged = np.zeros(len(members), bool)
            for i in live:
                diverged[i] = not np.all(np.isfinite(losses[i]))
            if diverged.any():
                # Divergence guard: a diverged member goes back to its best weights with a
                # fresh optimiser and a lower rate, and the chunk is run again (the others
                # redo it from where they were, to the same result).
                for i in np.flatnonzero(diverged):
                    m = members[i]
                    m.divergences += 1
                    m.lr_factor *= 0.3
                    if m.divergences > 4:
                        m.stopped, m.steps = "diverged", step
                params = _select(jnp.asarray(diverged), best, params)
                opt_state = _select(jnp.asarray(diverged), opt_fresh, opt_state)
                continue
            for i in live:
                members[i].dropped += int(dropped[i].sum())
                members[i].loss_acc.extend(losses[i].tolist())
            params, opt_state = new_params, new_state
            step += active
            since_val += active

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
                val_mse = np.asarray(progs.validate(params, scales_stacked, *val_set))
                improved = np.zeros(len(members), bool)
                speed = steps_timed / (time.perf_counter() - t_train) if steps_timed else 0.0
                for i, m in enumerate(members):
                    if m.stopped is not None:
                        continue
                    improved[i] = _validated(
                        m,
                        i,
                        step,
                        elapsed(),
                        lrs,
                        active,
                        val_mse,
                        y_vars,
                        loss_units,
                        planned,
                        speed,
                    )
                if improved.any():
                    best = _select(jnp.asarray(improved), params, best)
            snapshot = (params, opt_state, best, step, since_val, planned)
            host_snap = [copy.deepcopy(m.host_state()) for m in members]
            if every is not None and time.perf_counter() - last_ckpt >= every:
                save(snapshot)
                last_ckpt = time.perf_counter()
        for m in members:
            if m.stopped is None:
                m.stopped = (
                    "max_seconds" if tc.max_seconds is not None and step < tc.steps else "steps"
                )
                m.steps = step
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (a cluster's preemption) raised as one
        for m, state in zip(members, host_snap):
            m.restore(copy.deepcopy(state))
        save(snapshot)
        for m in members:
            if m.stopped is None:
                m.stopped, m.steps = "interrupted", snapshot[3]
        params, best = snapshot[0], snapshot[2]

    seconds = elapsed()
    train_seconds = (time.perf_counter() - t_train) if t_train else 0.0
    results = []
    for i, m in enumerate(members):
        chosen = best if m.best_val < math.inf else params  # never validated: what we have
        model = Normalised(eqx.combine(_member_jnp(chosen, i), static), *scales[i])
        info = dict(
            steps=m.steps,
            seconds=seconds,
            sequences=m.steps * tc.batch,
            stopped=m.stopped,
            ms_per_step=1e3 * train_seconds / steps_timed if steps_timed else None,
            compile_seconds=compiling if tc.max_seconds is not None else None,  # else unmeasured
            best_step=m.best_step,
            best_val_mse=m.best_val,
            best_val_r2=share_r2(m.best_share) if np.any(y_vars[i] > 0) else None,
            divergences=m.divergences,
            nonfinite_paths=m.dropped,
        )
        results.append(FitResult(model=model, history=m.history, info=info))
    return results


def _member_jnp(tree, i: int):
    """Member ``i``'s arrays, sliced on the host (``a[i]`` on a JAX array compiles a program
    per leaf shape)."""
    return jax.tree_util.tree_map(lambda a: jax.device_put(np.asarray(a)[i]), tree)


def _validated(m, i, step, seconds, lrs, active, val_mse, y_vars, loss_units, planned, speed):
    """Record member ``i``'s validation; True when it improved on its best."""
    v, share = float(np.mean(val_mse[i])), error_share(val_mse[i], y_vars[i])
    r2 = 1.0 - share  # NaN when no output varies
    row = dict(
        step=step,
        seconds=seconds,
        lr=float(lrs[i, active - 1]),
        loss=float(np.mean(m.loss_acc)) * loss_units[i] if m.loss_acc else float("nan"),
        val_mse=v,
        val_r2=r2,
    )
    m.loss_acc = []
    for name, value in row.items():
        m.history[name].append(value)
    score = choice_score(v, share)  # outputs weighted alike, as training weighs them
    if math.isnan(m.best_share):  # resumed from a checkpoint that lacks it: best_val scaled
        scaled = m.best_val * (score / v if v > 0 else 1.0)
        m.best_share = scaled if math.isfinite(m.best_val) else math.inf
    improved = score < m.best_share * (1 - 1e-4)
    if improved:
        m.best_val, m.best_share, m.best_step, m.bad_vals = v, score, step, 0
    else:
        m.bad_vals += 1
    try:
        for cb in m.callbacks:
            cb(dict(row, planned=planned, steps_per_s=speed))
    except StopTraining as stop:
        m.stopped, m.steps = stop.reason, step
    patience = m.cfg.train.patience
    if m.stopped is None and patience is not None and m.bad_vals >= patience:
        m.stopped, m.steps = "plateau", step
    return improved


def _resume(members, params, opt_state, best):
    """Load every member's checkpoint into the stacked state; all must be at one step."""
    loaded, shareds = [], []
    template = dict(params=_member(params, 0), opt=_member(opt_state, 0), best=_member(best, 0))
    for m in members:
        arrays, state = m.checkpoint.load(template)
        m.restore(state["member"])
        loaded.append(arrays)
        shareds.append(tuple(state["shared"]))
    if len({s[:3] for s in shareds}) != 1:
        raise LagnetError(
            "resume", [s[0] for s in shareds], "the pack's checkpoints differ in step"
        )
    stacked = {g: _stack([a[g] for a in loaded]) for g in ("params", "opt", "best")}
    return stacked["params"], stacked["opt"], stacked["best"], shareds[0]
