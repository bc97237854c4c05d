"""``lagnet train`` — train a model, evaluate it on held-out paths, write the run directory."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import List, Optional

import typer
from rich.markup import escape

from lagnet.cli._app import (
    app,
    command,
    err,
    formula_option,
    metrics_table,
    note_lines,
    notes,
    out,
    split_list,
)
from lagnet.config import RunConfig, load_config, merge
from lagnet.errors import LagnetError
from lagnet.evaluation import variance_note
from lagnet.models import FAMILIES, family
from lagnet.models.family import NetConfig
from lagnet.registry import family_settings, task_config
from lagnet.report import held_out_words
from lagnet.rundir import read_status
from lagnet.runs import check_out_dir, default_run_dir, on_device
from lagnet.targets import formula_text
from lagnet.tasks import build_task, default_inputs_note
from lagnet.tracking import make_tracker, tracked_run
from lagnet.training import Checkpoint

# what a run trains when neither a config, a task, --process nor --target says: the forum's
# question (the defaults of lagnet.config.RunConfig)
DEFAULT_PROCESS = "ar1(rho=0.1)"
DEFAULT_TARGET = RunConfig().target.formula


@app.command()
@command
def train(
    config: Optional[Path] = typer.Argument(None, help="A run config (TOML)."),
    task: Optional[str] = typer.Option(
        None, help='A named task (see `lagnet tasks`), e.g. "narma10" or "memory-k(k=20)".'
    ),
    process: Optional[str] = typer.Option(
        None,
        help=f'Process spec, e.g. "{DEFAULT_PROCESS}", the default where neither a config nor '
        "a task gives one.",
    ),
    target: Optional[List[str]] = typer.Option(
        None,
        help=f'Formula, e.g. "{DEFAULT_TARGET}", the default where neither a config nor a task '
        "gives one; give it again for more outputs.",
    ),
    inputs: Optional[str] = typer.Option(
        None,
        help="The series the model sees, comma-separated, e.g. r,z (default: x, or the "
        "process's only observed series).",
    ),
    model: Optional[str] = typer.Option(None, help=" | ".join(FAMILIES.names())),
    hidden: Optional[int] = typer.Option(None, help="Hidden units per layer."),
    layers: Optional[int] = typer.Option(None, help="Layers (recurrent, blocks)."),
    steps: Optional[int] = typer.Option(None, help="Most training steps."),
    batch: Optional[int] = typer.Option(None, help="Paths per step."),
    length: Optional[int] = typer.Option(None, help="Time steps per path."),
    lr: Optional[float] = typer.Option(None, help="Peak learning rate (after the warm-up)."),
    max_seconds: Optional[float] = typer.Option(None, help="Wall-clock budget for training."),
    seed: Optional[int] = typer.Option(None, help="Seed of the run."),
    device: Optional[str] = typer.Option(None, help="auto | cpu | gpu"),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="Run directory to write."),
    set_: List[str] = typer.Option([], "--set", help="Override any setting: a.b=value."),
    test_data: Optional[Path] = typer.Option(
        None, "--test-data", help="Test on this second data file (a data(...) process)."
    ),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
    track: Optional[str] = typer.Option(
        None,
        help="Log the run: mlflow (to MLFLOW_TRACKING_URI or MLflow's default store) or "
        "tensorboard (event files under runs/tensorboard).",
    ),
    resume: Optional[Path] = typer.Option(
        None,
        "--resume",
        help="Go on with an interrupted or killed run from its checkpoint (its directory), "
        "with the run's own settings: only --quiet and --track may be given with it.",
    ),
) -> None:
    """Train a model, evaluate it on held-out paths, write the run directory and report.

    Exit codes: 0 done; 2 bad input, in one line, with nothing left behind (a finished run
    in --out is put back); 130 Ctrl-C and 143 SIGTERM, the run marked interrupted (--resume
    goes on); 1 any other failure."""
    if config is not None and task is not None:
        raise LagnetError("task", task, "give a config file or a task, not both")
    resumed: str | None = None  # the line that says where a resumed run goes on from
    if resume is not None:
        options = {
            "config": config,
            "--task": task,
            "--out": out_dir,
            "--process": process,
            "--target": formula_option(target),
            "--inputs": inputs,
            "--model": model,
            "--hidden": hidden,
            "--layers": layers,
            "--steps": steps,
            "--batch": batch,
            "--length": length,
            "--lr": lr,
            "--max-seconds": max_seconds,
            "--seed": seed,
            "--device": device,
            "--set": set_[0] if set_ else None,
            "--test-data": test_data,
        }  # refused on a complete run too: it would be dropped without a word
        for name, value in options.items():
            if value is not None:
                raise LagnetError(
                    name,
                    str(value) if isinstance(value, Path) else value,
                    f"--resume goes on with the run's own settings; drop {name}",
                )
        config, out_dir = resume_config(resume), resume
        if config is None:
            out.print(
                f"{escape(str(resume))} is complete; nothing to resume",
                highlight=False,
                soft_wrap=True,
            )
            return
        resumed = resume_line(resume)
    base = task_config(task) if task is not None else config  # "" is refused there
    values = {
        # the task's recommendation for the family asked for (a window MLP's window)
        **(family_settings(task, model) if task is not None else {}),
        "process": process,
        "target.formula": formula_option(target),
        "target.inputs": split_list([inputs]) if inputs is not None else None,
        "model.kind": model,
        "model.hidden": hidden,
        "model.layers": layers,
        "train.steps": steps,
        "train.batch": batch,
        "train.length": length,
        "train.lr": lr,
        "train.max_seconds": max_seconds,
        "seed": seed,
        "device": device,
    }
    cfg, said = merge(base, values, set_)
    said = [resumed, *said]
    if test_data is not None:
        cfg = with_test_data(cfg, test_data)
    target_dir = out_dir or default_run_dir(cfg)
    built = build_task(cfg)  # refuse bad input before anything starts
    check_out_dir(target_dir, resume=resume is not None)
    tracker = make_tracker(track)
    with on_device(cfg.device):  # a device that is not here: refused before anything starts
        pass
    from lagnet.progress import ProgressBar

    bar = None if quiet else ProgressBar(cfg.train, err)

    def begin() -> None:
        """Once the run accepts its input, say what it trains. Input the run refuses (a target
        NaN on its paths) is then the one line said, with no header or bar before it."""
        inputs_note = default_inputs_note(cfg, built)
        said_all = said + ([inputs_note] if inputs_note else []) + data_notes(built, cfg)
        said_all += [v] if (v := variance_note(built)) else []  # a target of infinite variance
        if bar is None:
            return notes(said_all)
        m = cfg.model
        trained = isinstance(m, NetConfig) and family(m.kind).trained
        size = f"({m.hidden}×{m.num_layers})" if trained else ""
        header = (
            f"[bold]lagnet[/] {escape(formula_text(cfg.target.formula))}  on  "
            f"{escape(_describe(cfg))}  model {m.kind}{size}  inputs "
            f"{escape(', '.join(built.inputs))}"
        )  # with the notes, taken away with the bar if the fit refuses the input
        bar.start([*note_lines(said_all), header])

    again = resume is not None
    with bar or nullcontext():
        result = tracked_run(
            tracker, cfg, target_dir, callbacks=[bar] if bar else [], resume=again, started=begin
        )
    m = result.metrics
    out.print(metrics_table(m, table_title(m)))
    out.print(escape(m["verdict"]["headline"]), highlight=False)
    for line in fit_summary(m["train"]):
        out.print(escape(line), highlight=False)
    out.print(f"wrote {escape(str(target_dir))}/report.html", highlight=False, soft_wrap=True)
    if tracker is not None:
        out.print(f"tracked: {escape(tracker.describe())}", highlight=False, soft_wrap=True)
    if m["train"].get("stopped") == "interrupted":
        err.print(
            f"interrupted at step {m['train']['steps']}: the files are those of the best weights "
            f"so far; go on with `lagnet train --resume {escape(str(target_dir))}`",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(143 if m["train"].get("signal") == "SIGTERM" else 130)


def resume_config(run_dir: Path):
    """The config file of a run to go on with, or None when the run is complete."""
    status = read_status(run_dir)
    if not (run_dir / "config.toml").is_file():
        raise LagnetError("resume", str(run_dir), "is not a run directory (no config.toml)")
    if status is not None and status.get("status") == "complete":
        return None
    if status is not None and status.get("status") == "running":
        raise LagnetError("resume", str(run_dir), "is in use by another lagnet process")
    cfg = load_config(run_dir / "config.toml")
    if cfg.process.kind == "custom":
        raise LagnetError(
            "resume", str(run_dir), "its process is a Python simulator: resume it from Python"
        )
    return run_dir / "config.toml"


def table_title(m: dict) -> str:
    """The metrics table's title: what was tested on. Windows of observed data are drawn
    again when the test part holds fewer than the test paths: it says from how many (1000
    windows read as 1000 where 349 were distinct)."""
    data = held_out_words(m)  # observed data: which windows tested, or that none were held out
    if not data:
        return f"test on {m['test']['paths']} held-out paths"
    distinct = (((m.get("data") or {}).get("parts") or {}).get("test") or {}).get("windows")
    drawn = (
        f" (drawn from {distinct} distinct)" if distinct and distinct < m["test"]["paths"] else ""
    )
    return f"test on {m['test']['paths']} windows{drawn}, {data}"


def resume_line(run_dir: Path) -> str:
    """Where a resumed run goes on from: its checkpoint's step, or the start when it was
    stopped before its first checkpoint (or its family keeps none: fitted in closed form)."""
    step = Checkpoint(run_dir).step()
    if step is not None:
        return f"resuming {run_dir} from step {step}"
    if Checkpoint(run_dir).exists():  # unreadable: the fit names it when it loads it
        return f"resuming {run_dir} from its checkpoint"
    return f"{run_dir}: no checkpoint yet: starting again from step 0"


def with_test_data(cfg, path: Path):
    """``cfg`` testing its observed data on a second file (``process.test_path``)."""
    if cfg.process.kind != "data":
        raise LagnetError(
            "test_data",
            str(path),
            f"tests observed data on a second file; the process is {cfg.process.kind}, a "
            "simulation, whose test paths are fresh already",
        )
    return merge(cfg, {"process.test_path": str(path)})[0]


def data_notes(task, cfg) -> list[str]:
    """Which windows of observed data train, validate and test, in a line (two when gaps
    are skipped: how many windows are usable)."""
    split = task.process.describe_split(cfg.train.length)
    if split is None:
        return []
    parts = split["parts"]
    if split["in_sample"]:
        lines = [
            f'process.split = "none": training, validation and test windows all come from '
            f"{split['path']}: an in-sample fit, not a test"
        ]
    else:
        by = "paths" if split["split"] == "path" else "steps per series"
        lines = [
            "held-out data: "
            + ", ".join(f"{n} {parts[n][by.split()[0]]} {by}" for n in ("train", "val"))
            + (f", {split['gap']} steps apart" if split["split"] == "time" else "")
            + f"; test on {parts['test']['source']} ({parts['test']['windows']} windows)"
        ]
    if split["missing"] == "skip":
        lines.append(
            f"process.missing = skip: usable windows of {cfg.train.length} steps that cross "
            "no gap: " + ", ".join(f"{n} {parts[n]['windows']}" for n in parts)
        )
    return lines


def fit_summary(info: dict) -> list[str]:
    """How the model was fitted: gradient steps or one closed-form pass, the candidates
    ``auto`` tried, and the formula a NARX recovered."""
    # auto: the kept candidate's own time (info["seconds"] is every candidate's)
    kept = [c["seconds"] for c in info.get("candidates", []) if c.get("kept")]
    seconds = kept[0] if kept else info["seconds"]
    if info.get("stopped") == "closed form":
        lines = [
            f"fitted {info['kind']} in closed form on {info['sequences']} paths in {seconds:.1f} s"
        ]
    else:
        lines = [f"trained {info['steps']} steps in {seconds:.1f} s (stopped: {info['stopped']})"]
    for c in info.get("candidates", []):
        result = f"val MSE {c['val_mse']:.4g}" if c["val_mse"] is not None else c["note"]
        lines.append(
            f"  auto: {c['kind']:<4} {result}, {c['seconds']:.1f} s"
            + ("  <- kept" if c.get("kept") else "")
        )
    if info.get("formula"):
        lines.append(f"recovered formula: {info['formula']}")
    if info.get("chosen"):  # settings a closed-form family chose on the validation set
        lines.append("note: chosen on the validation set: " + chosen_text(info["chosen"]))
    return lines


def chosen_text(chosen: dict) -> str:
    """``{"leak": 0.5, "washout": 0}`` -> ``model.leak = 0.5, model.washout = 0``."""
    return ", ".join(f"model.{k} = {v:.3g}" for k, v in chosen.items())


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
