"""VAR, GARCH/GJR, stochastic volatility, Ornstein–Uhlenbeck, regime switching, signal plus
noise, NARMA and the adding inputs: series, spec strings, refusals, and statistics of 10⁶ draws
against theory and statsmodels, within 4 standard errors taken from the spread across paths.
(The contract over every registered process: tests/test_process_contract.py.)"""

from __future__ import annotations

import sys

import jax
import numpy as np
import pytest
from statsmodels.tsa.vector_ar.var_model import VARProcess

from lagnet.config import config_to_toml, make_config
from lagnet.errors import LagnetError
from lagnet.processes import build_process, parse_process_spec
from lagnet.processes.adding import AddingConfig
from lagnet.processes.garch import GARCHConfig
from lagnet.processes.narma import NARMAConfig
from lagnet.processes.noisy import NoisyConfig
from lagnet.processes.ou import OUConfig
from lagnet.processes.regime import RegimeConfig
from lagnet.processes.sv import SVConfig
from lagnet.processes.var import VARConfig
from lagnet.tasks import build_task

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

VAR2 = VARConfig(
    A=(((0.5, 0.1), (-0.2, 0.3)), ((0.1, 0.0), (0.15, -0.2))),
    cov=((1.0, 0.3), (0.3, 0.5)),
    mean=(1.0, -2.0),
    names=("a", "b"),
    init="stationary",
)
PROCESSES = {
    "var1": VARConfig(A=((0.5, 0.1), (0.0, 0.3)), names=("x", "z")),
    "var2": VAR2,
    "garch": GARCHConfig(),
    "gjr": GARCHConfig(omega=0.05, alpha=0.05, beta=0.8, gamma=0.1, mu=0.1),
    "gjr_t": GARCHConfig(
        omega=0.05, alpha=0.05, beta=0.8, gamma=0.1, mu=0.1, dist="student_t", df=8.0
    ),
    "sv": SVConfig(mu=-1.0, phi=0.95, sigma_eta=0.25),
    "ou": OUConfig(theta=1.5, mu=1.0, sigma=0.8, dt=0.1, init="stationary"),
    "ou_zero": OUConfig(theta=0.5, mu=-1.0, x0=2.0, dt=0.5),
    "regime": RegimeConfig(
        P=((0.95, 0.05), (0.1, 0.9)), mu=(-1.0, 1.0), rho=(0.5, 0.8), sigma=(0.5, 1.0)
    ),
    "regime3": RegimeConfig(
        P=((0.8, 0.1, 0.1), (0.0, 0.9, 0.1), (0.3, 0.0, 0.7)), mu=(0.0, 2.0, -2.0)
    ),
    "noisy_rw": NoisyConfig(),
    "noisy_ar": NoisyConfig(rho=0.9, sigma=0.5, noise=0.3),
    "narma10": NARMAConfig(),
    "narma_rpy": NARMAConfig(convention="reservoirpy"),
    "adding": AddingConfig(markers=2, span=20),
}
LATENT = {
    "garch": ("sigma2",),
    "gjr": ("sigma2",),
    "gjr_t": ("sigma2",),
    "sv": ("h",),
    "regime": ("regime",),
    "regime3": ("regime",),
    "noisy_rw": ("s",),
    "noisy_ar": ("s",),
    "narma10": ("y",),
    "narma_rpy": ("y",),
}


# ----------------------------------------------------------------------------- contract
N, L = 50, 40


@pytest.mark.parametrize("name", PROCESSES)
def test_series_and_observed(name):
    p = build_process(PROCESSES[name])
    assert set(p.series) - set(p.observed) == set(LATENT.get(name, ()))
    assert p.series[: len(p.observed)] == p.observed  # observed first


def test_vmap_over_keys(key):
    p = build_process(PROCESSES["regime"])
    batched = jax.vmap(lambda k: p.sample(k, 4, 5))(jax.random.split(key, 3))
    assert all(a.shape == (3, 4, 5) for a in batched.values())


