"""`lagnet doctor`: its measurements against mathematics, and its verdict naming the right
cause on tiny runs made to fail in one known way each."""

from __future__ import annotations

import json
import shutil

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from typer.testing import CliRunner

from lagnet.api import build_config
from lagnet.cli import app
from lagnet.config import load_config, make_config
from lagnet.doctor import diagnose, read_evaluations
from lagnet.doctor.flow import flow_summary, horizon_summary, sensitivity_by_lag
from lagnet.doctor.memory import effective_memory, lag_oracle, memory_probe, needed_memory
from lagnet.models.family import grow_net
from lagnet.runs import run

runner = CliRunner()
MINUS, PLUS = "x[t]**2 - 0.5*x[t-1]**2", "x[t]**2 + 0.5*x[t-1]**2"


def tiny(formula: str, **model) -> dict:
    """A run of seconds: 60 steps on iid normal inputs, small test and baseline samples."""
    return dict(
        process="iid(dist='normal')",
        target=dict(formula=formula),
        model=dict(dict(kind="gru", hidden=8, head=[16]), **model),
        train=dict(steps=60, batch=32, length=24, val_every=20, val_paths=64, pilot_paths=64),
        eval=dict(test_paths=100, baseline_paths=400, long_paths=8, long_factor=4),
    )


def train(path, data: dict):
    run(make_config(data)).save(path, plots=False)
    return path


@pytest.fixture(scope="module")
def forum_run(tmp_path_factory):
    """The forum's network trained briefly on the minus sign."""
    return train(tmp_path_factory.mktemp("forum") / "run", tiny(MINUS))


@pytest.fixture
def forum(forum_run, tmp_path):
    return shutil.copytree(forum_run, tmp_path / "run")


# ----------------------------------------------------------------------------- measurements
class Leaky(eqx.Module):
    """y_t = Σ_k a^k x_{t−k}: a linear recurrence whose ∂y_t/∂x_{t−k} is exactly a^k."""

    a: float

    def __call__(self, x):
        def cell(h, x_t):
            h = self.a * h + x_t
            return h, h

        _, hs = jax.lax.scan(cell, jnp.zeros(x.shape[::2]), jnp.swapaxes(x, 0, 1))
        return jnp.swapaxes(hs, 0, 1)  # (N, L, 1)


def test_gradient_flow_of_a_linear_recurrence_is_a_power():
    x = np.random.default_rng(0).normal(size=(4, 30, 1)).astype(np.float32)
    g = sensitivity_by_lag(Leaky(0.5), x, kmax=12, ends=3)
    np.testing.assert_allclose(g, 0.5 ** np.arange(13), rtol=1e-5)
    s = flow_summary(g, horizon=10, finite_reach=False)
    assert s["slope"] == pytest.approx(np.log10(0.5), rel=1e-4)
    assert s["state"] == "vanishing" and s["decades"] == pytest.approx(-3.0103, rel=1e-3)
    assert flow_summary(sensitivity_by_lag(Leaky(0.9), x, 12), 10, False)["state"] == "healthy"
    assert flow_summary(sensitivity_by_lag(Leaky(2.5), x, 12), 10, False)["state"] == "exploding"


def test_lag_oracle_finds_the_lag_and_the_models_memory():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 30, 1))
    y = np.zeros_like(x)
    y[:, 3:] = x[:, :-3] ** 2 + x[:, 3:]  # y_t = x_{t-3}² + x_t
    ks = [0, 1, 2, 3, 4]
    mse = lag_oracle(x[:200], y[:200], x[200:], y[200:], ks, t0=4, knots=8)
    np.testing.assert_allclose(mse[:3], 2.0, rtol=0.1)  # Var(x²) = 2 until the lag is seen
    assert mse[3] < 1e-6 and mse[4] < 1e-6
    assert needed_memory(ks, mse) == 3
    assert effective_memory(ks, mse, model_mse=1.0) == 3
    assert effective_memory(ks, mse, model_mse=2.5) == 0
    assert effective_memory(ks, mse, model_mse=mse[0] - 0.01) == 0  # flat: noise is no memory
    assert effective_memory([0, 1], [1.0, 0.5], model_mse=0.3) is None  # beats the oracle


def test_memory_probe_reads_back_what_the_state_holds():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(200, 20, 1))
    prev = np.concatenate([np.zeros((200, 1, 1)), x[:, :-1]], axis=1)
    states = np.concatenate([x, prev, rng.normal(size=(200, 20, 3))], axis=2)  # h_t ∋ x_t, x_{t-1}
    r2 = memory_probe(states[:100], x[:100], states[100:], x[100:], [0, 1, 2, 3], t0=3)
    assert r2[0] > 0.999 and r2[1] > 0.999
    assert abs(r2[2]) < 0.05 and abs(r2[3]) < 0.05


