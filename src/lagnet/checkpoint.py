"""Models on disk: weights as safetensors, structure as JSON. Loading never runs code from a
file: the JSON names a model config, the network is rebuilt from it, and the tensors are put
into its leaves by name."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from safetensors.numpy import load_file, save

from lagnet.errors import LagnetError
from lagnet.files import atomic_write, write_text
from lagnet.models import Normalised, build_net, count_parameters, family, model_config
from lagnet.models.family import ModelConfig, switch_kind

FORMAT = 1
T = TypeVar("T")


def _named_leaves(model) -> tuple[list[str], list, object]:
    leaves, treedef = jax.tree_util.tree_flatten_with_path(eqx.filter(model, eqx.is_array))
    names = [jax.tree_util.keystr(path).lstrip(".") for path, _ in leaves]
    return names, [leaf for _, leaf in leaves], treedef


def save_model(
    model: Normalised, cfg: ModelConfig, directory: Path, extra: dict, kind: str | None = None
) -> None:
    """Write ``model.safetensors`` and ``model.json`` into ``directory``. ``kind``: the family
    that was fitted, where a chooser (``auto``) picked it; the model is recorded under that
    kind, so it loads like any model of it."""
    if kind is not None and kind != cfg.kind:
        cfg = model_config(switch_kind(cfg.model_dump(), kind)[0])
    names, leaves, _ = _named_leaves(model)
    tensors = {n: np.asarray(v) for n, v in zip(names, leaves)}
    # Serialised here and written by Python: a full disk is an OSError, not a SafetensorError.
    data = save(tensors)
    atomic_write(directory / "model.safetensors", lambda tmp: tmp.write_bytes(data))
    meta = dict(
        format=FORMAT,
        model=cfg.model_dump(mode="json"),
        c_in=int(model.x_mean.shape[0]),
        c_out=int(model.y_mean.shape[0]),
        parameters=count_parameters(model.net),
        tensors=names,
        **extra,
    )
    window = getattr(model.net, "window", None)
    if window is not None:  # resolved from the formula when model.window is unset
        meta["window"] = int(window)
    if family(cfg.kind).closed_form:  # shapes that were fitted, not configured (NARX terms)
        meta["structure"] = model.net.structure()
    write_text(directory / "model.json", json.dumps(meta, indent=2))


def cannot_read(path: Path, err: BaseException) -> LagnetError:
    """The one line for a run's file that is there but cannot be read (cut short, garbage,
    another program's format): its path and what reading it raised."""
    text = str(err).strip().splitlines()
    why = f"{type(err).__name__}: {text[0][:200]}" if text else type(err).__name__
    return LagnetError("run_dir", str(path), f"cannot be read ({why})")


def read_file(path: Path, read: Callable[[Path], T]) -> T:
    """``read(path)``, any failure of which is :func:`cannot_read`'s one line naming the
    file (a LagnetError about the file's content too: it names a setting the user never
    gave)."""
    try:
        return read(path)
    except Exception as err:  # noqa: BLE001 — any reader's error (SafetensorError, zlib, JSON)
        raise cannot_read(path, err) from None


def json_object(path: Path) -> dict:
    """A JSON file that holds an object (a run's metrics.json, model.json)."""
    obj = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, found {type(obj).__name__}")
    return obj


def npz_arrays(path: Path) -> dict[str, np.ndarray]:
    """An NPZ file's arrays by name (a run's predictions.npz); pickled objects refused."""
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def _read_meta(path: Path) -> tuple[dict, ModelConfig]:
    meta = json_object(path)
    if meta.get("format") != FORMAT:
        raise ValueError(f"format {meta.get('format')!r} is not {FORMAT}")
    return meta, model_config(meta["model"])


def load_model(directory: Path) -> tuple[Normalised, dict]:
    """The model of a run directory; a file that cannot be read is one line naming it."""
    meta_path, weights = directory / "model.json", directory / "model.safetensors"
    meta, cfg = read_file(meta_path, _read_meta)
    skeleton = read_file(meta_path, lambda _: _skeleton(meta, cfg))
    tensors = read_file(weights, lambda p: load_file(str(p)))
    params, static = eqx.partition(skeleton, eqx.is_array)
    names, leaves, treedef = _named_leaves(skeleton)
    missing = [n for n in names if n not in tensors]
    if missing:
        raise LagnetError(
            "run_dir", str(weights), f"does not match model.json: no tensors {missing[:3]}"
        )
    new = []
    for name, leaf in zip(names, leaves):
        arr = tensors[name]
        if arr.shape != leaf.shape:
            raise LagnetError(
                "run_dir",
                str(weights),
                f"does not match model.json: {name} has shape {arr.shape}, expected {leaf.shape}",
            )
        new.append(jnp.asarray(arr))
    params = jax.tree_util.tree_unflatten(treedef, new)
    return eqx.combine(params, static), meta


def _skeleton(meta: dict, cfg: ModelConfig) -> Normalised:
    """The network ``model.json`` describes, with placeholder weights."""
    c_in, c_out = int(meta["c_in"]), int(meta["c_out"])
    max_lag = meta["window"] - 1 if "window" in meta else None  # gives back the same window
    fam = family(cfg.kind)
    if fam.closed_form:
        net = fam.skeleton(cfg, c_in, c_out, meta.get("structure", {}))
    else:
        net = build_net(cfg, c_in, c_out, jax.random.PRNGKey(0), max_lag=max_lag)
    return Normalised(net, jnp.zeros(c_in), jnp.ones(c_in), jnp.zeros(c_out), jnp.ones(c_out))
