"""``lagnet train|eval|simulate|report`` — parse, then call the library.

Exit codes: 0 success, 2 bad input (one line naming the field and the value, no traceback),
1 failure.
"""

from __future__ import annotations

import functools
import os
import sys
import time
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Teach neural networks functions of a time series' past, and tell the "
                       "truth about how well they learned.")
err = Console(stderr=True)
out = Console()


def _cli(fn):
    """Turn bad input into one line and exit 2; other failures into one line and exit 1."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from lagnet.errors import LagnetError

        try:
            return fn(*args, **kwargs)
        except LagnetError as e:
            err.print(f"[red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except typer.Exit:
            raise
        except KeyboardInterrupt:
            err.print("interrupted")
            raise typer.Exit(130) from None
        except Exception as e:  # noqa: BLE001 — the CLI's last word; LAGNET_DEBUG shows the trace
            if os.environ.get("LAGNET_DEBUG"):
                raise
            err.print(f"[red]failed:[/] {type(e).__name__}: {escape(str(e))}", highlight=False,
                      soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper


def _metrics_table(metrics: dict, title: str) -> Table:
    t = Table(title=escape(title))
    for col in ("", "MSE", "R²"):
        t.add_column(col, justify="right" if col else "left")
    test, base = metrics["test"], metrics["baselines"]
    t.add_row("model", f"{test['mse']:.4g}", f"{test['r2']:.5f}")
    t.add_row("memoryless baseline", f"{base['memoryless']['mse']:.4g}",
              f"{base['memoryless']['r2']:.5f}")
    t.add_row(f"linear, last {base['linear_lags']['lags']} inputs",
              f"{base['linear_lags']['mse']:.4g}", f"{base['linear_lags']['r2']:.5f}")
    if "long_horizon" in metrics:
        lh = metrics["long_horizon"]
        t.add_row(f"model, {lh['length']}-step paths", f"{lh['mse']:.4g}", f"{lh['r2']:.5f}")
    mr2 = test["memory_r2"]
    t.caption = ("memory_r2 = n/a (the target needs no memory)" if mr2 is None
                 else f"memory_r2 = {mr2:.4f}   NRMSE = {test['nrmse']:.4g}")
    return t


@app.command()
@_cli
def train(
    config: Optional[Path] = typer.Argument(None, help="A run config (TOML)."),
    process: Optional[str] = typer.Option(None, help='Process spec, e.g. "ar1(rho=0.1)".'),
    target: Optional[str] = typer.Option(None, help='Formula, e.g. "x[t]**2 + 0.1*x[t-1]**2".'),
    model: Optional[str] = typer.Option(None, help="rnn | gru | lstm"),
    hidden: Optional[int] = typer.Option(None, help="Hidden units per layer."),
    layers: Optional[int] = typer.Option(None, help="Recurrent layers."),
    steps: Optional[int] = typer.Option(None, help="Most training steps."),
    batch: Optional[int] = typer.Option(None, help="Paths per step."),
    length: Optional[int] = typer.Option(None, help="Time steps per path."),
    max_seconds: Optional[float] = typer.Option(None, help="Wall-clock budget for training."),
    seed: Optional[int] = typer.Option(None, help="Seed of the run."),
    device: Optional[str] = typer.Option(None, help="auto | cpu | gpu"),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="Run directory to write."),
    set_: List[str] = typer.Option([], "--set", help="Override any setting: a.b=value."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Train a model, evaluate it on held-out paths, write the run directory and report."""
    from lagnet.config import apply_overrides, load_config, make_config
    from lagnet.runs import check_out_dir, on_device, run
    from lagnet.tasks import build_task

    data = load_config(config).model_dump() if config else {}
    flags = {"process": process, "target.formula": target, "model.kind": model,
             "model.hidden": hidden, "model.layers": layers, "train.steps": steps,
             "train.batch": batch, "train.length": length, "train.max_seconds": max_seconds,
             "seed": seed, "device": device}
    for dotted, value in flags.items():
        if value is None:
            continue
        node = data
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    cfg = make_config(apply_overrides(data, list(set_)))
    target_dir = out_dir or Path("runs") / f"{cfg.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    build_task(cfg)  # refuse bad input before anything starts
    check_out_dir(target_dir)
    with on_device(cfg.device):
        pass
    if not quiet:
        err.print(f"[bold]lagnet[/] {escape(cfg.target.formula)}  on  {escape(_describe(cfg))}  "
                  f"model {cfg.model.kind}({cfg.model.hidden}×{cfg.model.num_layers})")
    if quiet:
        result = run(cfg, target_dir)
    else:
        from lagnet.progress import ProgressBar

        with ProgressBar(cfg.train, err) as bar:
            result = run(cfg, target_dir, callbacks=[bar])
    m = result.metrics
    out.print(_metrics_table(m, f"test on {m['test']['paths']} held-out paths"))
    out.print(m["verdict"]["headline"], highlight=False)
    out.print(f"trained {m['train']['steps']} steps in {m['train']['seconds']:.1f} s "
              f"(stopped: {m['train']['stopped']})", highlight=False)
    out.print(f"wrote {target_dir}/report.html", highlight=False)


