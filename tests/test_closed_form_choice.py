"""Closed-form families choose their own settings: the ESN's search over spectral radius, input
scaling, leak, ridge and washout on the validation set — its ridge path against a direct
solve, its gain over the former fixed defaults, the settings a user gave kept, the choice
fixed by the seed — the settings' TOML round trip, and NARX's term selection (FROLS on the
Gram matrix) against Gram–Schmidt on the rows."""

import jax
import numpy as np
import pytest

from lagnet.config import config_to_toml, load_config, make_config
from lagnet.models import model_config
from lagnet.models.esn import ESNConfig, Sums, draw_reservoir, fit_readout, ridge_solve
from lagnet.models.esn_fit import fit_esn, ridge_path, tune
from lagnet.models.family import FitData

L = 80  # above the former default washout (50)


def narma_like(seed: int, n: int):
    """A NARMA-5-style system: y_t = 0.3 y_{t−1} + 0.05 y_{t−1} Σ_{i=1..5} y_{t−i}
    + 1.5 u_{t−5} u_{t−1} + 0.1 from rest, u ~ U[0, 0.5]; x and y standardised (N, L, 1)."""
    rng = np.random.default_rng(seed)
    u = rng.uniform(0, 0.5, size=(n, L))
    y = np.zeros((n, L))
    for t in range(1, L):
        past = y[:, max(t - 5, 0) : t].sum(axis=1)
        lagged = u[:, t - 5] if t >= 5 else 0.0
        y[:, t] = 0.3 * y[:, t - 1] + 0.05 * y[:, t - 1] * past + 1.5 * lagged * u[:, t - 1] + 0.1
    x = (u - 0.25) / 0.144
    y = (y - 0.3) / 0.1
    return x[..., None].astype(np.float32), y[..., None]


def data(seed: int = 0, key: int = 0) -> FitData:
    x, y = narma_like(seed, 48)
    xv, yv = narma_like(seed + 100, 48)
    return FitData(
        x=x,
        y=y,
        valid=np.ones(L, bool),
        key=jax.random.PRNGKey(key),
        memory_hint=None,
        inputs=("u",),
        batch=48,
        val=(xv, yv),
    )


def val_mse(net, d: FitData) -> float:
    xv, yv = d.val
    return float(np.mean((np.asarray(net(xv)) - yv) ** 2))


def sums_of(z: np.ndarray, t: np.ndarray) -> Sums:
    return Sums(z.T @ z, z.T @ t, z.sum(0), t.sum(0), (t * t).sum(0), z.shape[0])


def test_ridge_path_equals_a_direct_solve_for_each_penalty():
    """One eigendecomposition for the path gives, for each λ, the validation MSE of the ridge
    read-out solved directly (Cholesky, ``ridge_solve``) and evaluated row by row."""
    rng = np.random.default_rng(1)
    z, zv = rng.normal(size=(300, 12)) + 0.5, rng.normal(size=(200, 12)) + 0.5
    z[:, 11] = z[:, 10] + 1e-4 * rng.normal(size=300)  # near-collinear: the path matters
    zv[:, 11] = zv[:, 10] + 1e-4 * rng.normal(size=200)
    w_true = rng.normal(size=(12, 2))
    t = z @ w_true + 0.3 * rng.normal(size=(300, 2)) + 1.0
    tv = zv @ w_true + 0.3 * rng.normal(size=(200, 2)) + 1.0
    train, val = sums_of(z, t), sums_of(zv, tv)
    ridges = np.array([1e-6, 1e-2, 1.0, 30.0])
    path = ridge_path(train, val, ridges)
    for lam, got in zip(ridges, path):
        w, b = ridge_solve(train.ztz, train.ztt, train.z_sum, train.t_sum, train.rows, lam)
        direct = np.mean((zv @ w + b - tv) ** 2)
        np.testing.assert_allclose(got, direct, rtol=1e-6)
        np.testing.assert_allclose(val.sse(w, b).sum() / tv.size, direct, rtol=1e-6)
    assert path[-1] > 1.5 * path.min()  # the penalty matters: the path is not flat


@pytest.mark.slow
def test_search_beats_the_former_fixed_defaults_on_validation():
    d = data()
    fixed = ESNConfig(reservoir=40, **ESNConfig.LEGACY_DEFAULTS)
    net = draw_reservoir(fixed, 1, 1, d.key)
    net, _ = fit_readout(net, d.x, d.y, d.valid, ridge=fixed.ridge, washout=fixed.washout, chunk=48)
    searched, info = fit_esn(ESNConfig(reservoir=40), d)
    assert set(info["chosen"]) == {"spectral_radius", "input_scaling", "leak", "ridge", "washout"}
    assert val_mse(searched, d) < 0.7 * val_mse(net, d)
    # The search's own score is the validation MSE of a read-out fitted on its sample; the
    # final fit on all training paths at the chosen settings does no worse than 1.5x it.
    assert val_mse(searched, d) <= 1.5 * info["search"]["val_mse"]