@pytest.mark.parametrize("name", ["garch", "regime"])
def test_length_one(name, key):
    """The first step is drawn apart from the scan; a scan over no steps must still work."""
    out = build_process(PROCESSES[name]).sample(key, 2, 1)
    assert all(a.shape == (2, 1) and np.all(np.isfinite(a)) for a in out.values())


# ----------------------------------------------------------------------------- specs
SPECS = [
    ('var(A=[[0.5,0.1],[0.0,0.3]], names=["x","z"])', PROCESSES["var1"]),
    (
        "var([[[0.5, 0.1], [-0.2, 0.3]], [[0.1, 0], [0.15, -0.2]]], cov=[[1, 0.3], [0.3, 0.5]], "
        'mean=[1, -2], names=["a", "b"], init="stationary")',
        VAR2,
    ),
    ("garch()", GARCHConfig()),
    ('garch(dist="normal", df=1)', GARCHConfig(df=1)),  # df is read only for Student-t
    ('garch(0.05, 0.05, 0.8, gamma=0.1, mu=0.1, dist="student_t", df=8)', PROCESSES["gjr_t"]),
    ("sv(mu=-1, phi=0.95, sigma_eta=0.25)", PROCESSES["sv"]),
    ('ou(theta=1.5, mu=1, sigma=0.8, dt=0.1, init="stationary")', PROCESSES["ou"]),
    ("ou(0.5, -1, x0=2, dt=0.5)", PROCESSES["ou_zero"]),
    (
        "regime(P=[[0.95,0.05],[0.1,0.9]], mu=[-1,1], rho=[0.5,0.8], sigma=[0.5,1])",
        PROCESSES["regime"],
    ),
    ("noisy", NoisyConfig()),
    (
        'noisy(rho=0.9, sigma=0.5, noise=0.3, name="y")',
        NoisyConfig(rho=0.9, sigma=0.5, noise=0.3, name="y"),
    ),
]


@pytest.mark.parametrize("spec, cfg", SPECS)
def test_spec_round_trips(spec, cfg):
    assert parse_process_spec(spec) == cfg
    run = make_config(process=spec)
    assert run.process == cfg
    assert make_config(tomllib.loads(config_to_toml(run))).process == cfg  # TOML and back


def test_one_matrix_means_var1():
    assert VARConfig(A=[[0.5]]) == VARConfig(A=[[[0.5]]]) == VARConfig(A=np.array([[0.5]]))
    assert build_process(VARConfig(A=[[0.5, 0], [0, 0.2]])).series == ("x1", "x2")


