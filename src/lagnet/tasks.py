"""Task = process + target + which series the model sees.

``task.sample(key, n, length)`` is the one place data is made: simulate the paths, stack the
model's inputs, evaluate the compiled target. Training, validation, testing, baselines and plots
all call it, so the target cannot differ between the loss and the test.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from lagnet.config import RunConfig, check_seed
from lagnet.errors import LagnetError
from lagnet.models.family import family
from lagnet.processes import Process, build_process, parse_process_spec
from lagnet.registry import task_config
from lagnet.resources import check_run, check_simulate
from lagnet.targets import Target, compile_target

# (process identity, target without its default values, inputs) -> the compiled simulation;
# a process known only by itself keeps its own (``simulation``).
_PROGRAMS: dict = {}
_MAX_PROGRAMS = 64


def simulation(task: Task):
    """Outside a trace (evaluation, the baselines, the doctor), a task's simulation and target
    as one compiled program per (n, length), ``program(key, params, arrays, n=, length=)``
    (``arrays``: the process's, :meth:`~lagnet.processes.Process.arrays`), rather
    than one small program per operation. Shared by every task that samples the same paths
    — the same process, target formula and inputs — with the formula's parameters as
    arguments: a sweep over ``w`` or over seeds, or a second run in one process, compiles
    it once (a 15-point tiny sweep: 40 s -> 16 s)."""
    process = task.process
    ident = (replace(task.target, _defaults=()), task.inputs)
    if process.identity is process:
        # A process known only by itself (a user's function, the arrays of a scikit-learn
        # fit) keeps its programs: they live and die with it. In the shared table they kept
        # its data alive, 250 MB a fit of 16 MB arrays, up to 64 fits.
        programs = process.__dict__.setdefault("_programs", {})
    else:
        programs, ident = _PROGRAMS, (process.identity, *ident)
    program = programs.get(ident)
    if program is None:
        while len(programs) >= _MAX_PROGRAMS:
            programs.pop(next(iter(programs)))
        program = programs[ident] = jax.jit(
            lambda key, params, arrays, n, length: task._sample(key, n, length, params, arrays),
            static_argnames=("n", "length"),
        )
    return program


@dataclass(frozen=True)
class Task:
    process: Process
    target: Target
    inputs: tuple[str, ...]
    gap: int = 0  # steps between the training, validation and test stretches of observed data

    @property
    def c_in(self) -> int:
        return len(self.inputs)

    @property
    def c_out(self) -> int:
        return self.target.outputs

    @property
    def memory_hint(self) -> int | None:
        """The formula's largest lag when that is the memory the model needs — the target reads
        only series the model sees and does not recurse — else None (a latent or recursive
        target's memory is not written in its formula). Sets default windows."""
        if self.target.recursive or not set(self.target.series) <= set(self.inputs):
            return None
        return self.target.max_lag

    def part(self, name: str) -> Task:
        """The task on part ``name`` ("train", "val", "test") of observed data; a task built
        by ``build_task`` is on "train". A simulation serves every part itself."""
        return replace(self, process=self.process.part(name, self.gap))

    def sample(self, key: jax.Array, n: int, length: int, params=None, arrays=None):
        """Simulate n paths of ``length`` steps. Returns x (N, L, C) model inputs,
        y (N, L, O) target, valid (L,) bool — steps where the target is defined.
        ``params``: the formula's parameters, name -> number or JAX scalar (a tracer when
        the step is vmapped over them); None: the task's values (``target.params``).
        ``arrays``: what the process draws from (``process.arrays(length)``), an argument of
        the program that samples inside a trace; None: the process's own."""
        if (
            params is None
            and arrays is None
            and self.process.simulated
            and not isinstance(key, jax.core.Tracer)
            and _shape_ok(n)
            and _shape_ok(length)
        ):
            n, length = int(n), int(length)
            arrays = self.process.arrays(length)
            return simulation(self)(key, self.param_values(), arrays, n=n, length=length)
        return self._sample(key, n, length, params, arrays)

    def _sample(self, key, n, length, params, arrays=None):
        if arrays is None:
            paths = self.process.sample(key, n, length)
        else:
            paths = self.process.sample_from(arrays, key, n, length)
        x = jnp.stack([paths[name] for name in self.inputs], axis=-1)  # (N, L, C)
        y, valid = self.target(paths, params)
        return x, y, valid

    def param_values(self) -> dict[str, jax.Array]:
        """The task's formula parameters (the config's ``target.params``) as float32
        scalars, by name: what ``sample`` uses when given none."""
        return self.target.param_values()


def build_task(
    cfg: RunConfig,
    length: int | None = None,
    process: Process | None = None,
    resources: bool = True,
    fitting: bool = True,
) -> Task:
    """The task of a run config; checks that the inputs exist and are observed, and that the
    sequence is long enough (and, for observed data, short enough). ``process``: a ready
    process (a ``CallableProcess``) instead of building ``cfg.process``; its config must be
    the one ``cfg`` records. ``resources``: refuse a run that cannot fit in memory.
    ``fitting``: refuse model settings the paths cannot hold (an ESN's washout); off where
    no fit follows (evaluating a trained model at another length, simulating)."""
    if process is None:
        process = build_process(cfg.process)
    elif process.config != cfg.process:
        raise LagnetError(
            "process", repr(process), f"differs from the config's process {cfg.process!r}"
        )
    target = compile_target(
        cfg.target.formula, process.series, init=cfg.target.init, params=cfg.target.params
    )
    inputs = resolve_inputs(cfg.target.inputs, process)
    for name in inputs:
        if name not in process.series:
            raise LagnetError(
                "target.inputs",
                name,
                f"not a series of the process (it has: {', '.join(process.series)})",
            )
        if name not in process.observed:
            latent = [s for s in process.series if s not in process.observed]
            raise LagnetError(
                "target.inputs",
                name,
                f"latent, so it cannot be an input (latent: {', '.join(latent)}; "
                f"observed: {', '.join(process.observed)}); a target may use it",
            )
    length = cfg.train.length if length is None else length
    if length <= target.warmup:
        raise LagnetError(
            "train.length",
            length,
            f"must exceed the target's warm-up of {target.warmup} steps (its "
            "largest lag, +1 for a recursive target)",
        )
    limit = process.max_length
    if limit is not None and length > limit:
        raise LagnetError(
            "train.length",
            length,
            f"longer than the series of the process "
            f"({limit} steps in {getattr(cfg.process, 'path', 'its data')})",
        )
    if limit is not None and length * cfg.eval.long_factor > limit:
        raise LagnetError(
            "eval.long_factor",
            cfg.eval.long_factor,
            f"the long-horizon test needs {cfg.eval.long_factor} × {length} = "
            f"{length * cfg.eval.long_factor} steps, the series have {limit}; "
            + (
                "lower eval.long_factor or train.length"
                if 2 * length <= limit  # a factor of 2 at least: the long test is longer
                else f"lower train.length to at most {limit // cfg.eval.long_factor} (at most "
                f"{limit // 2} with eval.long_factor = 2, its least)"
            ),
        )
    if fitting:
        family(cfg.model.kind).check(cfg.model, length)
    fixed = cfg.train.fixed_paths
    if fixed is not None and fixed < cfg.train.batch:
        raise LagnetError(
            "train.fixed_paths", fixed, f"must be at least train.batch ({cfg.train.batch})"
        )
    gap = reach(cfg, target, length)
    task = Task(process.part("train", gap), target, inputs, gap=gap)
    _check_parts(cfg, task, length, fitting)
    if resources:
        lags = cfg.eval.linear_lags or min(target.max_lag + 1, 64)
        fam = family(cfg.model.kind)  # a closed-form fit takes no gradient; auto tries both
        closed = fam.closed_form or bool(fam.candidates)
        check_run(
            cfg, len(process.series), len(inputs), target.outputs, lags, not fam.closed_form, closed
        )
    return task


def reach(cfg: RunConfig, target: Target, length: int) -> int:
    """Steps back a prediction at t depends on: the target's largest lag (a whole window for a
    recursive target) plus the model's receptive field (a whole window for a recurrence). The
    gap between the held-out stretches of observed data, so no test step's inputs were
    trained on."""
    model = family(cfg.model.kind).reach(cfg.model)
    return (length if target.recursive else target.max_lag) + (model or length)


def _check_parts(cfg: RunConfig, task: Task, length: int, fitting: bool = True) -> None:
    """Each held-out part of observed data holds a window of ``length`` steps (the test part
    one of the long-horizon length, too); the validation part only for a fit."""
    if task.process.simulated:
        return
    long = length * cfg.eval.long_factor
    for name, need, field, value in (
        ("train", length, "train.length", length),
        *((("val", length, "train.length", length),) if fitting else ()),
        ("test", length, "train.length", length),
        ("test", long, "eval.long_factor", cfg.eval.long_factor),
    ):
        limit = task.part(name).process.max_length
        if need > limit:
            where = "test" if name == "test" else "training" if name == "train" else "validation"
            error = LagnetError(
                field,
                value,
                f"a window of {need} steps does not fit in the {where} part of the data "
                f"({limit} steps without a gap; split {getattr(cfg.process, 'split', None)}, "
                f"gap {task.gap}): "
                "lower train.length or eval.long_factor, change process.split or process.gap, "
                "or test on a second file (--test-data)",
            )
            error.limit = limit  # the steps the part holds: lagnet eval sizes its long horizon
            raise error


def resolve_inputs(inputs: tuple[str, ...] | None, process: Process) -> tuple[str, ...]:
    """The series the model sees: ``inputs`` as given; unset, the series ``x`` where the
    process has one, else its only observed series (GARCH's ``r``, NARMA's ``u``)."""
    if inputs is not None:
        if not inputs:
            raise LagnetError("target.inputs", [], "the model needs at least one input series")
        return tuple(inputs)
    if "x" in process.observed:
        return ("x",)
    if len(process.observed) == 1:
        return tuple(process.observed)
    raise LagnetError(
        "target.inputs",
        None,
        f"not set, and the process has several observed series "
        f"({', '.join(process.observed)}): choose with --inputs "
        f"{','.join(process.observed)} (or target.inputs)",
    )


def default_inputs_note(cfg: RunConfig, task: Task) -> str | None:
    """A line saying which inputs were chosen, when the config left them unset and they are
    not the plain ``x``."""
    if cfg.target.inputs is None and task.inputs != ("x",):
        return (
            f"inputs: {', '.join(task.inputs)} (the process's only observed series; "
            "choose others with --inputs)"
        )
    return None


def with_inputs(cfg: RunConfig, task: Task) -> RunConfig:
    """``cfg`` as the run records it: with the inputs the task resolved written in, and a
    data file's ``path`` and ``test_path`` absolute (a run trained in ``data/`` on
    ``prices.csv`` could not be evaluated or trained again from anywhere else)."""
    if cfg.target.inputs != task.inputs:
        target = cfg.target.model_copy(update=dict(inputs=task.inputs))
        cfg = cfg.model_copy(update=dict(target=target))
    if cfg.process.kind != "data":
        return cfg
    files = {
        k: str(Path(v).expanduser().absolute())
        for k in ("path", "test_path")
        if (v := getattr(cfg.process, k)) is not None
    }
    return cfg.model_copy(update=dict(process=cfg.process.model_copy(update=files)))


def simulate(
    process: str | None,
    task: str | None,
    paths: int,
    length: int,
    seed: int = 0,
    suffix: str = ".npz",
) -> tuple[dict[str, np.ndarray], Process, jax.Array]:
    """Paths of a process spec, or of a named task with its target as the column(s)
    ``target`` (``target_0``, … for several outputs; NaN where it is undefined, before its
    lags). Returns the series by name as (N, L) arrays, the process and the key used.
    A request that cannot fit in memory (written as ``suffix``) is refused first."""
    for field, value in (("paths", paths), ("length", length)):
        if value <= 0:
            raise LagnetError(field, value, "must be positive")
    check_seed(seed)
    if process is None and task is None:
        raise LagnetError(
            "process",
            "(not given)",
            'give --process (a process spec, e.g. "ar1(rho=0.1)") or --task (a named task, '
            "see `lagnet tasks`)",
        )
    if process is not None and task is not None:
        raise LagnetError("task", task, "give --process or --task, not both")
    target = None
    if task is not None:
        built = build_task(task_config(task), length=length, resources=False, fitting=False)
        proc, target = built.process, built.target
    else:
        proc = build_process(parse_process_spec(process))
    check_simulate(paths, length, len(proc.series) + (target.outputs if target else 0), suffix)
    key = jax.random.PRNGKey(seed)
    sampled = proc.sample(key, paths, length)
    series = {k: np.asarray(v) for k, v in sampled.items()}
    if target is not None:
        y, valid = (np.asarray(a) for a in target(sampled))  # (N, L, O), (L,)
        y = np.where(valid[None, :, None], y, np.nan)
        names = ["target"] if y.shape[2] == 1 else [f"target_{i}" for i in range(y.shape[2])]
        series.update({n: y[..., i] for i, n in enumerate(names) if n not in series})
    return series, proc, key


def _shape_ok(value) -> bool:
    """A positive int (what a compiled program's static shape can be); anything else goes the
    plain way, to the process's own check and its error."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value > 0
