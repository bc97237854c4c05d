"""ARMA and iid processes: statistics against theory and statsmodels,
the zero-start transient, stationarity refusals, and the spec parser."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from statsmodels.tsa.arima_process import ArmaProcess

from lagnet.config import make_config
from lagnet.errors import LagnetError
from lagnet.processes import build_process, parse_process_spec
from lagnet.processes.arma import ARMAConfig, arma_reference
from lagnet.processes.iid import IIDConfig

PROCESSES = {
    "ar1_zero": ARMAConfig(ar=(0.1,)),
    "ar1_stationary": ARMAConfig(ar=(0.8,), sigma=2.0, mean=1.5, init="stationary"),
    "ar2": ARMAConfig(ar=(0.5, -0.2), init="stationary"),
    "arma21": ARMAConfig(ar=(0.5, -0.2), ma=(0.3,), mean=-1.0, init="stationary"),
    "arma21_zero": ARMAConfig(ar=(0.5, -0.2), ma=(0.3,), mean=0.7),
    "ma1": ARMAConfig(ma=(0.4,), sigma=0.5, init="stationary"),
    "normal": IIDConfig(dist="normal", loc=1.0, scale=2.0),
    "uniform": IIDConfig(dist="uniform", low=0.0, high=0.5),
    "student_t": IIDConfig(dist="student_t", df=5.0, loc=0.5, scale=1.5),
}
ARMAS = {k: v for k, v in PROCESSES.items() if v.kind == "arma"}


def _statsmodels(cfg: ARMAConfig, lags: int) -> tuple[float, np.ndarray]:
    """Stationary variance and autocorrelation at 0..lags, as statsmodels computes them."""
    sm = ArmaProcess(np.r_[1.0, -np.array(cfg.ar)], np.r_[1.0, np.array(cfg.ma)])
    psi = sm.arma2ma(lags=500)  # MA(∞) weights; they decay geometrically
    return cfg.sigma**2 * float(np.sum(psi**2)), sm.acf(lags + 1)


# ----------------------------------------------------------------------------- contract
# Small samples share one shape so each process compiles once per test session.
N, L = 50, 40


def test_series_follow_the_config():
    for cfg in PROCESSES.values():
        assert build_process(cfg).series[0] == cfg.name


@pytest.mark.slow
@pytest.mark.parametrize("name", ["arma21", "normal"])
def test_vmap_over_keys(name, key):
    """Many independent batches in one pass, as sweeps will do."""
    cfg = PROCESSES[name]
    batched = jax.vmap(lambda k: build_process(cfg).sample(k, 4, 5))(jax.random.split(key, 3))
    assert batched[cfg.name].shape == (3, 4, 5)


@pytest.mark.parametrize("n, length", [(0, 5), (3, 0), (2.5, 5)])
def test_sample_shape_checked(n, length, key):
    with pytest.raises(LagnetError):
        build_process(ARMAConfig(ar=(0.1,))).sample(key, n, length)


def test_series_names_follow_config(key):
    p = build_process(ARMAConfig(ar=(0.1,), name="u"))
    assert p.series == ("u", "e")
    assert set(p.sample(key, N, L)) == {"u", "e"}
    assert build_process(IIDConfig(name="z")).series == ("z",)
    with pytest.raises(LagnetError, match="process.name"):
        build_process(ARMAConfig(ar=(0.1,), name="e"))


# ----------------------------------------------------------------------------- theory
@pytest.mark.parametrize("name", ARMAS)
def test_theory_matches_statsmodels(name):
    cfg = ARMAS[name]
    p = build_process(cfg)
    var, acf = _statsmodels(cfg, 10)
    assert p.mean() == cfg.mean
    np.testing.assert_allclose(p.variance(), var, rtol=1e-9)
    np.testing.assert_allclose(p.acf(10), acf, rtol=1e-9, atol=1e-12)


def test_iid_theory():
    assert build_process(IIDConfig(dist="uniform", low=1, high=4)).variance() == 9 / 12
    assert build_process(IIDConfig(dist="uniform", low=1, high=4)).mean() == 2.5
    assert build_process(IIDConfig(dist="student_t", df=5, scale=2)).variance() == 5 / 3 * 4
    assert build_process(IIDConfig(dist="student_t", df=2)).variance() == np.inf
    np.testing.assert_array_equal(build_process(IIDConfig()).acf(3), [1, 0, 0, 0])


def _check_moments(x: np.ndarray, mean: float, var: float, acf: np.ndarray) -> None:
    """Sample mean, variance and lag-1..5 autocorrelation within 4 standard errors.

    Paths are independent, so each statistic is a mean of per-path contributions and its
    standard error is their spread / sqrt(N). Products are pooled over paths (not per-path
    ACFs averaged), which would carry an O(1/L) bias larger than the standard error.
    """
    x = np.asarray(x, dtype=np.float64)  # (N, L)
    N = x.shape[0]

    def close(per_path, estimate, theory, what):
        se = np.std(per_path, ddof=1) / np.sqrt(N)
        assert abs(estimate - theory) < 4 * se, f"{what}: {estimate:.5f} vs {theory:.5f} ± {se:.5f}"

    m_i = x.mean(axis=1)  # (N,)
    close(m_i, m_i.mean(), mean, "mean")
    d = x - m_i.mean()
    c0_i = (d**2).mean(axis=1)  # (N,)
    g0 = c0_i.mean()
    close(c0_i, g0, var, "variance")
    for k in range(1, 6):
        ck_i = (d[:, k:] * d[:, :-k]).mean(axis=1)  # (N,)
        rho = ck_i.mean() / g0
        influence = (ck_i - rho * c0_i) / g0  # delta method for the ratio of means
        close(influence, rho, acf[k], f"acf[{k}]")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ar1_zero", "ar1_stationary", "ar2", "arma21", "ma1"])
def test_arma_statistics(name, key):
    cfg = ARMAS[name]
    burn = 0 if cfg.init == "stationary" else 100  # the zero start's transient
    x = build_process(cfg).sample(key, 2000, 600)[cfg.name][:, burn:]  # (N, L)
    var, acf = _statsmodels(cfg, 5)
    _check_moments(x, cfg.mean, var, acf)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["normal", "uniform", "student_t"])
def test_iid_statistics(name, key):
    cfg = PROCESSES[name]
    closed = {
        "normal": (cfg.loc, cfg.scale**2),
        "uniform": ((cfg.low + cfg.high) / 2, (cfg.high - cfg.low) ** 2 / 12),
        "student_t": (cfg.loc, cfg.df / (cfg.df - 2) * cfg.scale**2),
    }[name]
    x = build_process(cfg).sample(key, 2000, 600)[cfg.name]
    _check_moments(x, *closed, np.r_[1.0, np.zeros(5)])


# ----------------------------------------------------------------------------- zero start
def test_zero_init_starts_at_rest(key):
    p = build_process(ARMAConfig(ar=(0.1,)))
    out = p.sample(key, N, L)
    x, e = np.asarray(out["x"]), np.asarray(out["e"])
    assert np.all(x[:, 0] == 0.0) and np.all(e[:, 0] == 0.0)
    np.testing.assert_array_equal(x[:, 1], e[:, 1])  # x_1 = 0.1·x_0 + e_1 = e_1

    cfg = PROCESSES["arma21_zero"]
    x = np.asarray(build_process(cfg).sample(key, N, L)["x"])
    assert np.all(x[:, 0] == np.float32(cfg.mean))


@pytest.mark.parametrize("rho", [0.1, 0.8])
def test_zero_init_transient_variance(rho, key):
    sigma = 1.5
    x = np.asarray(build_process(ARMAConfig(ar=(rho,), sigma=sigma)).sample(key, 200_000, 6)["x"])
    for t in (1, 2, 5):
        sq = x[:, t].astype(np.float64) ** 2  # mean is 0 exactly
        theory = sigma**2 * (1 - rho ** (2 * t)) / (1 - rho**2)
        se = sq.std(ddof=1) / np.sqrt(len(sq))
        assert abs(sq.mean() - theory) < 4 * se, (t, sq.mean(), theory, se)


# ----------------------------------------------------------------------------- reference step
@pytest.mark.parametrize("name", ["ar1_zero", "arma21_zero"])
def test_scan_equals_reference_step(name, key):
    cfg = ARMAS[name]
    out = build_process(cfg).sample(key, N, L)
    ref = arma_reference(cfg.ar, cfg.ma, out["e"], cfg.mean)
    np.testing.assert_allclose(out[cfg.name], ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["ar1_stationary", "ar2", "arma21", "ma1"])
def test_stationary_paths_obey_the_recursion(name, key):
    """With a drawn start the pre-sample is hidden, but from t = max(p, q) on the returned
    x and e must satisfy the ARMA equation exactly (up to float32 rounding)."""
    cfg = ARMAS[name]
    out = build_process(cfg).sample(key, N, L)
    y = np.asarray(out[cfg.name], dtype=np.float64) - cfg.mean
    e = np.asarray(out["e"], dtype=np.float64)
    start = max(len(cfg.ar), len(cfg.ma))
    for t in range(start, L):
        rhs = e[:, t] + sum(a * y[:, t - 1 - i] for i, a in enumerate(cfg.ar))
        rhs = rhs + sum(m * e[:, t - 1 - j] for j, m in enumerate(cfg.ma))
        np.testing.assert_allclose(y[:, t], rhs, atol=1e-4)


# ----------------------------------------------------------------------------- refusals
@pytest.mark.parametrize("ar", [(1.0,), (0.5, 0.6), (-1.2,), (0.5, 0.5)])
def test_non_stationary_refused(ar):
    with pytest.raises(LagnetError, match="not stationary") as err:
        build_process(ARMAConfig(ar=ar))
    assert err.value.field == "process.ar"
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "data, field",
    [
        (dict(kind="arma", ar=[float("nan")]), "process.ar"),
        (dict(kind="arma", ma=[float("inf")]), "process.ma"),
        (dict(kind="arma", ar=[0.1], sigma=float("inf")), "process.sigma"),
        (dict(kind="iid", dist="uniform", low=1.0, high=1.0), "process.high"),
        (dict(kind="iid", loc=float("nan")), "process.loc"),
    ],
)
def test_bad_values_refused(data, field):
    """Non-finite numbers are refused by the config, an empty range by the process."""
    from lagnet.config import make_config

    with pytest.raises(LagnetError) as err:
        build_process(make_config(process=data).process)
    assert err.value.field.startswith(field)
    assert "\n" not in str(err.value)


def test_pure_ma_needs_no_ar():
    assert build_process(ARMAConfig(ma=(2.0, 0.5))).variance() == pytest.approx(1 + 4 + 0.25)


# ----------------------------------------------------------------------------- specs
@pytest.mark.parametrize(
    "spec, cfg",
    [
        ("ar1(rho=0.1)", ARMAConfig(ar=(0.1,))),
        ("ar1(0.1)", ARMAConfig(ar=(0.1,))),
        (
            'ar1(rho=0.5, sigma=2, init="stationary")',
            ARMAConfig(ar=(0.5,), sigma=2.0, init="stationary"),
        ),
        ("ar1(-0.3, mean=-1)", ARMAConfig(ar=(-0.3,), mean=-1.0)),
        ("ar(coefs=[0.5,-0.2])", ARMAConfig(ar=(0.5, -0.2))),
        ("ar([0.5, -0.2])", ARMAConfig(ar=(0.5, -0.2))),
        ("arma(ar=[0.5,-0.2], ma=[0.3])", ARMAConfig(ar=(0.5, -0.2), ma=(0.3,))),
        ("ma(coefs=[0.4])", ARMAConfig(ma=(0.4,))),
        ('iid(dist="uniform", low=0, high=0.5)', IIDConfig(dist="uniform", low=0.0, high=0.5)),
        ("iid()", IIDConfig()),
        ("normal()", IIDConfig(dist="normal")),
        ("normal", IIDConfig(dist="normal")),
        ("uniform(low=0, high=1)", IIDConfig(dist="uniform", low=0.0, high=1.0)),
        ("student_t(df=4)", IIDConfig(dist="student_t", df=4.0)),
        (' ar1( rho = 0.1 , name="u" ) ', ARMAConfig(ar=(0.1,), name="u")),
    ],
)
def test_spec_parses(spec, cfg):
    assert parse_process_spec(spec) == cfg


@pytest.mark.parametrize(
    "spec, field",
    [
        ("__import__('os')", "process"),
        ("__import__('os').system('true')", "process"),
        ("ar1(rho=x)", "process.rho"),
        ("ar1(rho=0.1", "process"),
        ("foo()", "process"),
        ("ar1(bogus=1)", "process.bogus"),
        ("ar1(sigma=-1)", "process.sigma"),
        ("ar1().x", "process"),
        ("ar1(rho=1.0)", "process.rho"),
        ("ar(coefs=[0.5, 0.6])", "process.coefs"),
        ("ar1()", "process.rho"),
        ("ar1(0.1, rho=0.2)", "process.rho"),
        ("ar1(0.1, 0.2)", "process"),
        ("ar1(*[0.1])", "process"),
        ("ar1(**{'rho': 0.1})", "process"),
        ("ar1(rho=True)", "process.rho"),
        ("ar1(rho=[[0.1]])", "process.rho"),
        ("ar1(rho=0.1, init='sideways')", "process.init"),
        ("uniform(low=1, high=0)", "process.high"),
        ("ar1(rho=0.1)\nimport os", "process"),
        ("lambda: 0", "process"),
        ("", "process"),
    ],
)
def test_bad_specs_refused(spec, field):
    with pytest.raises(LagnetError) as err:
        parse_process_spec(spec)
    assert err.value.field == field
    assert "\n" not in str(err.value)


def test_unknown_process_lists_known():
    with pytest.raises(LagnetError, match=r"unknown process 'foo' \(known: ar1, ar, ma, arma"):
        parse_process_spec("foo()")
    with pytest.raises(LagnetError, match=r"unknown parameter for ar1 \(known: rho, sigma"):
        parse_process_spec("ar1(bogus=1)")


def test_run_config_takes_a_spec():
    cfg = make_config(process="ar1(rho=0.5)")
    assert cfg.process == ARMAConfig(ar=(0.5,))
