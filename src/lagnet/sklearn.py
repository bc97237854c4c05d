"""A scikit-learn regressor over arrays the user already holds: ``SequenceRegressor``.

    >>> from lagnet.sklearn import SequenceRegressor
    >>> est = SequenceRegressor(model="gru", steps=300, hidden=8).fit(X, y)
    >>> est.score(X, y), est.memoryless_score_, est.run_.metrics["test"]["memory_r2"]

Shapes (N paths, L steps, C input channels, O outputs):

* X: (N, L) — one input series — or (N, L, C). A 2-D X is read as N paths of L steps, so
  scikit-learn's (n_samples, n_features) table is n_samples paths whose features are the
  steps, in time order: feature j is the input at step j.
* y: (N, L) or (N, L, O) — a target at every step; steps where it is NaN on every path (a
  warm-up before the target is defined) are left out of the loss and the score, and only
  leading steps, the same for every output, may be undefined — or (N,): one target per path,
  at its last step (what scikit-learn's own checks pass). ``predict`` returns the same layout
  as the y it was fitted on, for paths as long as X's: a 3-D X of any length (the model is
  causal), a 2-D one of the fit's length (scikit-learn's checks hold a table's features to
  the fit's).

``fit`` trains through lagnet's pipeline (:func:`lagnet.train`): the arrays become a process
(``CallableProcess``) whose paths are the rows of X and y, drawn with replacement each step.
The run's metrics (``run_.metrics``, ``run_.save(dir)`` for the report) are on resamples of the
same arrays — fit to this data, not generalisation (score a held-out split for that); its
long-horizon check strings paths end to end and means nothing here.
``score`` is R² over every (path, step) pair where the target is defined (averaged over
outputs); ``memoryless_score_`` is the same R² of lagnet's memoryless baseline — the best
function of the current input alone — fitted on the training arrays.
"""

from __future__ import annotations

from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from lagnet.api import train
from lagnet.baselines import MemorylessBaseline
from lagnet.config import EvalConfig
from lagnet.errors import LagnetError
from lagnet.models import predict as predict_model
from lagnet.models.family import family
from lagnet.processes.custom import CallableProcess
from lagnet.sklearn_checks import (
    EXPLICIT,
    as_paths,
    as_targets,
    check_options,
    refuse_1d,
    refuse_not_finite,
    shape_of,
)

PREDICT_BATCH = 64  # paths per compiled call: every path is computed in a batch of one shape