def test_settings_the_user_gave_are_kept():
    d = data()
    cfg = ESNConfig(reservoir=40, spectral_radius=0.7, washout=5)
    net, info = fit_esn(cfg, d)
    assert set(info["chosen"]) == {"input_scaling", "leak", "ridge"}
    radius = np.max(np.abs(np.linalg.eigvals(np.asarray(net.w, np.float64))))
    np.testing.assert_allclose(radius, 0.7, rtol=1e-5)
    assert info["washout"] == 5
    full = ESNConfig(reservoir=40, spectral_radius=0.7, input_scaling=0.2, leak=0.5, ridge=1e-3)
    net, info = fit_esn(full.model_copy(update=dict(washout=5)), d)
    assert "chosen" not in info and net.leak == 0.5 and info["ridge"] == 1e-3


def test_the_choice_is_fixed_by_the_seed():
    a = tune(ESNConfig(reservoir=30), data(key=3))[1]
    b = tune(ESNConfig(reservoir=30), data(key=3))[1]
    assert a["chosen"] == b["chosen"] and a["search"]["val_mse"] == b["search"]["val_mse"]


@pytest.mark.slow
def test_the_search_and_the_fit_keep_to_the_budget(monkeypatch):
    """Trials of 0.2 s and a 1.5 s budget: the search stops in time for the final fit, which
    takes fewer paths (the 5 s NARMA-30 command's ESN fitted 31.6 s: 12 trials, 1000 paths)."""
    import time as clock

    from lagnet.models import esn_fit

    real = esn_fit.Search.sums

    def slow(self, point):
        clock.sleep(0.2)
        return real(self, point)

    monkeypatch.setattr(esn_fit.Search, "sums", slow)
    d = data()
    d = FitData(**{**d.__dict__, "x": np.tile(d.x, (20, 1, 1)), "y": np.tile(d.y, (20, 1, 1))})
    t0 = clock.perf_counter()
    net, info = fit_esn(ESNConfig(reservoir=30), FitData(**{**d.__dict__, "seconds": 1.5}))
    assert clock.perf_counter() - t0 < 1.5 * 1.1
    assert 1 <= info["search"]["trials"] < 7 and 32 <= info["paths"] < 960
    unbounded = fit_esn(ESNConfig(reservoir=30), d)[1]
    assert unbounded["search"]["trials"] > info["search"]["trials"] and unbounded["paths"] == 960


def test_without_a_validation_set_the_last_training_paths_serve():
    d = data()
    d = FitData(**{**d.__dict__, "val": None})
    _, info = fit_esn(ESNConfig(reservoir=30, leak=1.0, washout=0), d)
    assert set(info["chosen"]) == {"spectral_radius", "input_scaling", "ridge"}
    assert np.isfinite(info["search"]["val_mse"])


@pytest.mark.parametrize("settings", [{}, dict(spectral_radius=0.8, washout=0)])
def test_unset_settings_round_trip_through_toml(settings, tmp_path):
    cfg = make_config(dict(model=dict(kind="esn", reservoir=30, **settings)))
    text = config_to_toml(cfg)
    path = tmp_path / "c.toml"
    path.write_text(text)
    again = load_config(path)
    assert again.model == cfg.model
    assert again.model.unset() == model_config(kind="esn", **settings).unset()


