"""Throughput of K packed GRUs (one program, vmapped over members: lagnet's pack) against one
model, in sequence-steps per second (paths × time steps per second, all members counted), at
the forum's size (hidden 10, batch 32) and a larger one (hidden 32, batch 128).

    .venv/bin/python benchmarks/sweep_packing.py [--members 16 --repeats 5]

Each measurement: lagnet's real step (simulate AR(1) paths, the forum's target with ``w`` a
formula parameter, GRU + head, Adam), 50 steps per jitted call, median over repeats.
``speedup`` = packed throughput / single throughput: K× is perfect packing, 1× no gain, and
below 1× packing loses. ``--smoke``: tiny sizes, one repeat, to check the script runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import equinox as eqx
import jax
import jax.numpy as jnp

from lagnet.api import build_config
from lagnet.models import build_net
from lagnet.samples import fit_scales, run_keys
from lagnet.tasks import build_task
from lagnet.training.loop import _stack, _step_keys
from lagnet.training.steps import Programs


def measure(hidden: int, batch: int, members: int, chunk: int, repeats: int, length: int):
    cfg = build_config(
        "ar1(rho=0.1)", "x[t]**2 + w*x[t-1]**2", "gru", hidden=hidden, batch=batch,
        length=length, params={"w": 0.1},
    )  # fmt: skip
    task = build_task(cfg)
    nets = [build_net(cfg.model, 1, 1, run_keys(s)[0]) for s in range(members)]
    static = eqx.partition(nets[0], eqx.is_array)[1]
    progs = Programs(task, static, cfg.train, fixed=False, members=members)
    params = _stack([eqx.partition(n, eqx.is_array)[0] for n in nets])
    state = _stack([progs.optimizer.init(eqx.partition(n, eqx.is_array)[0]) for n in nets])
    scales = fit_scales(task, cfg)
    consts = _stack(
        [
            (scales, None, {"w": jnp.float32(0.1 * (s + 1))}, jnp.float32(0.0))
            for s in range(members)
        ]
    )
    keys = jnp.stack([_step_keys(run_keys(s)[2], jnp.arange(chunk)) for s in range(members)])
    lrs = jnp.full((members, chunk), 1e-3, jnp.float32)
    out = progs.chunk(params, state, keys, lrs, consts, ())
    jax.block_until_ready(out)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = progs.chunk(params, state, keys, lrs, consts, ())
        jax.block_until_ready(out)
        times.append(time.perf_counter() - t0)
    seconds = statistics.median(times)
    return members * chunk * batch * length / seconds, seconds / chunk


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--members", type=int, default=16)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--chunk", type=int, default=50)
    p.add_argument("--length", type=int, default=101)
    p.add_argument("--smoke", action="store_true")
    a = p.parse_args()
    sizes = [(10, 32), (32, 128)]
    if a.smoke:
        a.members, a.repeats, a.chunk, a.length, sizes = 2, 1, 2, 10, [(4, 8)]
    print("#", " ".join(sys.argv), f"| {platform.machine()} {os.cpu_count()} cores |",
          f"jax {jax.__version__} {jax.default_backend()} |", time.strftime("%Y-%m-%d %H:%M"))  # fmt: skip
    for hidden, batch in sizes:
        single, ms1 = measure(hidden, batch, 1, a.chunk, a.repeats, a.length)
        packed, msk = measure(hidden, batch, a.members, a.chunk, a.repeats, a.length)
        print(json.dumps(dict(
            hidden=hidden, batch=batch, members=a.members, length=a.length,
            single_seq_steps_per_s=round(single), packed_seq_steps_per_s=round(packed),
            single_ms_per_step=round(1e3 * ms1, 3), packed_ms_per_step=round(1e3 * msk, 3),
            speedup=round(packed / single, 2), backend=jax.default_backend(),
        )))  # fmt: skip


if __name__ == "__main__":
    main()
