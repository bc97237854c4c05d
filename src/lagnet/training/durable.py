"""A training run's checkpoint: everything the loop needs to go on as if it had never stopped.

One file, ``checkpoint.safetensors``: the weights, the optimiser state and the best weights as
named tensors, and the host side of the loop (step, schedule position, elapsed time, learning-
rate factor, best score, history rows, …) as JSON in the file's metadata, with a format
version. Never pickle. Written atomically (:func:`lagnet.files.atomic_write`), so a kill at any
moment leaves the previous checkpoint or the new one. The keys are not stored: each step's key
is the run's training key folded with the step number, so the step is enough.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save

from lagnet.errors import LagnetError
from lagnet.files import atomic_write

FORMAT = 1
NAME = "checkpoint.safetensors"


def _named(tree) -> tuple[list[str], list]:
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return [jax.tree_util.keystr(p) for p, _ in leaves], [leaf for _, leaf in leaves]


class Checkpoint:
    """Where one run keeps its checkpoint: ``directory/checkpoint.safetensors``."""

    def __init__(self, directory: str | Path):
        self.path = Path(directory) / NAME

    def exists(self) -> bool:
        return self.path.is_file()

    def save(self, arrays: dict, state: dict) -> None:
        """``arrays``: name → pytree of arrays (params, opt_state, best); ``state``: JSON-able."""
        tensors = {}
        for group, tree in arrays.items():
            names, leaves = _named(tree)
            tensors.update({f"{group}{n}": np.asarray(v) for n, v in zip(names, leaves)})
        meta = {"format": str(FORMAT), "state": json.dumps(state, allow_nan=True)}
        data = save(tensors, metadata=meta)  # written by Python: a full disk is an OSError
        atomic_write(self.path, lambda tmp: tmp.write_bytes(data))

    def load(self, templates: dict) -> tuple[dict, dict]:
        """The arrays, shaped like ``templates`` (name → pytree), and the host state."""
        try:
            with safe_open(str(self.path), framework="numpy") as f:
                meta = f.metadata() or {}
                if meta.get("format") != str(FORMAT):
                    raise LagnetError(
                        "checkpoint",
                        str(self.path),
                        f"format {meta.get('format')!r} is not {FORMAT}",
                    )
                out = {}
                for group, tree in templates.items():
                    names, leaves = _named(tree)
                    new = []
                    for n, leaf in zip(names, leaves):
                        arr = f.get_tensor(f"{group}{n}")
                        if arr.shape != np.shape(leaf):
                            raise LagnetError(
                                "checkpoint",
                                str(self.path),
                                f"{group}{n} has shape {arr.shape}, the model {np.shape(leaf)}",
                            )
                        new.append(arr)
                    treedef = jax.tree_util.tree_structure(tree)
                    out[group] = jax.tree_util.tree_unflatten(treedef, new)
                state = json.loads(meta["state"])
        except LagnetError:
            raise
        except (OSError, KeyError, ValueError, SafetensorError) as e:  # damaged, or not ours
            raise LagnetError("checkpoint", str(self.path), f"cannot be read ({e})") from None
        return out, state

    def step(self) -> int | None:
        """The step it holds (None: none, or one that cannot be read: resuming says why).
        The loop's shared state is (step, since_val, planned, elapsed)."""
        if not self.exists():
            return None
        try:
            with safe_open(str(self.path), framework="numpy") as f:
                return int(json.loads((f.metadata() or {})["state"])["shared"][0])
        except (OSError, KeyError, IndexError, TypeError, ValueError, SafetensorError):
            return None

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