def test_horizon_summary_sees_drift_after_the_training_length():
    steps = [None] + [1.0] * 49 + [3.0] * 150
    s = horizon_summary(steps, train_length=50, block=5)
    assert s["state"] == "drifts" and s["drift_ratio"] == pytest.approx(3.0)
    assert horizon_summary([None] + [1.0] * 199, 50, 5)["state"] == "stable"
    assert horizon_summary([1.0] * 100 + [float("nan")] * 5, 50, 5)["state"] == "unstable"
    growing = [1.0] * 50 + list(np.geomspace(1.0, 1e3, 150))  # late error 10²–10³× the level
    assert horizon_summary(growing, 50, 5)["state"] == "unstable"
    spike = [1.0] * 120 + [40.0] + [1.0] * 79  # one bad step is no instability
    assert horizon_summary(spike, 50, 5)["state"] == "stable"


# ----------------------------------------------------------------------------- verdicts
@pytest.mark.slow
def test_a_forum_bug_training_and_evaluation_targets_differ(forum):
    res = runner.invoke(app, ["eval", str(forum), "--paths", "50", "--target", PLUS])
    assert res.exit_code == 0, res.output
    assert [e["formula"] for e in read_evaluations(forum)] == [PLUS]
    res = runner.invoke(app, ["doctor", str(forum), "--quick"])
    assert res.exit_code == 0, res.output
    assert "Training and evaluation targets differ" in res.output
    assert MINUS in res.output and PLUS in res.output
    doc = json.loads((forum / "doctor.json").read_text())
    assert doc["verdict"]["primary"] == "targets_differ"
    assert doc["overrides"]["target.formula"] == PLUS
    page = (forum / "report.html").read_text(encoding="utf-8")
    assert "id='doctor'" in page and "Training and evaluation targets differ" in page
    assert page.count("data:image/png;base64,") >= 3


@pytest.mark.slow
def test_b_memory_longer_than_the_receptive_field(tmp_path):
    run_dir = train(tmp_path / "w", tiny("x[t]**2 + 0.5*x[t-5]**2", kind="window", window=2))
    res = runner.invoke(app, ["doctor", str(run_dir), "--quick", "--fix"])
    assert res.exit_code == 0, res.output
    assert "sees only the last 2 input(s)" in res.output and "window ≥ 6" in res.output
    doc = json.loads((run_dir / "doctor.json").read_text())
    assert doc["verdict"]["primary"] == "receptive_field"
    assert doc["memory"]["true"] == 5 and doc["memory"]["effective"] < 5
    assert doc["gradients"]["summary_trained"]["reach"] == 1  # ∂y_t/∂x_{t-k} = 0 for k ≥ 2
    assert doc["probe"]["r2"] is None and "no recurrent hidden state" in doc["probe"]["skipped"]
    fixed = doc["fix"]
    assert fixed["overrides"]["model.window"] == 6
    assert load_config(tmp_path / "w-fixed" / "config.toml").model.window == 6
    assert fixed["after"]["memory_r2"] > fixed["before"]["memory_r2"] + 0.5
    assert "before / after" in res.output


@pytest.mark.slow
def test_c_vanishing_gradients_through_time(tmp_path):
    data = tiny("x[t-40]", kind="rnn", activation="tanh")
    data["train"]["length"] = 60
    d = diagnose(train(tmp_path / "rnn", data), quick=True)
    v, init = d.doc["verdict"], d.doc["gradients"]["summary_init"]
    assert v["primary"] == "vanishing_gradients", v
    assert init["state"] == "vanishing" and init["decades"] < -3
    assert "40 steps" in v["cause"] and "Gradients through time fall by 10⁻" in v["lines"][1]
    first = d.findings[0].remedies[0].overrides
    assert first == {"model.kind": "window", "model.window": 41}  # a long known lag


@pytest.mark.slow
def test_d_unnormalised_huge_target(tmp_path):
    data = tiny("1000*(x[t]**2 + 0.5*x[t-1]**2)", normalize=False)
    d = diagnose(train(tmp_path / "big", data), quick=True)
    assert d.doc["verdict"]["primary"] == "unnormalised", d.doc["verdict"]
    assert "model.normalize = false" in d.doc["verdict"]["cause"]
    assert d.doc["overrides"]["model.normalize"] is True


