"""lagnet's train step against the plain-JAX reference (../shared/reference/jax_scan.py), side
by side in one process, same shapes. Prints one JSON line per measurement and a summary.

    .venv/bin/python benchmarks/step_speed.py [--batch 128 --hidden 32 --iters 60]

Three numbers per shape (median ms per step over repeats):
  reference   the reference's bench step: fixed batch, GRU, Linear–SiLU–Linear head, Adam
  lagnet      lagnet's step on a fixed batch (same work as the reference)
  lagnet+sim  lagnet's real step: simulate AR(1) paths, evaluate the target, then the same

``--smoke`` measures the same three steps at a tiny size (batch 8, hidden 4, 20 steps per
path, 2 steps per jitted call, one repeat) to check that the script still works; where the
reference is not found it says so and measures lagnet's steps alone. LAGNET_REFERENCE
names the reference's folder (default ../shared/reference).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp

REF = Path(
    os.environ.get("LAGNET_REFERENCE", Path(__file__).resolve().parents[2] / "shared" / "reference")
)


def _time(fn, args, iters, repeats):
    out = fn(*args)
    jax.block_until_ready(out)
    reps = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(iters):
            out = fn(*args)
        jax.block_until_ready(out)
        reps.append((time.perf_counter() - t0) / iters * 1e3)
    return statistics.median(reps), reps


def reference_ms(batch, hidden, length, iters, repeats):
    sys.path.insert(0, str(REF))
    import jax_scan  # noqa: E402

    params = jax_scan.init_params(jax.random.PRNGKey(0), "gru", hidden, 64)
    opt = jax_scan.make_opt(3e-3, 10_000, 100, 1.0)
    state = opt.init(params)
    x = jax_scan.simulate(jax.random.PRNGKey(1), batch, length, 0.1)
    y = jax_scan.make_target(x, 1, 1.0)

    @jax.jit
    def step(params, state, x, y):
        def loss_fn(p):
            return jnp.mean((jax_scan.forward(p, x, "gru")[:, 1:] - y) ** 2)

        loss, g = jax.value_and_grad(loss_fn)(params)
        upd, state = opt.update(g, state, params)
        import optax

        return optax.apply_updates(params, upd), state, loss

    def loop(params, state):
        return step(params, state, x, y)

    return _time(loop, (params, state), iters, repeats)


def lagnet_ms(batch, hidden, length, iters, repeats, simulate, chunk, **options):
    import equinox as eqx

    from lagnet.api import build_config
    from lagnet.models import build_net
    from lagnet.samples import fit_scales
    from lagnet.tasks import build_task
    from lagnet.training import make_chunk, make_optimizer, make_step

    cfg = build_config(
        "ar1(rho=0.1)",
        "x[t]**2 + 1.0*x[t-1]**2",
        "gru",
        hidden=hidden,
        batch=batch,
        length=length + 1,
        **options,
    )
    task = build_task(cfg)
    net = build_net(cfg.model, 1, 1, jax.random.PRNGKey(0))
    params, static = eqx.partition(net, eqx.is_array)
    opt = make_optimizer(cfg.train)
    state = opt.init(params)
    scales = fit_scales(task, cfg)
    step = make_step(task, static, opt, cfg.train)
    consts = (scales, None, {}, jnp.float32(0.0))  # scalings, fixed data, formula params, decay
    if not simulate:
        # exactly the reference's work: the fixed batch itself, no simulation, no index draw
        import lagnet.training as tr

        x, y, valid = task.sample(jax.random.PRNGKey(1), batch, cfg.train.length)

        def step(params, opt_state, key, lr, consts, arrays):  # noqa: F811
            sc = consts[0]

            def loss_fn(p):
                n = eqx.combine(p, static)
                return tr.masked_mse(n((x - sc[0]) / sc[1]), (y - sc[2]) / sc[3], valid)

            loss, g = jax.value_and_grad(loss_fn)(params)
            upd, opt_state = opt.update(g, opt_state, params)
            return jax.tree_util.tree_map(lambda p, u: p - lr * u, params, upd), opt_state, loss

    run = make_chunk(step)
    keys = jax.random.split(jax.random.PRNGKey(3), chunk)
    lrs = jnp.full((chunk,), 1e-3, jnp.float32)

    def loop(params, state):
        return run(params, state, keys, lrs, consts)

    med, reps = _time(loop, (params, state), max(1, iters // chunk), repeats)
    return med / chunk, [r / chunk for r in reps]


# --smoke: the same measurements at a tiny size
SMOKE = dict(batch=8, hidden=4, length=20, iters=4, repeats=1, chunk=2)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--length", type=int, default=100)
    p.add_argument("--iters", type=int, default=100)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--chunk", type=int, default=50)
    p.add_argument(
        "--smoke",
        action="store_true",
        help="a quick check at a tiny size (batch 8, hidden 4, length 20, 4 steps)",
    )
    a = p.parse_args()
    if a.smoke:  # tiny sizes, unless given
        for name, value in SMOKE.items():
            if getattr(a, name) == p.get_default(name):
                setattr(a, name, value)
    machine = f"{platform.node()} {platform.machine()} cpus={len(__import__('os').sched_getaffinity(0))} jax={jax.__version__} backend={jax.default_backend()}"
    print(f"# {' '.join(sys.argv)}\n# {machine}")
    ref = None
    if a.smoke and not (REF / "jax_scan.py").is_file():
        print(
            f"# reference not found: no {REF / 'jax_scan.py'} (set LAGNET_REFERENCE); "
            f"measuring lagnet's step alone",
            flush=True,
        )
    else:
        ref, _ = reference_ms(a.batch, a.hidden, a.length, a.iters, a.repeats)
    # --smoke: pilot paths (the scalings) of the batch's shape, so one simulation compile serves
    options = dict(pilot_paths=a.batch, val_paths=a.batch) if a.smoke else {}
    fixed, _ = lagnet_ms(a.batch, a.hidden, a.length, a.iters, a.repeats, False, a.chunk, **options)
    sim, _ = lagnet_ms(a.batch, a.hidden, a.length, a.iters, a.repeats, True, a.chunk, **options)
    res = dict(
        batch=a.batch,
        hidden=a.hidden,
        length=a.length,
        reference_ms=None if ref is None else round(ref, 3),
        lagnet_ms=round(fixed, 3),
        lagnet_sim_ms=round(sim, 3),
        speedup_vs_reference=None if ref is None else round(ref / fixed, 2),
    )
    print(json.dumps(res))


if __name__ == "__main__":
    main()
