"""``lagnet train|eval|simulate|report|tasks|bench|doctor`` — parse, then call the library.

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
    outputs = metrics.get("outputs") or []
    for i, o in enumerate(outputs):  # several outputs: the rows above average these
        t.add_row(escape(f"model, output {i + 1}: {o['formula']}"), f"{o['mse']:.4g}",
                  f"{o['r2']:.5f}")
    mr2 = test["memory_r2"]
    t.caption = ("memory_r2 = n/a (the target needs no memory)" if mr2 is None
                 else f"memory_r2 = {mr2:.4f}   NRMSE = {test['nrmse']:.4g}")
    if outputs:
        t.caption += f"   (averaged over {len(outputs)} outputs)"
    return t


def _formula_option(values: Optional[List[str]]):
    """``--target`` given once is one formula; given several times, one output each."""
    if not values:
        return None
    return values[0] if len(values) == 1 else list(values)


def _formula_text(formula) -> str:
    return formula if isinstance(formula, str) else "; ".join(formula)


@app.command()
@_cli
def train(
    config: Optional[Path] = typer.Argument(None, help="A run config (TOML)."),
    task: Optional[str] = typer.Option(None, help='A named task (see `lagnet tasks`), e.g. '
                                                  '"narma10" or "memory-k(k=20)".'),
    process: Optional[str] = typer.Option(None, help='Process spec, e.g. "ar1(rho=0.1)".'),
    target: Optional[List[str]] = typer.Option(
        None, help='Formula, e.g. "x[t]**2 + 0.1*x[t-1]**2"; give it again for more outputs.'),
    model: Optional[str] = typer.Option(None, help="rnn | gru | lstm | window | tcn | lru | transformer | esn | narx | auto"),
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
    from lagnet.errors import LagnetError
    from lagnet.runs import check_out_dir, on_device, run
    from lagnet.tasks import build_task

    if config and task:
        raise LagnetError("task", task, "give a config file or a task, not both")
    if task:
        from lagnet.registry import task_config

        data = task_config(task).model_dump()
    else:
        data = load_config(config).model_dump() if config else {}
    flags = {"process": process, "target.formula": _formula_option(target), "model.kind": model,
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
    task = build_task(cfg)  # refuse bad input before anything starts
    check_out_dir(target_dir)
    if not task.process.simulated:
        err.print("note: training, validation and test paths are all windows of the same data "
                  "file; the test measures fit to it, not generalisation to new data",
                  highlight=False)
    with on_device(cfg.device):
        pass
    if not quiet:
        size = ("" if cfg.model.kind in ("esn", "narx", "auto")
                else f"({cfg.model.hidden}×{cfg.model.num_layers})")
        err.print(f"[bold]lagnet[/] {escape(_formula_text(cfg.target.formula))}  on  "
                  f"{escape(_describe(cfg))}  "
                  f"model {cfg.model.kind}{size}")
    if quiet:
        result = run(cfg, target_dir)
    else:
        from lagnet.progress import ProgressBar

        with ProgressBar(cfg.train, err) as bar:
            result = run(cfg, target_dir, callbacks=[bar])
    m = result.metrics
    held_out = "held-out paths" if task.process.simulated else "windows of the training data"
    out.print(_metrics_table(m, f"test on {m['test']['paths']} {held_out}"))
    out.print(m["verdict"]["headline"], highlight=False)
    for line in _fit_summary(m["train"]):
        out.print(escape(line), highlight=False)
    out.print(f"wrote {target_dir}/report.html", highlight=False)


def _fit_summary(info: dict) -> list[str]:
    """How the model was fitted: gradient steps or one closed-form pass, the candidates
    ``auto`` tried, and the formula a NARX recovered."""
    if info.get("stopped") == "closed form":
        lines = [f"fitted {info['kind']} in closed form on {info['sequences']} paths in "
                 f"{info['seconds']:.1f} s"]
    else:
        lines = [f"trained {info['steps']} steps in {info['seconds']:.1f} s "
                 f"(stopped: {info['stopped']})"]
    for c in info.get("candidates", []):
        result = f"val MSE {c['val_mse']:.4g}" if c["val_mse"] is not None else c["note"]
        lines.append(f"  auto: {c['kind']:<4} {result}, {c['seconds']:.1f} s"
                     + ("  <- kept" if c.get("kept") else ""))
    if info.get("formula"):
        lines.append(f"recovered formula: {info['formula']}")
    return lines


def _describe(cfg) -> str:
    p = cfg.process
    if p.kind == "arma":
        return f"ARMA(ar={list(p.ar)}, ma={list(p.ma)})"
    if p.kind == "iid":
        return f"iid {p.dist}"
    if p.kind == "narma":
        return f"NARMA-{p.order} ({p.convention})"
    if p.kind == "data":
        return f"data from {p.path}"
    return p.kind


@app.command("eval")
@_cli
def eval_(
    run_dir: Path = typer.Argument(..., help="A run directory."),
    paths: Optional[int] = typer.Option(None, help="Test paths (default: the run's)."),
    length: Optional[int] = typer.Option(None, help="Steps per test path (default: the run's)."),
    target: Optional[List[str]] = typer.Option(
        None, help="Evaluate against another formula; give it again for more outputs."),
    seed: Optional[int] = typer.Option(None, help="Seed of the test set (default: the run's)."),
) -> None:
    """Evaluate a trained run again, on a test set of any size and length."""
    from lagnet.config import make_config
    from lagnet.doctor.records import record_evaluation
    from lagnet.errors import LagnetError
    from lagnet.evaluation import evaluate
    from lagnet.runs import load
    from lagnet.tasks import build_task

    r = load(run_dir)
    data = r.config.model_dump()
    if target:
        data["target"]["formula"] = _formula_option(target)
    if seed is not None:
        data["eval"]["seed"] = seed
    if paths is not None:
        data["eval"]["test_paths"] = paths
    if length is not None:
        data["train"]["length"] = length
    cfg = make_config(data)
    task = build_task(cfg)
    if task.c_out != int(r.model.y_mean.shape[0]):
        raise LagnetError("target.formula", cfg.target.formula, f"has {task.c_out} output(s); "
                          f"the model has {int(r.model.y_mean.shape[0])}")
    ev = evaluate(r.model, task, cfg.eval, cfg.train.length)
    out.print(_metrics_table(ev.metrics, f"{_formula_text(cfg.target.formula)} — "
                                         f"{cfg.eval.test_paths} paths × "
                                         f"{cfg.train.length} steps"))
    # Recorded, so that `lagnet doctor` can tell when training and evaluation targets differ.
    record_evaluation(run_dir, cfg.target.formula, ev.metrics, paths=cfg.eval.test_paths,
                      length=cfg.train.length, seed=cfg.eval.seed)


@app.command()
@_cli
def simulate(
    process: Optional[str] = typer.Option(None, help='Process spec, e.g. "ar1(rho=0.1)".'),
    task: Optional[str] = typer.Option(None, help="A named task: its process, and its target "
                                                  "as the column(s) `target` (see `lagnet tasks`)."),
    paths: int = typer.Option(..., help="Number of paths."),
    length: int = typer.Option(..., help="Time steps per path."),
    out_file: Path = typer.Option(..., "--out", help="Output file: .csv, .parquet or .npz"),
    seed: int = typer.Option(0, help="Seed."),
) -> None:
    """Simulate paths of a process (or a named task) and write them to CSV or Parquet (long
    format: path, t, one column per series) or NPZ (one (paths, length) array per series).
    With --task the target is written too, NaN where it is undefined (before its lags)."""
    import jax
    import numpy as np

    from lagnet.errors import LagnetError
    from lagnet.processes import build_process, parse_process_spec

    if paths <= 0:
        raise LagnetError("paths", paths, "must be positive")
    if length <= 0:
        raise LagnetError("length", length, "must be positive")
    suffix = out_file.suffix.lower()
    if suffix not in (".csv", ".parquet", ".npz"):
        raise LagnetError("out", str(out_file), "must end in .csv, .parquet or .npz")
    if (process is None) == (task is None):
        raise LagnetError("process", process, "give exactly one of --process and --task")
    target = None
    if task is not None:
        from lagnet.registry import task_config
        from lagnet.tasks import build_task

        built = build_task(task_config(task), length=length)
        proc, target = built.process, built.target
    else:
        proc = build_process(parse_process_spec(process))
    if suffix != ".npz" and {"path", "t"} & set(proc.series):
        raise LagnetError("process.name", proc.series[0],
                          "clashes with the long format's columns path and t")
    key = jax.random.PRNGKey(seed)
    sampled = proc.sample(key, paths, length)
    series = {k: np.asarray(v) for k, v in sampled.items()}
    if target is not None:
        y, valid = (np.asarray(a) for a in target(sampled))  # (N, L, O), (L,)
        y = np.where(valid[None, :, None], y, np.nan)
        names = ["target"] if y.shape[2] == 1 else [f"target_{i}" for i in range(y.shape[2])]
        series.update({n: y[..., i] for i, n in enumerate(names) if n not in series})
    out_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_file.with_name(f".{out_file.name}.tmp{suffix}")
    try:
        pi, ti = np.meshgrid(np.arange(paths), np.arange(length), indexing="ij")  # (N, L)
        if suffix == ".npz":
            np.savez_compressed(tmp, **series)
        elif suffix == ".parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            columns = {"path": pi.ravel(), "t": ti.ravel(),
                       **{n: v.ravel() for n, v in series.items()}}
            pq.write_table(pa.table(columns), tmp)
        else:
            names = list(series)
            table = np.column_stack([pi.ravel(), ti.ravel()] + [series[n].ravel() for n in names])
            # %.9g: float32 needs 9 significant digits to be read back exactly.
            np.savetxt(tmp, table, delimiter=",", header=",".join(["path", "t", *names]),
                       comments="", fmt=["%d", "%d"] + ["%.9g"] * len(names))
        os.replace(tmp, out_file)
    finally:
        tmp.unlink(missing_ok=True)
    out.print(f"wrote {paths} paths × {length} steps of {', '.join(series)} to {out_file}",
              highlight=False)
    if hasattr(proc, "diverged_count"):  # NARMA: say how often the divergence guard acted
        d = proc.diverged_count(key, paths, length)
        if d.resampled:
            err.print(f"{d.resampled} of {paths} paths diverged and were redrawn with fresh "
                      f"input; {d.unresolved} still diverged after every redraw", highlight=False)


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


from lagnet import cli_bench as _cli_bench  # noqa: E402,F401 — registers `tasks` and `bench`
from lagnet.doctor import command as _doctor  # noqa: E402,F401 — registers `doctor`


def main() -> None:  # pragma: no cover
    sys.exit(app())