BAD = [
    ("var(A=[[1.0, 0], [0, 0.5]])", "process.A", "not stationary"),
    ("var(A=[[[0.5, 0], [0, 0.5]], [[0.5, 0], [0, 0.]]])", "process.A", "not stationary"),
    ("var(A=[[0.5, 0.1]])", "process.A", "square"),
    ("var(A=[[[0.5, 0], [0, 0.5]], [[0.5]]])", "process.A", "square"),
    ("var(A=[[0.5, 0], [0, 0.5]], cov=[[1, 2], [2, 1]])", "process.cov", "semi-definite"),
    ("var(A=[[0.5, 0], [0, 0.5]], cov=[[1, 0.1], [0, 1]])", "process.cov", "symmetric"),
    ("var(A=[[0.5, 0], [0, 0.5]], cov=[[1]])", "process.cov", "square"),
    ("var(A=[[0.5, 0], [0, 0.5]], mean=[1])", "process.mean", "per channel"),
    ('var(A=[[0.5, 0], [0, 0.5]], names=["x", "x"])', "process.names", "distinct"),
    ('var(A=[[0.5, 0], [0, 0.5]], names=["x"])', "process.names", "each"),
    ("var(A=[[0.5]], names=[1])", "process.names", "list of strings"),
    ("var(A=[[[[0.5]]]])", "process.A", "expected"),
    ("var()", "process.A", "needs A"),
    ("garch(omega=0)", "process.omega", "greater than 0"),
    ("garch(alpha=-0.1)", "process.alpha", "greater than or equal to 0"),
    ("garch(gamma=-0.1)", "process.gamma", "greater than or equal to 0"),
    ("garch(alpha=0.1, beta=0.85, gamma=0.1)", "process.beta", "no finite unconditional"),
    ("garch(alpha=0.05, beta=0.5, gamma=1.0)", "process.gamma", "no finite unconditional"),
    ("garch(alpha=0.2)", "process.alpha", "no finite unconditional"),
    ('garch(dist="student_t", df=2)', "process.df", "exceed 2"),
    ('garch(name="sigma2")', "process.name", "latent"),
    ("sv(phi=1)", "process.phi", "less than 1"),
    ("sv(sigma_eta=0)", "process.sigma_eta", "greater than 0"),
    ("ou(theta=0)", "process.theta", "greater than 0"),
    ("ou(dt=-1)", "process.dt", "greater than 0"),
    ('ou(x0=1, init="stationary")', "process.x0", "init"),
    ("regime(P=[[0.9, 0.2], [0.2, 0.8]], mu=[0, 1])", "process.P", "sum to 1"),
    ("regime(P=[[1.2, -0.2], [0.5, 0.5]], mu=[0, 1])", "process.P", "[0, 1]"),
    ("regime(P=[[0.5, 0.5]], mu=[0, 1])", "process.P", "square"),
    ("regime(P=[[1, 0], [0, 1]], mu=[0, 1])", "process.P", "more than one stationary"),
    ("regime(P=[[0.9, 0.1], [0.2, 0.8]], mu=[0])", "process.mu", "per regime"),
    ("regime(P=[[0.9, 0.1], [0.2, 0.8]], mu=[0, 1], rho=[0.5, 1])", "process.rho", "|rho| < 1"),
    ("regime(P=[[0.9, 0.1], [0.2, 0.8]], mu=[0, 1], sigma=[1, 0])", "process.sigma", "positive"),
    ("regime(P=[[0.9, 0.1], [0.2, 0.8]])", "process.mu", "needs mu"),
    ("noisy(rho=1.01)", "process.rho", "less than or equal to 1"),
    ("noisy(noise=-1)", "process.noise", "greater than or equal to 0"),
    ('noisy(name="s")', "process.name", "latent series 's'"),
    ('sv(name="h")', "process.name", "latent series 'h'"),
    ('regime(P=[[0.9, 0.1], [0.2, 0.8]], mu=[0, 1], name="regime")', "process.name", "'regime'"),
    # a series no formula could read: refused by name, not accepted to fail later
    ('garch(name="")', "process.name", "identifier"),
    ('sv(name="r x")', "process.name", "identifier"),
    ('var(A=[[0.5, 0], [0, 0.5]], names=["a b", "c"])', "process.names", "identifier"),
    ('var(A=[[0.5, 0], [0, 0.5]], names=["", "c"])', "process.names", "identifier"),
    ('ar1(rho=0.1, name="1x")', "process.name", "identifier"),
    ('iid(name="x-1")', "process.name", "identifier"),
    ('ou(name="")', "process.name", "identifier"),
]


@pytest.mark.parametrize("spec, field, why", BAD)
def test_bad_parameters_refused(spec, field, why):
    with pytest.raises(LagnetError, match=why.replace("[", r"\[").replace("|", r"\|")) as err:
        parse_process_spec(spec)
    assert err.value.field == field
    assert "\n" not in str(err.value)


def test_constructor_refuses_without_the_parser():
    """A config built in Python meets the same checks when the process is built."""
    with pytest.raises(LagnetError, match="not stationary") as err:
        build_process(VARConfig(A=[[0.6, 0.5], [0.5, 0.6]]))
    assert err.value.field == "process.A"
    with pytest.raises(LagnetError) as err:
        build_process(RegimeConfig(P=[[0.5, 0.5], [0.5, 0.5]], mu=[0, 1], rho=[0.2, -1.5]))
    assert err.value.field == "process.rho"
    with pytest.raises(LagnetError) as err:  # the tag is dropped from the dotted field
        make_config(process=dict(kind="ou", theta=-1.0))
    assert err.value.field == "process.theta"


