"""Time of one gradient of the Transformer's masked MSE on the CPU: jit(value_and_grad) at
batch 128, L = 200, the default Transformer (hidden 32, 4 heads, context 128, 2 layers),
median of 5 calls after a warm-up call.

    JAX_PLATFORMS=cpu .venv/bin/python benchmarks/transformer_step.py [--batch 128 --length 200]

Prints the command, the machine, the date and one JSON line. ``--smoke`` runs a tiny size
once (a check that the script works).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time

import equinox as eqx
import jax
import jax.numpy as jnp

from lagnet.models.transformer import Transformer, TransformerConfig
from lagnet.training.steps import masked_mse


def step_seconds(batch: int, length: int, repeats: int = 5, **cfg) -> tuple[float, list[float]]:
    """Median seconds of one value_and_grad call after a warm-up, and all the repeats."""
    net = Transformer(TransformerConfig(**cfg), 1, 1, key=jax.random.PRNGKey(0))
    x = jax.random.normal(jax.random.PRNGKey(1), (batch, length, 1))
    y = x * jnp.roll(x, 1, axis=1)
    valid = jnp.arange(length) >= 1

    @eqx.filter_jit
    def grad(net, x, y):
        return eqx.filter_value_and_grad(lambda m: masked_mse(m(x), y, valid))(net)

    jax.block_until_ready(grad(net, x, y))  # compile and warm up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(grad(net, x, y))
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--length", type=int, default=200)
    ap.add_argument("--smoke", action="store_true", help="batch 4, L 20, hidden 8, one repeat")
    a = ap.parse_args(argv)
    print("command:", "JAX_PLATFORMS=cpu", sys.executable, *sys.argv)
    print("machine:", platform.platform(), platform.processor() or "", f"{os.cpu_count()} CPUs")
    print("jax:", jax.__version__, jax.default_backend())
    print("date:", datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
    if a.smoke:
        med, times = step_seconds(4, 20, repeats=1, hidden=8, heads=2, context=8)
        size = dict(batch=4, length=20, hidden=8, heads=2, context=8)
    else:
        med, times = step_seconds(a.batch, a.length)
        size = dict(
            batch=a.batch,
            length=a.length,
            **TransformerConfig().model_dump(include={"hidden", "heads", "context"}),
        )
    print(
        json.dumps(
            {"size": size, "median_s": round(med, 4), "runs_s": [round(t, 4) for t in times]}
        )
    )


if __name__ == "__main__":
    main()
