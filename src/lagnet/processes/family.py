"""What a process declares about itself, and the registry that reads the declarations.

Each module in ``lagnet/processes/`` holds one process — its config, its spec forms
(``ar1(rho=0.1)``), its simulator and its theory — and ends by registering it:

    PROCESSES.register(ProcessFamily(kind="ou", config=OUConfig, build=OU, forms={…}, …))

Config validation, the spec parser, ``build_process`` and the contract test suite read those
declarations, so a new process is one new file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import field_validator

from lagnet.settings import Registry, Settings, validate_member

# What a spec parameter may be (the spec parser checks the literal against it).
NUM, NUMS, STR = "a number", "a list of numbers", "a string"
STRS, MAT = "a list of strings", "a matrix (a list of lists of numbers)"
MATS = "a matrix or a list of matrices"
SHARES = "a string or a list of numbers"  # the data process's split: "none", "0.6,0.2,0.2", [..]


class ProcessConfig(Settings):
    """The base of every process's config: its ``kind``."""

    kind: str

    @field_validator("*")
    @classmethod
    def _float32(cls, v: Any) -> Any:
        # Processes are simulated in float32: a number beyond its range would be inf there,
        # and squaring one overflows even float64 in some constructors (ARMA's variance).
        if _too_large(v):
            raise ValueError("beyond float32's range (|v| <= 3.4e38): processes run in float32")
        return v


def _too_large(v: Any) -> bool:
    if isinstance(v, (tuple, list)):
        return any(map(_too_large, v))
    return isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) > 3.4028234e38


@dataclass(frozen=True)
class SpecForm:
    """One name of the spec language (``ar1``): its parameters (in positional order), the
    required ones, how the parameters become a config, and which config field each spec
    parameter fills where the names differ (config field -> spec parameter)."""

    params: dict[str, str]
    positional: tuple[str, ...] = ()
    required: tuple[str, ...] = ()
    make: Callable[[dict[str, Any]], ProcessConfig] | None = None
    renamed: dict[str, str] = field(default_factory=dict)


def rename(kw: dict[str, Any], old: str, new: str, wrap: bool = False) -> dict[str, Any]:
    """Spec parameter ``old`` as config field ``new`` (wrapped in a tuple with ``wrap``)."""
    kw = dict(kw)
    if old in kw:  # absent when a required parameter is missing; reported after validation
        value = kw.pop(old)
        kw[new] = (value,) if wrap else value
    return kw


def _no_examples(directory: Path) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class ProcessFamily:
    """One process. ``build(config)`` → a ``Process``; ``forms``: its spec names (a form
    without ``make`` builds ``config(**params)``); ``examples(directory)``: configs (or ready
    processes) the contract test suite samples, given a directory for any files they need;
    ``optimal(config, formula, observed, key)``: the optimal filter's prediction of the target
    ``formula`` (spaces removed) from the observed series by name, (N, L) each — a
    ``lagnet.filters.Optimal`` — or None where it is not known (see :mod:`lagnet.optimal`)."""

    kind: str
    config: type[ProcessConfig]
    build: Callable[[Any], Any]
    summary: str
    forms: dict[str, SpecForm] = field(default_factory=dict)
    examples: Callable[[Path], dict[str, Any]] = _no_examples
    optimal: Callable[..., Any] | None = None

    def form(self, name: str) -> SpecForm:
        f = self.forms[name]
        if f.make is None:
            return SpecForm(
                f.params, f.positional, f.required, lambda kw: self.config(**kw), f.renamed
            )
        return f


PROCESSES: Registry[ProcessFamily] = Registry("process.kind", "lagnet.processes", lambda f: f.kind)


def process_config(data: Any) -> ProcessConfig:
    """The config of the process ``data["kind"]``, validated; bad input → LagnetError naming
    ``process.<field>``."""
    if isinstance(data, ProcessConfig):
        return data
    if isinstance(data, Settings):
        data = data.model_dump()
    kind = data.get("kind", "arma") if isinstance(data, dict) else data
    return validate_member(PROCESSES.get(kind).config, data, "process")