def test_latent_series_are_no_inputs():
    cfg = make_config(process="garch()", target=dict(formula="sigma2[t]", inputs=["r"]))
    assert build_task(cfg).inputs == ("r",)  # a latent series may be the target
    with pytest.raises(LagnetError, match="latent.*sigma2.*observed: r") as err:
        build_task(
            make_config(process="garch()", target=dict(formula="sigma2[t]", inputs=["r", "sigma2"]))
        )
    assert err.value.field == "target.inputs"
    with pytest.raises(LagnetError, match="latent"):
        build_task(make_config(process="noisy()", target=dict(formula="s[t]", inputs=["s"])))


# ----------------------------------------------------------------------------- statistics
PATHS, STEPS = 2000, 500  # 10⁶ draws per series
BURN = 100  # where the start is not stationary; paths are longer by as much


def _close(per_path, estimate, theory, what):
    se = np.std(per_path, ddof=1) / np.sqrt(len(per_path))
    assert abs(estimate - theory) < 4 * se, f"{what}: {estimate:.5f} vs {theory:.5f} ± {se:.5f}"


def _check_moments(x, mean, var, acf, what=""):
    """Mean, variance and lag-1..5 autocorrelation of independent paths x (N, L). Each statistic
    is a mean of per-path contributions (the ACF a ratio of means, by the delta method), so its
    standard error is their spread / sqrt(N)."""
    x = np.asarray(x, dtype=np.float64)
    m_i = x.mean(axis=1)  # (N,)
    _close(m_i, m_i.mean(), mean, f"{what} mean")
    d = x - m_i.mean()
    c0_i = (d**2).mean(axis=1)  # (N,)
    g0 = c0_i.mean()
    _close(c0_i, g0, var, f"{what} variance")
    for k in range(1, 6):
        ck_i = (d[:, k:] * d[:, :-k]).mean(axis=1)  # (N,)
        rho = ck_i.mean() / g0
        _close((ck_i - rho * c0_i) / g0, rho, acf[k], f"{what} acf[{k}]")


def _ratio(num_i, den_i, theory, what):
    """A ratio of per-path totals against theory; delta-method standard error."""
    r = num_i.sum() / den_i.sum()
    _close((num_i - r * den_i) / den_i.mean(), r, theory, what)


def test_var_theory_matches_statsmodels():
    p = build_process(VAR2)
    A, cov, mean = np.array(VAR2.A), np.array(VAR2.cov), np.array(VAR2.mean)
    sm = VARProcess(A, (np.eye(2) - A.sum(axis=0)) @ mean, cov)  # intercept for this mean
    np.testing.assert_allclose(p.mean(), sm.mean(), rtol=1e-12)
    np.testing.assert_allclose(p.autocovariance(8), sm.acf(8), rtol=1e-9, atol=1e-12)
    gamma = np.diagonal(sm.acf(8), axis1=1, axis2=2)  # (9, C)
    np.testing.assert_allclose(p.acf(8), gamma / gamma[0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(p.variance(), gamma[0], rtol=1e-9)


def test_var_statistics(key):
    out = build_process(VAR2).sample(key, PATHS, STEPS)
    gamma = VARProcess(np.array(VAR2.A), np.zeros(2), np.array(VAR2.cov)).acf(5)  # (6, C, C)
    y = np.stack([np.asarray(out[n], np.float64) for n in VAR2.names], axis=-1)  # (N, L, C)
    for i, name in enumerate(VAR2.names):
        _check_moments(
            y[..., i], VAR2.mean[i], gamma[0, i, i], gamma[:, i, i] / gamma[0, i, i], name
        )
    d = y - np.array(VAR2.mean)
    # A cross moment: Cov(a_{t+1}, b_t) = Gamma(1)[0, 1].
    _close(
        (d[:, 1:, 0] * d[:, :-1, 1]).mean(axis=1),
        (d[:, 1:, 0] * d[:, :-1, 1]).mean(),
        gamma[1, 0, 1],
        "Cov(a_t+1, b_t)",
    )
    # The innovations the recursion leaves over have covariance cov.
    A = np.array(VAR2.A)
    e = d[:, 2:] - d[:, 1:-1] @ A[0].T - d[:, :-2] @ A[1].T  # (N, L - 2, C)
    for i, j in [(0, 0), (0, 1), (1, 1)]:
        prod = (e[..., i] * e[..., j]).mean(axis=1)
        _close(prod, prod.mean(), VAR2.cov[i][j], f"cov[{i}, {j}]")


def test_var_zero_start_is_at_rest(key):
    cfg = VARConfig(A=VAR2.A, mean=(1.0, -2.0), names=("a", "b"))
    out = build_process(cfg).sample(key, N, L)
    np.testing.assert_array_equal(out["a"][:, 0], 1.0)
    np.testing.assert_array_equal(out["b"][:, 0], -2.0)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["gjr", "gjr_t"])
def test_garch_statistics(name, key):
    cfg = PROCESSES[name]
    p = build_process(cfg)
    out = p.sample(key, PATHS, STEPS)
    var = cfg.omega / (1 - cfg.alpha - cfg.beta - cfg.gamma / 2)
    assert p.variance() == pytest.approx(var) and p.mean() == cfg.mu
    _check_moments(out["r"], cfg.mu, var, np.zeros(6), name)
    s2 = np.asarray(out["sigma2"], np.float64)
    _close(s2.mean(axis=1), s2.mean(), var, "E[sigma2]")


@pytest.mark.parametrize("name", ["garch", "gjr"])
def test_garch_paths_obey_the_recursion(name, key):
    cfg = PROCESSES[name]
    out = build_process(cfg).sample(key, N, L)
    e = np.asarray(out["r"], np.float64) - cfg.mu
    s2 = np.asarray(out["sigma2"], np.float64)
    np.testing.assert_allclose(s2[:, 0], build_process(cfg).variance(), rtol=1e-6)
    prev = e[:, :-1]
    rhs = cfg.omega + (cfg.alpha + cfg.gamma * (prev < 0)) * prev**2 + cfg.beta * s2[:, :-1]
    np.testing.assert_allclose(s2[:, 1:], rhs, rtol=1e-5)


def test_sv_statistics(key):
    cfg = PROCESSES["sv"]
    p = build_process(cfg)
    out = p.sample(key, PATHS, STEPS)
    var_h = cfg.sigma_eta**2 / (1 - cfg.phi**2)
    assert p.variance() == pytest.approx(np.exp(cfg.mu + var_h / 2))
    _check_moments(out["r"], 0.0, np.exp(cfg.mu + var_h / 2), np.zeros(6), "r")
    _check_moments(out["h"], cfg.mu, var_h, cfg.phi ** np.arange(6), "h")


def test_ou_statistics(key):
    cfg = PROCESSES["ou"]
    p = build_process(cfg)
    a = np.exp(-cfg.theta * cfg.dt)
    np.testing.assert_allclose(p.acf(5), a ** np.arange(6), rtol=1e-12)
    _check_moments(
        p.sample(key, PATHS, STEPS)["x"], cfg.mu, cfg.sigma**2 / (2 * cfg.theta), a ** np.arange(6)
    )


def test_ou_zero_start_transient(key):
    """From X_0 = x0: E[X_t] = mu + (x0 - mu)·a^t, Var(X_t) = sigma²/(2θ)·(1 - a^{2t})."""
    cfg = PROCESSES["ou_zero"]
    x = np.asarray(build_process(cfg).sample(key, 200_000, 6)["x"], np.float64)
    assert np.all(x[:, 0] == np.float32(cfg.x0))
    a = np.exp(-cfg.theta * cfg.dt)
    for t in (1, 2, 5):
        mean = cfg.mu + (cfg.x0 - cfg.mu) * a**t
        _close(x[:, t], x[:, t].mean(), mean, f"E[X_{t}]")
        var = cfg.sigma**2 / (2 * cfg.theta) * (1 - a ** (2 * t))
        _close((x[:, t] - mean) ** 2, ((x[:, t] - mean) ** 2).mean(), var, f"Var(X_{t})")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["regime", "regime3"])
