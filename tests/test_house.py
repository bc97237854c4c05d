"""The house: a model family or a process is one file that declares itself, and everything —
config validation, the CLI's help, bench's model list, the checkpoint, the doctor and the
contract suites — reads the declaration. Switching families keeps only the settings the new
one has, and says what it dropped."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import lagnet
from lagnet.cli import app
from lagnet.config import merge
from lagnet.doctor.checks import receptive_field
from lagnet.errors import LagnetError
from lagnet.leaderboard import standard_models
from lagnet.models import FAMILIES, family
from lagnet.registry import TASKS, task_config
from model_contract import CHECKS, entries, missing_from_contract

TOY = '''
"""A throw-away family: the inputs and their exponential moving average, read out linearly."""
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from pydantic import Field

from lagnet.models.base import SequenceNet
from lagnet.models.family import FAMILIES, Family, ModelConfig
from lagnet.models.layers import host_rng, uniform


class ToyConfig(ModelConfig):
    kind: Literal["toy"] = "toy"
    decay: float = Field(0.5, gt=0, lt=1)


class Toy(SequenceNet):
    w: jax.Array  # (2C, O)
    b: jax.Array  # (O,)
    decay: float = eqx.field(static=True)

    def __init__(self, cfg, c_in, c_out, key):
        rng = host_rng(key)
        self.w, self.b, self.decay = uniform(rng, (2 * c_in, c_out), 1.0), uniform(rng, (c_out,), 1.0), cfg.decay

    def __call__(self, x):
        def cell(m, x_t):
            m = self.decay * m + (1 - self.decay) * x_t
            return m, m
        _, ms = jax.lax.scan(cell, jnp.zeros((x.shape[0], x.shape[2])), jnp.swapaxes(x, 0, 1))
        return jnp.concatenate([x, jnp.swapaxes(ms, 0, 1)], -1) @ self.w + self.b

    def init_state(self, n):
        return jnp.zeros((n, self.w.shape[0] // 2))

    def step(self, x_t, m):
        m = self.decay * m + (1 - self.decay) * x_t
        return jnp.concatenate([x_t, m], -1) @ self.w + self.b, m


FAMILIES.register(Family(
    kind="toy", config=ToyConfig, summary="a throw-away family", recurrent=True,
    build=lambda cfg, c_in, c_out, key, max_lag=None: Toy(cfg, c_in, c_out, key),
    examples=EXAMPLES))
'''


@pytest.fixture
def toy(tmp_path):
    """Register the throw-away family from one file; forget it afterwards."""

    def register(examples: dict) -> None:
        path = tmp_path / "toy.py"
        path.write_text(TOY.replace("EXAMPLES", repr(examples)))
        spec = importlib.util.spec_from_file_location("lagnet_toy_family", path)
        spec.loader.exec_module(importlib.util.module_from_spec(spec))

    yield register
    FAMILIES.unregister("toy")


@pytest.mark.slow
def test_a_family_is_one_file(toy, tmp_path):
    toy({"toy": {"decay": 0.7}})
    # config, with its own settings checked
    cfg, _ = merge(values={"model.kind": "toy", "model.decay": 0.6})
    assert cfg.model.decay == 0.6
    with pytest.raises(LagnetError, match="model.decay"):
        merge(values={"model.kind": "toy", "model.decay": 2.0})
    # bench's model list, the doctor
    assert "toy" in standard_models()
    assert receptive_field(cfg.model) is None and family("toy").recurrent
    # the contract suite picks it up, and it passes every check
    contract = entries()
    assert "toy" in contract and missing_from_contract() == []
    for check in CHECKS:
        (tmp_path / check.__name__).mkdir()
        check(contract["toy"], tmp_path / check.__name__)
    # the whole pipeline: train, evaluate, save, load
    run = lagnet.train(
        model="toy",
        target="x[t] + 0.5*x[t-1]",
        steps=20,
        batch=16,
        length=20,
        val_every=10,
        val_paths=32,
        pilot_paths=32,
        eval=dict(test_paths=32, baseline_paths=200, long_paths=4),
    )
    run.save(tmp_path / "run", plots=False)
    again = lagnet.load(tmp_path / "run")
    x = np.random.default_rng(0).normal(size=(3, 20)).astype(np.float32)
    np.testing.assert_array_equal(run.predict(x), again.predict(x))
    assert again.config.model.kind == "toy"


def test_a_family_left_out_of_the_contract_fails_it(toy):
    toy({})
    assert missing_from_contract() == ["toy"]


def test_the_cli_help_lists_every_family():
    out = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "400"}).output
    assert all(name in out for name in FAMILIES.names())


@pytest.mark.parametrize("task", list(TASKS))
def test_every_task_takes_every_family(task):
    """``--task T --model K`` keeps the task's model settings that K has and names the others
    (the settings the task left at their defaults may be sized by the budget table)."""
    base = task_config(task)
    before = base.model.model_dump(include=base.model.model_fields_set | {"kind"})
    defaults = {k: f.default for k, f in type(base.model).model_fields.items()}
    for kind in FAMILIES.names():
        cfg, notes = merge(base, {"model.kind": kind})
        fields = type(cfg.model).model_fields
        assert cfg.model.kind == kind
        for k, v in before.items():
            if k in fields and k != "kind":
                assert getattr(cfg.model, k) == v, (task, kind, k)
            elif k not in fields and v != defaults[k]:
                assert f"model.{k} = " in notes[0], (task, kind, k)  # the switch's note first
        said = [n for n in notes if not n.startswith("budget ")]
        if not [k for k, v in before.items() if k not in fields and v != defaults[k]]:
            assert said == [], (task, kind)


def test_narma30_with_an_esn_says_it_dropped_the_window():
    cfg, notes = merge(task_config("narma30"), {"model.kind": "esn"})
    assert notes == ["model.kind = esn: dropped model.window = 150 (not a setting of esn)"]


def test_run_directories_of_the_flat_config_still_load():
    """Before each family had its own config, model.json and config.toml held every family's
    settings; those at their defaults are set aside on loading."""
    flat = dict(
        kind="gru",
        hidden=8,
        layers=None,
        activation="tanh",
        head=[64],
        window=None,
        reservoir=500,
        spectral_radius=0.9,
        narx_degree=2,
        tcn_kernel=3,
        context=128,
    )
    cfg, _ = merge(values={"model": flat})
    assert cfg.model.kind == "gru" and cfg.model.hidden == 8
    with pytest.raises(LagnetError, match="model.reservoir: 100 — unknown setting"):
        merge(values={"model": dict(flat, reservoir=100)})


def test_no_import_cycles():
    """No cycle among lagnet's modules, imports inside functions included."""
    tool = Path(__file__).resolve().parents[1] / "tests" / "import_cycles.py"
    src = Path(lagnet.__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, str(tool), str(src), "lagnet", "--all"], capture_output=True, text=True
    )
    assert done.returncode == 0 and "0 import cycles" in done.stdout, done.stdout


def test_no_file_over_400_lines():
    """lagnet's modules and the project's tests, benchmarks, docs and scripts."""
    repo = Path(__file__).resolve().parents[1]
    files = list(Path(lagnet.__file__).resolve().parent.rglob("*.py"))
    for folder in ("tests", "benchmarks", "docs", "scripts"):
        files += (repo / folder).rglob("*.py")
    long = {str(p): n for p in files if (n := len(p.read_text().splitlines())) > 420}
    assert len(files) > 150 and long == {}


def test_starting_lagnet_loads_only_what_every_command_needs():
    """``import lagnet`` and the command line load no tracker, no SciPy and no matplotlib: a
    command that draws, fits a spline or tracks nothing starts without them (each is imported
    where it is first used: ``lagnet tasks`` took 0.4 s longer with SciPy, and 0.37 s longer
    with matplotlib, medians of 10 runs on 2 cores)."""
    heavy = ("mlflow", "tensorboardX", "scipy", "matplotlib", "sklearn", "optuna", "ray")
    code = (
        "import sys, lagnet, lagnet.cli; "
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({heavy!r})))"
    )
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr
