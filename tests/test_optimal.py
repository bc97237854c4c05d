"""The optimal filters against mathematics: the Kalman filter against its Riccati fixed point,
the Hamilton filter against brute-force enumeration of regime sequences, the GARCH recursion
against the process's own variance path, the particle filter against the Kalman filter; and
the optimum as a baseline in metrics, verdict, CLI table, report and leaderboard."""

import itertools
import json

import jax
import numpy as np
import pytest
from scipy.stats import norm
from typer.testing import CliRunner

from conftest import TINY_FLAGS
from lagnet import optimal as optimum
from lagnet.cli import app
from lagnet.evaluation import verdict
from lagnet.filters import (
    garch_variance,
    grid_filter,
    hamilton_filter,
    kalman_filter,
    kalman_gains,
    kalman_steady_state,
    particle_filter,
    sv_loglik,
)
from lagnet.leaderboard import markdown
from lagnet.processes import build_process
from lagnet.processes.garch import GARCHConfig
from lagnet.processes.noisy import NoisyConfig
from lagnet.processes.regime import RegimeConfig
from lagnet.processes.sv import SVConfig
from lagnet.registry import task_config
from lagnet.tasks import build_task
from test_benchmarks import json_lines, smoke


# ----------------------------------------------------------------------------- Kalman
@pytest.mark.parametrize("rho, sigma, noise", [(0.9, 1.0, 1.0), (0.0, 0.5, 2.0), (0.99, 0.1, 0.3)])
def test_kalman_steady_state_is_the_riccati_fixed_point(rho, sigma, noise):
    gain, p = kalman_steady_state(rho, sigma, noise)
    p_pred = rho**2 * p + sigma**2  # one more step of the recursion returns to (gain, p)
    assert p_pred / (p_pred + noise**2) == pytest.approx(gain, rel=1e-12)
    assert (1 - gain) * p_pred == pytest.approx(p, rel=1e-12)
    gains, variances = kalman_gains(400, rho, sigma, noise)
    assert gains[-1] == pytest.approx(gain, rel=1e-9)  # the time-varying filter converges to it
    assert variances[-1] == pytest.approx(p, rel=1e-9)


def test_kalman_steady_state_of_the_local_level_model():
    """Random walk plus noise: P_pred = noise²·(q + sqrt(q² + 4q))/2, q = sigma²/noise²
    (Harvey 1989, eq. 4.1.21)."""
    sigma, noise = 0.3, 1.5
    q = sigma**2 / noise**2
    p_pred = noise**2 * (q + np.sqrt(q**2 + 4 * q)) / 2
    gain, p = kalman_steady_state(1.0, sigma, noise)
    assert gain == pytest.approx(p_pred / (p_pred + noise**2), rel=1e-12)
    assert p == pytest.approx(p_pred * noise**2 / (p_pred + noise**2), rel=1e-12)


def test_kalman_filter_error_is_its_variance(key):
    """On simulated paths the filter's squared error at each step averages P_t."""
    cfg = NoisyConfig(rho=0.9, sigma=1.0, noise=1.0)
    paths = build_process(cfg).sample(key, 20_000, 40)
    s_hat = kalman_filter(np.asarray(paths["x"]), cfg.rho, cfg.sigma, cfg.noise)
    mse = np.mean((s_hat - np.asarray(paths["s"])) ** 2, axis=0)  # (L,)
    _, variances = kalman_gains(40, cfg.rho, cfg.sigma, cfg.noise)
    assert mse[0] == pytest.approx(0.0, abs=1e-12)  # s_0 = 0 is known
    np.testing.assert_allclose(mse[1:], variances[1:], rtol=0.05)  # 20 000 paths: ~1% sd


# ----------------------------------------------------------------------------- Hamilton
def _brute_force(x, P, mu, rho, sigma):
    """P(s_t = j | x_0..x_t) by summing the joint density over all k^(t+1) regime sequences."""
    k = len(mu)
    pi = np.linalg.lstsq(np.vstack([P.T - np.eye(k), np.ones(k)]), np.r_[np.zeros(k), 1.0])[0]
    out = np.zeros((len(x), k))
    for t in range(len(x)):
        for seq in itertools.product(range(k), repeat=t + 1):
            s0 = seq[0]
            p = pi[s0] * norm.pdf(x[0], mu[s0], sigma[s0] / np.sqrt(1 - rho[s0] ** 2))
            for u in range(1, t + 1):
                a, b = seq[u - 1], seq[u]
                p *= P[a, b] * norm.pdf(x[u], mu[b] + rho[b] * (x[u - 1] - mu[b]), sigma[b])
            out[t, seq[-1]] += p
        out[t] /= out[t].sum()
    return out


@pytest.mark.parametrize(
    "P, mu, rho, sigma, length",
    [
        ([[0.95, 0.05], [0.05, 0.95]], [-1.0, 1.0], [0.5, 0.5], [0.7, 0.7], 8),
        ([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.3, 0.3, 0.4]], [0.0, 2.0, -1.0], [0.2, -0.5, 0.8],
         [1.0, 0.5, 1.5], 5),
    ],
)  # fmt: skip
def test_hamilton_filter_matches_enumeration(key, P, mu, rho, sigma, length):
    cfg = RegimeConfig(P=P, mu=mu, rho=rho, sigma=sigma)
    x = np.asarray(build_process(cfg).sample(key, 3, length)["x"], np.float64)
    P, mu, rho, sigma = (np.asarray(a, float) for a in (P, mu, rho, sigma))
    probs = hamilton_filter(x, P, mu, rho, sigma)  # (N, L, k)
    for i in range(3):
        np.testing.assert_allclose(probs[i], _brute_force(x[i], P, mu, rho, sigma), rtol=1e-9)


# ----------------------------------------------------------------------------- GARCH
@pytest.mark.parametrize("cfg", [GARCHConfig(), GARCHConfig(gamma=0.1, beta=0.8, mu=0.3)])
def test_garch_recursion_reproduces_the_variance_path(key, cfg):
    p = build_process(cfg)
    paths = p.sample(key, 50, 300)
    s2 = garch_variance(paths["r"], cfg.omega, cfg.alpha, cfg.beta, cfg.gamma, cfg.mu, p.variance())
    # the process runs in float32: equal to its rounding
    np.testing.assert_allclose(s2, np.asarray(paths["sigma2"]), rtol=2e-5)


# ----------------------------------------------------------------------------- particle filter
def _gauss_loglik(noise):
    return lambda y, s: -0.5 * ((y - s) / noise) ** 2


@pytest.mark.slow
def test_particle_filter_converges_to_the_kalman_filter(key):
    """On a linear-Gaussian model the particle filter estimates the Kalman filter's mean; its
    Monte-Carlo error shrinks like 1/sqrt(particles) (a 16× count: ~4× smaller)."""
    cfg = NoisyConfig(rho=0.9, sigma=1.0, noise=1.0)
    x = np.asarray(build_process(cfg).sample(key, 200, 30)["x"])
    exact = kalman_filter(x, cfg.rho, cfg.sigma, cfg.noise)
    loglik = _gauss_loglik(cfg.noise)
    errors = []
    for m in (100, 1600):
        est = particle_filter(jax.random.PRNGKey(1), x, loglik, 0.0, cfg.rho, cfg.sigma, 0.0, m)
        errors.append(float(np.sqrt(np.mean((est - exact) ** 2))))
    _, variances = kalman_gains(30, cfg.rho, cfg.sigma, cfg.noise)
    assert errors[1] < 0.05 * np.sqrt(variances[-1])  # small beside the filter's own error
    assert 2.5 < errors[0] / errors[1] < 6.5


def test_grid_filter_is_the_kalman_filter_on_a_linear_gaussian_model(key):
    """With a Gaussian observation density the point-mass filter computes the Kalman filter's
    mean by quadrature: equal to 1e-6 from 200 points (s_0 stationary in both)."""
    cfg = NoisyConfig(rho=0.9, sigma=1.0, noise=1.0)
    x = np.asarray(build_process(cfg).sample(key, 50, 40)["x"], np.float64)
    var0 = cfg.sigma**2 / (1 - cfg.rho**2)
    exact = kalman_filter(x, cfg.rho, cfg.sigma, cfg.noise, p0=var0)
    loglik = lambda y, s: -0.5 * ((y - s) / cfg.noise) ** 2  # noqa: E731
    grid = grid_filter(x, loglik, 0.0, cfg.rho, cfg.sigma, np.sqrt(var0), 200)
    np.testing.assert_allclose(grid, exact, atol=1e-6)
    coarse = grid_filter(x, loglik, 0.0, cfg.rho, cfg.sigma, np.sqrt(var0), 20)
    assert np.abs(coarse - exact).max() > 1e-6  # the check can fail: 20 points are too few