class SequenceRegressor(RegressorMixin, BaseEstimator):
    """A lagnet sequence model as a scikit-learn regressor (see the module's docstring).

    ``model``: a family (gru, lstm, rnn, lru, tcn, window, transformer, esn, narx, auto);
    ``steps``, ``max_seconds``: the training budget (None: lagnet's defaults; a wall-clock
    budget makes fits differ between runs); ``seed``: all randomness; ``warm_start``: a second
    ``fit`` goes on from the fitted weights (gradient-trained families) for ``steps`` (None:
    100) more steps, with a fresh Adam state and the learning-rate schedule started again:
    warm-up to ``lr``, then cosine decay to ``lr * end_lr_factor`` over those steps;
    ``**options``: any other lagnet option (``hidden``, ``layers``,
    ``head``, ``batch``, ``lr``, ``window``, ``reservoir``, ``eval={…}``, …), which
    ``get_params`` / ``set_params`` see like the named ones.
    """

    def __init__(
        self,
        model: str = "gru",
        steps: Optional[int] = None,
        max_seconds: Optional[float] = None,
        seed: int = 0,
        warm_start: bool = False,
        **options: Any,
    ):
        self.model = model
        self.steps = steps
        self.max_seconds = max_seconds
        self.seed = seed
        self.warm_start = warm_start
        self._option_names = tuple(options)  # checked in fit, as scikit-learn asks
        for name, value in options.items():
            setattr(self, name, value)

    # ---------------------------------------------------------------- parameters
    def _options(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self._option_names}

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {**super().get_params(deep=deep), **self._options()}

    def set_params(self, **params: Any) -> SequenceRegressor:
        for name, value in params.items():
            if name not in EXPLICIT and name not in self._option_names:
                self._option_names += (name,)
            setattr(self, name, value)
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.target_tags.multi_output = False
        return tags

    # ---------------------------------------------------------------- fitting
    def fit(self, X, y) -> SequenceRegressor:
        """Train on X (N, L[, C]) and y (N,), (N, L) or (N, L, O); returns self."""
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None"
            )
        check_options(self.model, self.steps, self._options())
        refuse_1d(X)
        X = validate_data(
            self, X, allow_nd=True, dtype=np.float64, reset=True, ensure_all_finite=False
        )
        refuse_not_finite(X)
        x = as_paths(X)
        yt, y_ndim = as_targets(y, x)
        layout = (x.shape[2], y_ndim, yt.shape[2])
        warm = self.warm_start and hasattr(self, "run_") and family(self.model).trained
        if warm and layout != self._layout:
            raise LagnetError("X", f"shape {X.shape}", "warm_start: not the layout fitted before")
        length = x.shape[1]
        x, yt = _pad_short(x, yt)
        defined = np.isfinite(yt).all(axis=(0, 2))  # (L,)
        t0 = int(np.argmax(defined))
        process = _arrays_process(x, yt, t0)
        if warm:
            self.run_ = _go_on(self.run_, process, self._steps() or 100, self.seed)
        else:
            self.run_ = train(
                process, _formulas(yt.shape[2], t0), self.model, **self._settings(x, t0)
            )
        self._layout = layout  # (input channels, y's ndim, outputs)
        self.n_steps_ = length
        self._padded = length == 1  # trained after a zero step: predict puts one there too
        mem = MemorylessBaseline().fit(
            x[:, t0:].reshape(-1, x.shape[2]), yt[:, t0:].reshape(-1, yt.shape[2])
        )
        y_mem = mem.predict(x.reshape(-1, x.shape[2])).reshape(yt.shape)
        self.memoryless_score_ = _r2(yt, y_mem)
        return self

    def _settings(self, x: np.ndarray, t0: int) -> dict[str, Any]:
        """lagnet options for a fit on x (N, L, C): the user's, and sample sizes that suit the
        data where the user set none."""
        n, length = x.shape[:2]
        opts = self._options()
        given_eval = dict(opts.pop("eval", None) or {})
        for name in list(opts):
            if name in EvalConfig.model_fields:
                given_eval[name] = opts.pop(name)
        paths = int(np.clip(2 * n, 32, 1000))  # a closed-form fit uses this many draws
        ev = dict(
            test_paths=paths,
            baseline_paths=int(np.clip(4 * n, 64, 4000)),
            long_paths=2,
            long_factor=2,
            linear_lags=max(1, min(length - 1, 32)),
        )
        settings = dict(
            val_paths=paths, pilot_paths=paths, batch=int(np.clip(n, 8, 128)), length=length
        )
        settings.update({k: v for k, v in opts.items() if k != "length"})
        if self.max_seconds is not None:
            settings["max_seconds"] = self.max_seconds
        if (steps := self._steps()) is not None:
            settings["steps"] = steps
            if "val_every" not in opts:
                settings["val_every"] = max(1, min(100, steps // 4))
        settings["seed"] = self.seed
        settings["eval"] = {**ev, **given_eval}
        settings["inputs"] = [f"x{c}" for c in range(x.shape[2])]
        return settings

    def _steps(self) -> int | None:
        """``steps`` as a whole number (checked: 2.0 from a parameter search is 2)."""
        return None if self.steps is None else int(self.steps)

    # ---------------------------------------------------------------- predicting
    def predict(self, X) -> np.ndarray:
        """Predictions in the layout of the fitted y: (N,) at the last step, (N, L) or
        (N, L, O), for paths of X's length L."""
        check_is_fitted(self, "run_")
        x = self._check_X(X)
        if getattr(self, "_padded", False):  # fitted on 1-step paths after a zero step
            x = np.concatenate([np.zeros_like(x[:, :1]), x], axis=1)
        n = x.shape[0]
        xp = np.concatenate([x, np.zeros((-n % PREDICT_BATCH, *x.shape[1:]))]).astype(np.float32)
        out = np.concatenate(
            [
                np.asarray(predict_model(self.run_.model, jnp.asarray(xp[i : i + PREDICT_BATCH])))
                for i in range(0, len(xp), PREDICT_BATCH)
            ]
        )[:n, int(getattr(self, "_padded", False)) :].astype(np.float64)  # (N, L, O)
        y_ndim = self._layout[1]
        if y_ndim == 1:
            return out[:, -1, 0]  # (N,)
        return out[..., 0] if y_ndim == 2 else out

    def _check_X(self, X) -> np.ndarray:
        """X as (N, L, C): 3-D paths of any length (the model is causal); 2-D ones of the
        fit's length, which scikit-learn's checks ask of a table's features."""
        refuse_1d(X)
        shape, channels = shape_of(X), self._layout[0]
        if shape is not None and len(shape) == 3:
            X = check_array(X, allow_nd=True, dtype=np.float64, ensure_all_finite=False)
            if X.shape[2] != channels:
                raise LagnetError("X", f"shape {X.shape}", f"expected {channels} input channel(s)")
        else:
            if shape is not None and len(shape) == 2:
                self._check_table(shape, channels)
            X = validate_data(
                self, X, allow_nd=True, dtype=np.float64, reset=False, ensure_all_finite=False
            )
        refuse_not_finite(X)
        return as_paths(X)

    def _check_table(self, shape: tuple[int, ...], channels: int) -> None:
        """A 2-D X is one input channel whose features are the fit's steps."""
        name, fitted = type(self).__name__, self.n_features_in_
        if channels != 1:
            raise LagnetError(
                "X", f"shape {shape}", f"expected (N, L, {channels}): {channels} inputs"
            )
        if shape[1] != fitted:
            raise LagnetError(
                "X",
                f"shape {shape}",
                f"X has {shape[1]} features, but {name} is expecting {fitted} features as "
                f"input: a 2-D X holds paths of the fit's {fitted} steps; give paths of "
                "another length 3-D, X[:, :, None]",
            )

    def score(self, X, y, sample_weight=None) -> float:
        """R² over every (path, step) pair where ``y`` is defined, averaged over outputs."""
        if sample_weight is not None:
            raise LagnetError("sample_weight", "given", "is not supported")
        pred = self.predict(X)
        y = np.asarray(y, np.float64)
        if y.ndim == 2 and y.shape[1] == 1 and pred.ndim == 1:
            y = y[:, 0]
        if y.shape != pred.shape:
            raise LagnetError("y", f"shape {y.shape}", f"expected {pred.shape}, as predict gives")
        o = y.shape[2] if y.ndim == 3 else 1
        return _r2(y.reshape(len(y), -1, o), pred.reshape(len(y), -1, o))


# -------------------------------------------------------------------- helpers
def _pad_short(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Paths of one step get a zero step before it (lagnet trains on 2 steps or more)."""
    if x.shape[1] > 1:
        return x, y
    return (
        np.concatenate([np.zeros_like(x), x], axis=1),
        np.concatenate([np.full_like(y, np.nan), y], axis=1),
    )


def _formulas(outputs: int, t0: int) -> str | list[str]:
    """``y0[t-t0]``: the series served shifted by t0, so the target is defined from t0 on."""
    shift = f"[t-{t0}]" if t0 else "[t]"
    names = [f"y{o}{shift}" for o in range(outputs)]
    return names[0] if outputs == 1 else names


def _arrays_process(x: np.ndarray, y: np.ndarray, t0: int) -> CallableProcess:
    """The rows of x (N, L, C) and y (N, L, O) as a process: each path is a row drawn with
    replacement; a longer path strings rows end to end. The targets are served t0 steps
    early (y0[s] = y[s + t0]), so the formula ``y0[t-t0]`` is y where it is defined."""
    n, length, c = x.shape
    ys = np.zeros_like(y)
    ys[:, : length - t0] = y[:, t0:]
    data = jnp.asarray(np.concatenate([x, ys], axis=2), jnp.float32)  # (N, L, C + O)
    names = [f"x{i}" for i in range(c)] + [f"y{i}" for i in range(y.shape[2])]
    return _Rows(data, names, c)


def _rows(data: jax.Array, key: jax.Array, paths: int, steps: int) -> jax.Array:
    """``paths`` paths of ``steps`` steps from the rows of data (N, L, S): (paths, steps, S)."""
    n, length, s = data.shape
    reps = -(-steps // length)
    rows = jax.random.randint(key, (paths, reps), 0, n)
    return data[rows].reshape(paths, reps * length, s)[:, :steps]


class _Rows(CallableProcess):
    """A fit's rows as a process (:func:`_arrays_process`). The rows are an argument of the
    programs that sample them (:meth:`arrays`): baked in as constants, every fit wrote them
    into new compilation-cache entries (30 MB each for 16 MB of rows, a few per fit) and
    kept them in memory."""

    def __init__(self, data: jax.Array, names: list[str], c: int):
        self._data = data
        super().__init__(self._draw, series=names, observed=names[:c])

    def _draw(self, key, paths, steps):
        return self.sample_from((self._data,), key, paths, steps)

    def arrays(self, length: int) -> tuple:
        return (self._data,)

    def sample_from(self, arrays: tuple, key: jax.Array, n: int, length: int) -> dict:
        seq = _rows(arrays[0], key, int(n), int(length))
        return {name: seq[..., i] for i, name in enumerate(self._series)}


def _r2(y: np.ndarray, pred: np.ndarray) -> float:
    """R² over the pairs where y (N, L, O) is finite, per output, averaged."""
    scores = []
    for o in range(y.shape[2]):
        ok = np.isfinite(y[..., o])
        t, p = y[..., o][ok], pred[..., o][ok]
        ss = float(((t - t.mean()) ** 2).sum())
        resid = float(((t - p) ** 2).sum())
        scores.append(1.0 - resid / ss if ss > 0 else (1.0 if resid == 0 else 0.0))
    return float(np.mean(scores))


def _go_on(run, process, steps: int, seed: int):
    """``steps`` more Adam steps on fresh batches from the run's weights and scalings, the
    learning-rate schedule started again (warm-up, cosine decay), then the run evaluated
    again. Returns the new Run."""
    import equinox as eqx
    import optax

    from lagnet.evaluation import evaluate, verdict
    from lagnet.models import Normalised
    from lagnet.runs import Run
    from lagnet.tasks import build_task
    from lagnet.training.loop import lr_at

    cfg, model = run.config, run.model
    task = build_task(cfg, process=process)
    params, static = eqx.partition(model.net, eqx.is_array)
    opt = optax.chain(optax.clip_by_global_norm(cfg.train.clip), optax.scale_by_adam())
    batch, length = cfg.train.batch, cfg.train.length

    @eqx.filter_jit
    def step(params, opt_state, key, lr, arrays):
        x, y, valid = task.sample(key, batch, length, arrays=arrays)  # (N,L,C), (N,L,O), (L,)

        def loss(p):
            pred = eqx.combine(p, static)(model.normalise_x(x))
            w = valid[None, :, None].astype(pred.dtype)
            return jnp.sum(w * (pred - model.normalise_y(y)) ** 2) / (jnp.sum(w) * batch)

        value, grads = jax.value_and_grad(loss)(params)
        updates, opt_state = opt.update(grads, opt_state, params)
        params = jax.tree_util.tree_map(lambda p, u: p - lr * u, params, updates)
        return params, opt_state, value

    opt_state = opt.init(params)
    arrays = process.arrays(length)  # the fit's rows: an argument, not baked into the program
    key = jax.random.fold_in(jax.random.PRNGKey(seed), 1 + run.metrics["train"].get("steps", 0))
    for i in range(steps):
        lr = jnp.float32(lr_at(i, steps, cfg.train))
        params, opt_state, _ = step(params, opt_state, jax.random.fold_in(key, i), lr, arrays)
    new = Normalised(
        eqx.combine(params, static), model.x_mean, model.x_std, model.y_mean, model.y_std
    )
    ev = evaluate(new, task, cfg.eval, length)
    metrics = {**run.metrics, **ev.metrics}
    metrics["train"] = {
        **run.metrics["train"],
        "warm_steps": steps + run.metrics["train"].get("warm_steps", 0),
    }
    metrics["verdict"] = verdict(metrics)
    return Run(cfg, new, metrics, run.history, ev.predictions)