def test_regime_chain_statistics(name, key):
    cfg = PROCESSES[name]
    p = build_process(cfg)
    P = np.array(cfg.P)
    w, v = np.linalg.eig(P.T)  # a peer calculation of pi: the left eigenvector for 1
    pi = np.real(v[:, np.argmin(np.abs(w - 1))])
    np.testing.assert_allclose(p.stationary_distribution(), pi / pi.sum(), atol=1e-12)
    np.testing.assert_allclose(p.expected_durations(), 1 / (1 - np.diag(P)), rtol=1e-12)

    s = np.asarray(p.sample(key, PATHS, STEPS + BURN)["regime"]).astype(int)  # (N, L)
    assert set(np.unique(s)) == set(range(len(P)))
    for i in range(len(P)):
        # s_0 ~ pi, so every step is stationary: occupancy has mean pi_i from the start.
        occ = (s == i).mean(axis=1)
        _close(occ, occ.mean(), pi[i] / pi.sum(), f"pi[{i}]")
        # Mean spell length = steps spent in i / spells that end there (uncensored, unlike
        # averaging the lengths of spells that fit inside a path).
        stay_i = (s[:, :-1] == i).sum(axis=1).astype(float)
        leave_i = ((s[:, :-1] == i) & (s[:, 1:] != i)).sum(axis=1).astype(float)
        _ratio(stay_i, leave_i, 1 / (1 - P[i, i]), f"duration[{i}]")


@pytest.mark.slow
def test_regime_x_statistics(key):
    """The observed x against the stationary moments derived in regime.py, after a burn-in
    (x_0 is drawn from its own regime's AR(1) law, not the mixture's)."""
    p = build_process(PROCESSES["regime"])
    x = p.sample(key, PATHS, STEPS + BURN)["x"][:, BURN:]
    _check_moments(x, p.mean(), p.variance(), p.acf(5))


def test_regime_theory_without_memory():
    """With rho = 0 x is a Markov-modulated mixture: mean pi·mu, variance by the law of total
    variance, and Cov(x_{t+k}, x_t) = sum_ij pi_i (P^k)_ij mu_i mu_j - mean²."""
    cfg = PROCESSES["regime3"]
    p = build_process(cfg)
    pi, mu, P = p.stationary_distribution(), np.array(cfg.mu), np.array(cfg.P)
    mean = pi @ mu
    var = pi @ (1 + mu**2) - mean**2
    cov = [pi @ (np.linalg.matrix_power(P, k) @ mu * mu) - mean**2 for k in range(1, 6)]
    assert p.mean() == pytest.approx(mean) and p.variance() == pytest.approx(var)
    np.testing.assert_allclose(p.acf(5), np.r_[1.0, np.array(cov) / var], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["noisy_rw", "noisy_ar"])
def test_noisy_statistics(name, key):
    cfg = PROCESSES[name]
    out = build_process(cfg).sample(key, PATHS, STEPS + BURN)
    x, s = np.asarray(out["x"], np.float64), np.asarray(out["s"], np.float64)
    assert np.all(s[:, 0] == 0.0)
    _check_moments(x - s, 0.0, cfg.noise**2, np.zeros(6), "x - s")  # white measurement noise
    if cfg.rho == 1.0:  # random walk from 0: Var(s_t) = sigma²·t
        for t in (1, 100, STEPS + BURN - 1):
            _close(s[:, t] ** 2, (s[:, t] ** 2).mean(), cfg.sigma**2 * t, f"Var(s_{t})")
    else:
        p = build_process(cfg)
        _check_moments(x[:, BURN:], 0.0, p.variance(), p.acf(5), "x")


def test_noisy_random_walk_has_no_stationary_variance():
    with pytest.raises(NotImplementedError):
        build_process(NoisyConfig()).variance()