@pytest.mark.slow
def test_particle_filter_agrees_with_the_grid_filter_on_stochastic_volatility(key):
    """The two filters of the SV model, one by Monte Carlo and one by quadrature, agree to the
    particle filter's own error (posterior sd ~0.6, 1000 particles: ~0.03)."""
    cfg = SVConfig()
    r = np.asarray(build_process(cfg).sample(key, 20, 30)["r"])
    sd_h = cfg.sigma_eta / np.sqrt(1 - cfg.phi**2)
    args = (sv_loglik, cfg.mu, cfg.phi, cfg.sigma_eta, sd_h)
    grid = grid_filter(r, *args, 200)
    pf = particle_filter(jax.random.PRNGKey(3), r, *args, 1000)
    assert np.sqrt(np.mean((pf - grid) ** 2)) < 0.05


# ----------------------------------------------------------------------------- the hooks
@pytest.mark.parametrize(
    "name, filt",
    [
        ("noisy-ar-filter", "Kalman filter"),
        ("regime-filter", "Hamilton filter"),
        ("garch-vol", "GARCH recursion"),
        ("sv-filter", "grid filter (200 points)"),
    ],
)
def test_each_filtering_task_has_its_optimum(key, name, filt):
    task = build_task(task_config(name), length=20)
    x, y, valid = (np.asarray(a) for a in task.sample(key, 8, 20))
    opt = optimum.prediction(task, x, key)
    assert opt.name == filt and opt.y.shape == y.shape
    assert opt.particles is None  # exact filters, or converged (the grid)
    mse = np.mean((opt.y - y)[:, valid] ** 2)
    assert mse < np.var(y[:, valid])  # better than the target's mean


@pytest.mark.slow
def test_no_optimum_for_other_targets(key):
    cfg = task_config("noisy-ar-filter")
    smoothing = cfg.target.model_copy(update=dict(formula="s[t-1]"))  # not the filter's target
    other = build_task(cfg.model_copy(update=dict(target=smoothing)), length=20)
    assert optimum.prediction(other, np.asarray(other.sample(key, 4, 20)[0]), key) is None
    forum = build_task(task_config("ar1-square-lag"), length=20)  # no filter for ar1
    assert optimum.prediction(forum, np.asarray(forum.sample(key, 4, 20)[0]), key) is None


def test_reachable_share_and_the_verdict_sentence():
    assert optimum.reachable_share(0.5, 1.0, 0.0, 2.0, 0.5) == pytest.approx(0.5)
    assert optimum.reachable_share(0.7, 1.0, 0.4, 2.0, 0.3) == pytest.approx(0.5)
    # the optimum is no better: nothing to reach
    assert optimum.reachable_share(0.7, 1.0, 1.0, 2.0, 0.3) is None
    metrics = dict(
        test=dict(mse=0.7, r2=0.6, memory_r2=0.3, reachable_share=0.5),
        baselines=dict(optimal=dict(name="particle filter", mse=0.4, r2=0.75, particles=1000)),
    )
    (line,) = optimum.details(metrics)
    assert "particle filter, 1000 particles" in line and "0.1500 below" in line
    assert "50.0%" in line
    assert optimum.details(dict(test={}, baselines={})) == []


def test_the_verdict_judges_a_filter_against_the_optimum():
    """regime-filter's numbers: memory_r2 0.155 reads as 'did not learn the past' until the
    Hamilton filter shows 0.158 is all there is to learn."""
    mem, opt = dict(mse=0.0994, r2=0.602), dict(name="Hamilton filter", mse=0.0837, r2=0.665)
    test = dict(mse=0.0840, r2=0.664, memory_r2=1 - 0.0840 / 0.0994, length=200)
    metrics = dict(
        test=test,
        baselines=dict(memoryless=mem, linear_lags=dict(mse=0.09, r2=0.64, lags=2)),
        target=dict(memory_share=0.398),
        long_horizon=dict(ratio=None, length=2000),
        drift=dict(ratio=None),
    )
    assert verdict(metrics)["learned_past"] is False
    metrics["baselines"]["optimal"] = opt
    test["reachable_share"] = optimum.reachable_share(
        test["mse"], mem["mse"], opt["mse"], 0.25, test["memory_r2"]
    )
    v = verdict(metrics)
    assert v["learned_past"] is True and "as far as it can be learned" in v["headline"]
    assert "98.1%" in v["headline"] and "Hamilton filter" in v["headline"]
    assert any("0.0010 below" in d for d in v["details"])