@pytest.mark.slow
def test_e_too_few_steps(forum):
    d = diagnose(forum, quick=True)
    v = d.doc["verdict"]
    assert v["primary"] == "too_few_steps", v
    assert "60 taken" in v["cause"]
    assert not {"targets_differ", "unnormalised", "vanishing_gradients"} & set(v["causes"])
    assert "same_target" in [f["code"] for f in d.doc["findings"]]  # said so, as a note
    assert d.doc["overrides"]["train.steps"] > 60


@pytest.mark.slow
def test_a_fix_keeps_to_the_budget_it_is_given(forum, tmp_path):
    """A remedy of more steps (here 2000) trains within --max-seconds, which is recorded."""
    args = ["doctor", str(forum), "--quick", "--fix", "--max-seconds", "0.05"]
    res = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    fixed = json.loads((forum / "doctor.json").read_text())["fix"]
    assert fixed["max_seconds"] == 0.05 and fixed["overrides"]["train.steps"] >= 2000
    assert "the fix trained within 0.05 s (--max-seconds)" in res.output
    assert load_config(tmp_path / "run-fixed" / "config.toml").train.max_seconds == 0.05
    info = json.loads((tmp_path / "run-fixed" / "metrics.json").read_text())["train"]
    assert info["stopped"] == "max_seconds" and info["steps"] < 2000


@pytest.mark.slow
def test_f_target_needs_no_memory_from_a_config(tmp_path):
    import tomli_w

    cfg = tmp_path / "square.toml"
    cfg.write_text(tomli_w.dumps(tiny("x[t]**2")))
    res = runner.invoke(app, ["doctor", str(cfg), "--quick", "--out", str(tmp_path / "sq")])
    assert res.exit_code == 0, res.output
    assert "The target needs no memory" in res.output and "null" in res.output
    doc = json.loads((tmp_path / "sq" / "doctor.json").read_text())
    assert doc["verdict"]["primary"] == "no_memory"
    assert doc["run"]["test"]["memory_r2"] is None and doc["memory"]["needed"] == 0


@pytest.mark.parametrize(
    "args,field",
    [
        (["doctor", "no-such-run"], "run_dir"),
        (["doctor", "notes.txt"], "run_dir"),
        (["doctor", "RUN", "--out", "elsewhere"], "out"),
        (["doctor", "RUN", "--fix"], "out"),  # RUN-fixed exists and is not a run
        (["doctor", "RUN", "--seed", "-1"], "seed"),
        (["doctor", "RUN", "--max-seconds", "5"], "max-seconds"),  # without --fix
        (["doctor", "RUN", "--fix", "--max-seconds", "0"], "max-seconds"),
        (["doctor", "RUN", "--fix", "--max-seconds", "inf"], "max-seconds"),
        (["doctor", "RUN", "--fix", "--max-seconds", "nan"], "max-seconds"),
    ],
)
def test_doctor_bad_input_exits_2_with_one_line(args, field, tiny_run_dir, tmp_path, monkeypatch):
    """Refused before any work; the run is the shared tiny one (which run does not matter)."""
    forum = shutil.copytree(tiny_run_dir[0], tmp_path / "run")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("keep")
    (tmp_path / "run-fixed").mkdir()
    (tmp_path / "run-fixed" / "notes.txt").write_text("keep")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    res = runner.invoke(app, [str(forum) if a == "RUN" else a for a in args])
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: {field}:"), res.output
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_flow_summary_calls_overflowing_gradients_exploding():
    """Sensitivities that overflow float32 are the extreme of exploding, not 'healthy'."""
    from lagnet.doctor.findings import power_of_ten
    from lagnet.doctor.flow import flow_summary

    g = np.array([10.0 ** (5 * k) for k in range(8)] + [np.inf] * 4, np.float32)  # overflowed
    s = flow_summary(g, 11, False)
    assert s["state"] == "exploding"
    assert "overflow" in power_of_ten(s["decades"])


def test_growing_a_budget_run_doubles_its_budget_not_its_step_ceiling():
    """A run with --max-seconds has steps = 1 000 000 as a ceiling: the doctor advised
    train.steps = 2000000."""
    cfg = build_config("ar1(rho=0.1)", "x[t-1]", "gru", max_seconds=10)
    words, changes = grow_net(cfg.model, cfg.train)
    assert changes == {"model.hidden": 2 * cfg.model.hidden, "train.max_seconds": 20}
    assert words.endswith("train.max_seconds = 20")
    cfg = build_config("ar1(rho=0.1)", "x[t-1]", "gru", steps=300)
    assert grow_net(cfg.model, cfg.train)[1]["train.steps"] == 600