def _describe(cfg) -> str:
    p = cfg.process
    if p.kind == "arma":
        return f"ARMA(ar={list(p.ar)}, ma={list(p.ma)})"
    return f"iid {p.dist}"


@app.command("eval")
@_cli
def eval_(
    run_dir: Path = typer.Argument(..., help="A run directory."),
    paths: Optional[int] = typer.Option(None, help="Test paths (default: the run's)."),
    length: Optional[int] = typer.Option(None, help="Steps per test path (default: the run's)."),
    target: Optional[str] = typer.Option(None, help="Evaluate against another formula."),
    seed: Optional[int] = typer.Option(None, help="Seed of the test set (default: the run's)."),
) -> None:
    """Evaluate a trained run again, on a test set of any size and length."""
    from lagnet.config import make_config
    from lagnet.errors import LagnetError
    from lagnet.evaluation import evaluate
    from lagnet.runs import load
    from lagnet.tasks import build_task

    r = load(run_dir)
    data = r.config.model_dump()
    if target is not None:
        data["target"]["formula"] = target
    if seed is not None:
        data["eval"]["seed"] = seed
    if paths is not None:
        data["eval"]["test_paths"] = paths
    if length is not None:
        data["train"]["length"] = length
    cfg = make_config(data)
    task = build_task(cfg)
    if task.c_out != int(r.model.y_mean.shape[0]):
        raise LagnetError("target", target, "has a different number of outputs than the model")
    ev = evaluate(r.model, task, cfg.eval, cfg.train.length)
    out.print(_metrics_table(ev.metrics, f"{cfg.target.formula} — {cfg.eval.test_paths} paths × "
                                         f"{cfg.train.length} steps"))


@app.command()
@_cli
def simulate(
    process: str = typer.Option(..., help='Process spec, e.g. "ar1(rho=0.1)".'),
    paths: int = typer.Option(..., help="Number of paths."),
    length: int = typer.Option(..., help="Time steps per path."),
    out_file: Path = typer.Option(..., "--out", help="Output file: .csv or .npz"),
    seed: int = typer.Option(0, help="Seed."),
) -> None:
    """Simulate paths of a process and write them to CSV (long format) or NPZ."""
    import jax
    import numpy as np

    from lagnet.errors import LagnetError
    from lagnet.processes import build_process, parse_process_spec

    if paths <= 0:
        raise LagnetError("paths", paths, "must be positive")
    if length <= 0:
        raise LagnetError("length", length, "must be positive")
    suffix = out_file.suffix.lower()
    if suffix not in (".csv", ".npz"):
        raise LagnetError("out", str(out_file), "must end in .csv or .npz")
    proc = build_process(parse_process_spec(process))
    if suffix == ".csv" and {"path", "t"} & set(proc.series):
        raise LagnetError("process.name", proc.series[0], "clashes with the CSV columns path and t")
    series = {k: np.asarray(v) for k, v in proc.sample(jax.random.PRNGKey(seed), paths, length).items()}
    out_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_file.with_name(f".{out_file.name}.tmp{suffix}")
    try:
        if suffix == ".npz":
            np.savez_compressed(tmp, **series)
        else:
            names = list(series)
            pi, ti = np.meshgrid(np.arange(paths), np.arange(length), indexing="ij")
            table = np.column_stack([pi.ravel(), ti.ravel()] + [series[n].ravel() for n in names])
            np.savetxt(tmp, table, delimiter=",", header=",".join(["path", "t", *names]),
                       comments="", fmt=["%d", "%d"] + ["%.8g"] * len(names))
        os.replace(tmp, out_file)
    finally:
        tmp.unlink(missing_ok=True)
    out.print(f"wrote {paths} paths × {length} steps of {', '.join(series)} to {out_file}",
              highlight=False)


@app.command()
@_cli
def report(run_dir: Path = typer.Argument(..., help="A run directory.")) -> None:
    """Re-make the plots and report.html of a run directory (no retraining)."""
    from lagnet.errors import LagnetError
    from lagnet.runs import render

    if not (run_dir / "metrics.json").is_file():
        raise LagnetError("run_dir", str(run_dir), "not a run directory (no metrics.json)")
    render(run_dir)
    out.print(f"wrote {run_dir}/report.html", highlight=False)


def main() -> None:  # pragma: no cover
    sys.exit(app())
