"""GARCH targets whose variance does not exist: kappa = E[(alpha·z² + gamma·z²·1[z<0] + beta)²]
against Bollerslev's condition, quadrature, Monte Carlo and the simulator; and the note a run
on such a target carries (a GJR with t(4) shocks showed memoryless R² -0.90 and no warning)."""

import json

import numpy as np
import pytest
from scipy import integrate, stats
from typer.testing import CliRunner

from conftest import TINY_FLAGS
from lagnet.cli import app
from lagnet.processes import build_process
from lagnet.processes.garch import GARCH, GARCHConfig, shock_kurtosis

GJR_T4 = dict(omega=0.02, alpha=0.08, beta=0.9, gamma=0.03, mu=0.5, dist="student_t", df=4)


def kappa(**kw) -> float:
    return GARCH(GARCHConfig(**kw)).fourth_moment_factor()


@pytest.mark.parametrize("alpha, beta", [(0.1, 0.85), (0.3, 0.6), (0.25, 0.7), (0.05, 0.94)])
def test_normal_garch_has_bollerslevs_condition(alpha, beta):
    """Normal GARCH(1, 1): E[sigma2²] is finite iff (alpha + beta)² + 2·alpha² < 1."""
    k = kappa(alpha=alpha, beta=beta)
    assert k == pytest.approx((alpha + beta) ** 2 + 2 * alpha**2, rel=1e-12)
    note = GARCH(GARCHConfig(alpha=alpha, beta=beta)).variance_note(("sigma2",))
    assert (note is None) == ((alpha + beta) ** 2 + 2 * alpha**2 < 1)


@pytest.mark.parametrize("df", [4.5, 6.0, 10.0])
def test_kappa_of_student_t_gjr_by_quadrature(df):
    """kappa as the integral of a(z)² against the scaled t density."""
    a, b, g = 0.1, 0.8, 0.1
    scale = np.sqrt((df - 2) / df)  # z = scale·T, T ~ t(df)

    def integrand(z):
        return (a * z * z + g * z * z * (z < 0) + b) ** 2 * stats.t.pdf(z / scale, df) / scale

    exact = sum(
        integrate.quad(integrand, lo, hi, limit=200)[0] for lo, hi in ((-np.inf, 0), (0, np.inf))
    )
    m4 = integrate.quad(lambda z: z**4 * stats.t.pdf(z / scale, df) / scale, -np.inf, np.inf)[0]
    assert shock_kurtosis("student_t", df) == pytest.approx(m4, rel=1e-6)
    assert kappa(alpha=a, beta=b, gamma=g, dist="student_t", df=df) == pytest.approx(
        exact, rel=1e-6
    )


def test_kappa_by_monte_carlo_and_the_trials_cases():
    rng = np.random.default_rng(0)
    z = rng.standard_normal(2_000_000)
    a, b, g = 0.2, 0.7, 0.1
    mc = np.mean((a * z * z + g * z * z * (z < 0) + b) ** 2)
    assert kappa(alpha=a, beta=b, gamma=g) == pytest.approx(mc, rel=5e-3)
    assert kappa(alpha=a, beta=b, gamma=g) == pytest.approx(1.035, abs=1e-12)  # beyond 1
    assert kappa(**GJR_T4) == np.inf and shock_kurtosis("student_t", 4) == np.inf
    assert kappa(alpha=0.0, beta=0.9, gamma=0.0, dist="student_t", df=3) == pytest.approx(0.81)
    notes = [
        GARCH(GARCHConfig(**GJR_T4)).variance_note(("sigma2",)),
        GARCH(GARCHConfig(alpha=a, beta=b, gamma=g)).variance_note(("r", "sigma2")),
    ]
    assert "E z⁴ is infinite for Student-t shocks with df = 4" in notes[0]
    assert "= 1.035 ≥ 1: sigma2 has no finite variance" in notes[1]
    # the returns: a fourth moment missing; a model of sigma2 with all moments is not noted
    assert "r has no finite fourth moment" in GARCH(GARCHConfig(**GJR_T4)).variance_note(("r",))
    assert GARCH(GARCHConfig()).variance_note(("r", "sigma2")) is None
    t6 = GARCH(GARCHConfig(dist="student_t", df=6))  # kappa 0.9525: both exist
    assert t6.variance_note(("r", "sigma2")) is None


def test_the_simulator_has_the_closed_form_second_moment_of_sigma2(key):
    """E[sigma2²] = (omega² + 2·omega·p·V) / (1 - kappa), p = alpha + beta + gamma/2, V the
    unconditional variance: from the squared recursion, on simulated paths."""
    cfg = GARCHConfig(omega=0.05, alpha=0.05, beta=0.7, gamma=0.1)
    p = GARCH(cfg)
    pers, var = cfg.alpha + cfg.beta + cfg.gamma / 2, p.variance()
    expect = (cfg.omega**2 + 2 * cfg.omega * pers * var) / (1 - p.fourth_moment_factor())
    s2 = np.asarray(build_process(cfg).sample(key, 4000, 200)["sigma2"], np.float64)[:, 60:]
    assert np.mean(s2**2) == pytest.approx(expect, rel=0.02)


@pytest.mark.slow
def test_a_run_on_a_target_without_variance_says_so(tmp_path):
    out = tmp_path / "gjr"
    spec = ", ".join(f"{k}={v!r}" for k, v in GJR_T4.items())
    args = ["train", "--process", f"garch({spec})", "--target", "sigma2[t]", "--out", str(out)]
    flags = [*TINY_FLAGS[:2], *TINY_FLAGS[4:], "--steps", "5"]
    res = CliRunner().invoke(app, [*args, *flags], env={"COLUMNS": "300"})
    assert res.exit_code == 0, res.output
    assert "E z⁴ is infinite" in " ".join(res.output.split())  # said before training, too
    metrics = json.loads((out / "metrics.json").read_text())
    assert "E z⁴ is infinite" in metrics["target"]["note"]
    assert 0.0 <= metrics["target"]["memory_share"] <= 1.0
    from lagnet.verdict import verdict

    details = verdict(metrics)["details"]
    assert details[0].startswith("Note: E z⁴ is infinite for Student-t shocks with df = 4")