def test_leaderboard_shows_the_optimum_beside_the_best_family():
    opt = dict(optimal="Kalman filter", optimal_mse=0.6, optimal_nrmse=0.34, optimal_r2=0.885)
    rows = [
        dict(task="f", model="gru", seed=0, test_nrmse=0.35, test_r2=0.88, reachable_share=0.9,
             error="", **opt),
        dict(task="f", model="esn", seed=0, test_nrmse=0.5, test_r2=0.75, reachable_share=0.2,
             error="", **opt),
        dict(task="g", model="gru", seed=0, test_nrmse=0.1, error=""),
    ]  # fmt: skip
    md = markdown(rows, 10)
    assert "| f | Kalman filter | 0.6 | 0.34 | gru | 0.35 | 0.0050 | 90.0% |" in md
    assert "| g | " not in md.split("optimal filter")[-1]


def test_the_table_the_heat_map_and_the_optimum_rank_by_one_statistic(tmp_path, monkeypatch):
    """gru 0.10, 0.11, 0.90 against lstm 0.20, 0.21, 0.22: the mean ranks lstm first, the
    median gru. The table bolded lstm while the heat map (medians) showed gru best."""
    import matplotlib.axes

    from lagnet.leaderboard import plot

    opt = dict(optimal="Kalman filter", optimal_mse=0.59, optimal_nrmse=0.64, optimal_r2=0.59)
    rows = [
        dict(task="f", model=m, seed=s, test_nrmse=v, test_r2=1 - v * v, time_to_best_s=1.0,
             reachable_share=0.9, error="", **opt)
        for m, vals in {"gru": [0.10, 0.11, 0.90], "lstm": [0.20, 0.21, 0.22]}.items()
        for s, v in enumerate(vals)
    ]  # fmt: skip
    md = markdown(rows, 15)
    assert "**0.21 ±" in md and "| f | Kalman filter | 0.59 | 0.64 | lstm | 0.21 |" in md
    drawn = []
    real_text = matplotlib.axes.Axes.text
    monkeypatch.setattr(
        matplotlib.axes.Axes,
        "text",
        lambda self, x, y, s, **kw: drawn.append(s) or real_text(self, x, y, s, **kw),
    )
    plot(rows, tmp_path / "p.png", 15)
    assert drawn[:2] == ["0.37", "0.21"]  # the means, as the table ranks them


# ----------------------------------------------------------------------------- end to end
@pytest.mark.slow
def test_a_filtering_run_reports_its_optimum(tmp_path):
    """A tiny GRU on noisy-ar-filter: metrics.json, verdict, CLI table and report show the
    Kalman filter, whose MSE on the same paths no model can beat by more than chance."""
    out = tmp_path / "run"
    res = CliRunner().invoke(
        app,
        ["train", "--task", "noisy-ar-filter", "--model", "gru", "--out", str(out), *TINY_FLAGS],
        env={"COLUMNS": "200"},
    )
    assert res.exit_code == 0, res.output
    metrics = json.loads((out / "metrics.json").read_text())
    opt, test, mem = metrics["baselines"]["optimal"], metrics["test"], metrics["baselines"]
    assert opt["name"] == "Kalman filter" and opt["mse"] < mem["memoryless"]["mse"]
    assert opt["mse"] < test["mse"]
    share = (mem["memoryless"]["mse"] - test["mse"]) / (mem["memoryless"]["mse"] - opt["mse"])
    assert test["reachable_share"] == pytest.approx(share)
    assert "optimal: Kalman filter" in res.output
    assert any("Kalman filter" in d for d in verdict(metrics)["details"])
    assert "optimal: Kalman filter" in (out / "report.html").read_text()


@pytest.mark.slow
def test_benchmark_smoke():
    """benchmarks/optimal_filters.py --smoke: every filter on its task, two particle counts."""
    proc = smoke("optimal_filters.py")
    rows = json_lines(proc.stdout)
    assert [r.get("task") for r in rows[:4]] == [
        "noisy-ar-filter",
        "regime-filter",
        "sv-filter",
        "garch-vol",
    ]
    assert all(r["mse"] < r["memoryless_mse"] for r in rows[:4])
    assert [(r["filter"], r.get("points") or r.get("particles")) for r in rows[4:]] == [
        ("grid", 50),
        ("grid", 100),
        ("particle", 50),
        ("particle", 100),
    ]
    assert "smoke: OK" in proc.stdout
