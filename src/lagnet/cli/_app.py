"""The ``lagnet`` app, its consoles, and what every command shares: one line and exit 2 for
bad input, one line and exit 1 for any other failure, the metrics table. Each command group
lives in a module of its own beside this one and imports only from here and the library.

Exit codes: 0 success, 2 bad input (one line naming the field and the value, no traceback),
1 failure, 130 interrupted.
"""

from __future__ import annotations

import functools
import math
import os
from typing import List, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lagnet.errors import LagnetError, Preempted
from lagnet.shown import below, percent

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Teach neural networks functions of a time series' past, and tell the "
    "truth about how well they learned.",
)
err = Console(stderr=True)
out = Console()


def command(fn):
    """Turn bad input into one line and exit 2; other failures into one line and exit 1."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            fn(*args, **kwargs)  # nothing returned: under main(), a returned int is the exit code
            return None
        except LagnetError as e:
            err.print(f"[red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except typer.Exit:
            raise
        except KeyboardInterrupt as e:
            err.print("interrupted")
            raise typer.Exit(143 if isinstance(e, Preempted) else 130) from None
        except Exception as e:  # noqa: BLE001 — the CLI's last word; LAGNET_DEBUG shows the trace
            if os.environ.get("LAGNET_DEBUG"):
                raise
            err.print(
                f"[red]failed:[/] {type(e).__name__}: {escape(str(e))}",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(1) from None

    return wrapper


def _interval(test: dict) -> str:
    """memory_r2's 95% interval over test paths, where it is 0.01 wide or more."""
    lo_hi = test.get("memory_r2_interval")
    if not lo_hi or lo_hi[1] - lo_hi[0] < 0.01:
        return ""
    return f" (95%: {below(lo_hi[0], 3)} to {below(lo_hi[1], 3)})"


def metrics_table(metrics: dict, title: str) -> Table:
    t = Table(title=escape(title))
    for col in ("", "MSE", "R²"):
        t.add_column(col, justify="right" if col else "left")
    test, base = metrics["test"], metrics["baselines"]
    t.add_row("model", f"{test['mse']:.4g}", below(test["r2"], 5))
    t.add_row(
        "memoryless baseline",
        f"{base['memoryless']['mse']:.4g}",
        below(base["memoryless"]["r2"], 5),
    )
    t.add_row(
        f"linear, last {base['linear_lags']['lags']} steps",
        f"{base['linear_lags']['mse']:.4g}",
        below(base["linear_lags"]["r2"], 5),
    )
    opt = base.get("optimal")
    if opt:  # the best possible prediction, on the same test paths
        name = opt["name"] + (f", {opt['particles']} particles" if opt.get("particles") else "")
        t.add_row(escape(f"optimal: {name}"), f"{opt['mse']:.4g}", below(opt["r2"], 5))
    if "long_horizon" in metrics:
        lh = metrics["long_horizon"]
        t.add_row(f"model, {lh['length']}-step paths", f"{lh['mse']:.4g}", below(lh["r2"], 5))
    outputs = metrics.get("outputs") or []
    for i, o in enumerate(outputs):  # several outputs: the rows above average these
        t.add_row(
            escape(f"model, output {i + 1}: {o['formula']}"), f"{o['mse']:.4g}", below(o["r2"], 5)
        )
    mr2 = test["memory_r2"]
    why = "needs no memory" if math.isfinite(test["r2"]) else "does not vary"
    t.caption = (
        f"memory_r2 = n/a (the target {why})"
        if mr2 is None
        else f"memory_r2 = {below(mr2, 4)}{_interval(test)}   NRMSE = {test['nrmse']:.4g}"
    )
    if outputs:
        needing = sum(o["memory_r2"] is not None for o in outputs)
        fewer = f"; memory_r2 over {needing}" if mr2 is not None and needing < len(outputs) else ""
        t.caption += f"   (averaged over {len(outputs)} outputs{fewer})"
    if test.get("reachable_share") is not None:
        t.caption += f"   reachable error removed = {percent(test['reachable_share'])}"
    return t


def formula_option(values: Optional[List[str]]):
    """``--target`` given once is one formula; given several times, one output each."""
    if not values:
        return None
    return values[0] if len(values) == 1 else list(values)


def split_list(values: Optional[List[str]]) -> list[str]:
    """``--tasks a,b --tasks c`` → [a, b, c]. Commas inside parentheses stay (``memory-k(k=5)``)."""
    items: list[str] = []
    for v in values or []:
        depth, cur = 0, ""
        for ch in v:
            depth += ch == "("
            depth -= ch == ")"
            if ch == "," and depth == 0:
                items.append(cur.strip())
                cur = ""
            else:
                cur += ch
        if cur.strip():
            items.append(cur.strip())
    return items


def note_lines(lines: list[str | None]) -> list[str]:
    """The notes as printed (rich markup), one line each (None: nothing to say)."""
    return [f"note: {escape(line)}" for line in filter(None, lines)]


def notes(lines: list[str | None]) -> None:
    """What the library said on the way (settings dropped, inputs chosen), one line each
    (None: nothing to say)."""
    for line in note_lines(lines):
        err.print(line, highlight=False, soft_wrap=True)