@pytest.mark.slow
def test_peers_benchmark_smoke(tmp_path):
    """benchmarks/peers.py --smoke runs the three ESNs (lagnet's, reservoirpy's searched, and
    reservoirpy's built as lagnet's) on both tasks and the step comparison."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "peers.json"
    env = dict(os.environ, JAX_PLATFORMS="cpu", OMP_NUM_THREADS="1", LAGNET_CACHE="0")
    proc = subprocess.run(
        [sys.executable, str(root / "benchmarks" / "peers.py"), "--smoke", "--out", str(out)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    assert {(r["task"], r["peer"]) for r in result["esn"]} == {
        (t, p)
        for t in ("narma10", "forum")
        for p in ("lagnet", "reservoirpy", "reservoirpy-matched")
    }
    assert all(np.isfinite(r["nrmse_median"]) for r in result["esn"])
    reference = Path(os.environ.get("LAGNET_REFERENCE", root.parent / "shared" / "reference"))
    (step,) = result["steps"]
    assert step["lagnet_ms"] > 0
    if (reference / "jax_scan.py").is_file():  # beside a clone with the shared folder
        assert step["reference_ms"] > 0
    else:
        assert step["reference_ms"] is None and "reference not found" in proc.stdout


def _frols_rows(p, y, max_terms, tol):
    """FROLS as Billings writes it: modified Gram–Schmidt on the M rows, one pass per term."""
    w, r = p.copy(), y.copy()
    norm0 = np.einsum("mk,mk->k", p, p)
    sigma, centred = float(y @ y), float(np.sum((y - y.mean()) ** 2))
    chosen, errs = [], []
    while len(chosen) < max_terms and float(r @ r) > tol * centred:
        ww = np.einsum("mk,mk->k", w, w)
        alive = ww > 1e-10 * norm0
        alive[chosen] = False
        if not alive.any():
            break
        err = np.where(alive, (w.T @ r) ** 2 / np.where(alive, ww, 1.0), -1.0) / sigma
        j = int(np.argmax(err))
        if err[j] <= 0:
            break
        q = w[:, j].copy()
        chosen.append(j)
        errs.append(float(err[j]))
        r -= (q @ r / (q @ q)) * q
        w -= np.outer(q, (q @ w) / (q @ q))
    return chosen, errs


@pytest.mark.parametrize("gram_max", [2048, 0])
@pytest.mark.parametrize("offset, noise", [(0.0, 0.0), (0.0, 0.05), (3.0, 0.05)])
def test_frols_on_the_gram_matrix_equals_gram_schmidt_on_the_rows(
    offset, noise, gram_max, monkeypatch
):
    """FROLS picks the same terms, in the same order, with the same error reduction ratios
    as modified Gram–Schmidt on the rows written out here — on the Gram matrix (few
    candidates) and on the rows (many: ``GRAM_MAX`` set to 0) — for exact targets (stopping
    on the tolerance), noisy ones (stopping at the term limit) and inputs far from zero mean
    (ill-conditioned monomials), with a candidate that repeats another (never chosen twice)."""
    from lagnet.models import narx
    from lagnet.models.narx import candidate_exponents, frols, monomials

    monkeypatch.setattr(narx, "GRAM_MAX", gram_max)

    rng = np.random.default_rng(7)
    z = rng.uniform(-1, 1, (3000, 6)) + offset
    p = monomials(z, candidate_exponents(6, 3))  # 84 candidates
    p = np.concatenate([p, p[:, 5:6]], axis=1)  # a duplicate column
    y = 1.5 * z[:, 0] * z[:, 5] + 0.3 * z[:, 1] ** 2 - 0.2 * z[:, 2] + noise * rng.normal(size=3000)
    for tol in (1e-12, 1e-4):
        want = _frols_rows(p, y, 25, tol)
        got = frols(p, y, 25, tol)
        assert got[0] == want[0]
        assert len(set(got[0])) == len(got[0])
        np.testing.assert_allclose(got[1], want[1], rtol=1e-7, atol=1e-12)
    if noise == 0.0:  # the exact target is explained whole, in a handful of terms
        chosen, errs = frols(p, y, 25, 1e-12)
        assert len(chosen) <= 5 and abs(sum(errs) - 1.0) < 1e-10


def test_auto_gives_each_closed_form_candidate_a_share_of_the_budget(monkeypatch):
    """Its ESN searched without a limit: 18.5 s of a 6 s `--model auto` command."""
    from lagnet import fitting
    from lagnet.api import build_config
    from lagnet.errors import LagnetError
    from lagnet.tasks import build_task

    asked = {}

    def refuse(cfg, task, *rest):
        asked[cfg.model.kind] = cfg.train.max_seconds
        raise LagnetError("model", cfg.model.kind, "not fitted here")

    monkeypatch.setattr(fitting, "fit_closed_form", refuse)
    monkeypatch.setattr(fitting, "fit", refuse)
    cfg = build_config("ar1(rho=0.1)", "x[t-1]", "auto", max_seconds=8.0, length=20,
                       val_paths=16, pilot_paths=16)  # fmt: skip
    with pytest.raises(LagnetError, match="no candidate could be fitted"):
        fitting.fit_chooser(cfg, build_task(cfg))
    assert asked["narx"] == asked["esn"] == 2.0 and asked["gru"] > 5.0


def test_the_summary_gives_auto_s_kept_candidate_its_own_time():
    """It gave narx the chooser's 18.8 s while its own line said 0.3 s."""
    from lagnet.cli.train import fit_summary

    candidates = [dict(kind="narx", val_mse=0.0, seconds=0.3, kept=True),
                  dict(kind="esn", val_mse=0.02, seconds=18.5)]  # fmt: skip
    info = dict(stopped="closed form", kind="narx", sequences=1000, seconds=18.8,
                candidates=candidates)  # fmt: skip
    assert fit_summary(info)[0] == "fitted narx in closed form on 1000 paths in 0.3 s"
    assert fit_summary(dict(info, candidates=[]))[0].endswith("in 18.8 s")
