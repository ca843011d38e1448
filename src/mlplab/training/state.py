"""`TrainingState`: what the loop needs, beside the weights, to continue a run exactly, and its file.

A run continues bit for bit on the same engine when it gets back its optimizer state (moments, step
counts), the step counter, the batch order's generator state, the current epoch's order and the place
in it, and early stopping's best weights. `Run.save` writes this as ``state.npz`` beside ``model.pt``;
`load_run` reads it back, so ``load_run(dir).resume(epochs)`` in a new process equals one long run.

The file holds arrays and one JSON tree that says how they nest (dicts with int keys, tuples, NumPy
and torch arrays, NumPy scalars), so it is read with ``allow_pickle=False``: opening a run folder never
runs code from it. (torch.save would pickle the optimizer's nested state; NumPy's own npz cannot hold
the nesting, hence this small codec.)
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataFileError

STATE_FILE = "state.npz"
STATE_SCHEMA = 1


@dataclass
class TrainingState:
    """Where a training stopped, beyond its weights.

    engine: the engine that trained it (a resumed run continues on the same one).
    steps: optimizer steps done in all.
    optimizer: the engine's `optimizer_state()` (moments and counters; hyperparameters come from the spec).
    generator: the batch order's `torch.Generator` state (uint8).
    order: the current epoch's row order (mini-batches), or None.
    next_batch: the next batch of ``order`` to run; ``batch`` the batch size that order was cut with.
    early: early stopping's record: best watched loss, epochs since it, and the weights then (or None).
    """

    engine: str
    steps: int
    optimizer: Any
    generator: np.ndarray
    order: np.ndarray | None = None
    next_batch: int = 0
    batch: int = 0
    early: dict[str, Any] | None = field(default=None)

    def save(self, directory: str | os.PathLike, write=None) -> Path:
        """Write ``state.npz`` into ``directory`` (``write(path, fn)`` writes atomically when given)."""
        arrays: dict[str, np.ndarray] = {}
        tree = {
            "schema": STATE_SCHEMA, "engine": self.engine, "steps": int(self.steps),
            "next_batch": int(self.next_batch), "batch": int(self.batch),
            "optimizer": _encode(self.optimizer, arrays),
            "generator": _encode(np.asarray(self.generator, np.uint8), arrays),
            "order": _encode(self.order, arrays),
            "early": _encode(self.early, arrays),
        }
        arrays["tree"] = np.frombuffer(json.dumps(tree).encode(), np.uint8)
        path = Path(directory) / STATE_FILE
        if write is None:
            with open(path, "wb") as f:
                np.savez(f, **arrays)
        else:
            write(path, lambda f: np.savez(f, **arrays))
        return path

    @classmethod
    def load(cls, directory: str | os.PathLike) -> TrainingState | None:
        """The state saved in ``directory``, None when there is none; a damaged file raises DataFileError."""
        path = Path(directory) / STATE_FILE
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            tree = json.loads(arrays.pop("tree").tobytes().decode())
            if tree.get("schema") != STATE_SCHEMA:
                raise ValueError(f"schema {tree.get('schema')!r}, this mlplab reads {STATE_SCHEMA}")
            return cls(
                engine=str(tree["engine"]), steps=int(tree["steps"]),
                optimizer=_decode(tree["optimizer"], arrays), generator=_decode(tree["generator"], arrays),
                order=_decode(tree["order"], arrays), next_batch=int(tree["next_batch"]),
                batch=int(tree["batch"]), early=_decode(tree["early"], arrays),
            )
        except (ValueError, KeyError, TypeError, OSError, UnicodeDecodeError, EOFError) as exc:
            raise DataFileError(path, f"cannot be read as a training state ({exc})",
                                "delete it to keep the run without the means to continue it") from None


def _encode(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    """A JSON tree for ``value``; arrays go into ``arrays`` under a fresh key."""
    import torch

    def put(a: np.ndarray) -> str:
        key = f"a{len(arrays)}"
        arrays[key] = a
        return key

    if isinstance(value, np.generic):  # before float: np.float64 is a float, and its type decides NumPy's promotion
        return {"__npscalar__": put(np.asarray(value))}
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if isinstance(value, torch.Tensor):
        return {"__torch__": put(value.detach().cpu().numpy().copy())}
    if isinstance(value, np.ndarray):
        return {"__np__": put(value)}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, arrays) for v in value]}
    if isinstance(value, list):
        return [_encode(v, arrays) for v in value]
    if isinstance(value, dict):
        return {"__dict__": [[_encode(k, arrays), _encode(v, arrays)] for k, v in value.items()]}
    raise TypeError(f"cannot save a {type(value).__name__} in a training state")


def _decode(node: Any, arrays: dict[str, np.ndarray]) -> Any:
    import torch

    if isinstance(node, list):
        return [_decode(v, arrays) for v in node]
    if not isinstance(node, dict):
        return node
    if "__torch__" in node:
        return torch.from_numpy(arrays[node["__torch__"]].copy())
    if "__np__" in node:
        return arrays[node["__np__"]].copy()
    if "__npscalar__" in node:
        return arrays[node["__npscalar__"]][()]
    if "__float__" in node:
        return float(node["__float__"])
    if "__tuple__" in node:
        return tuple(_decode(v, arrays) for v in node["__tuple__"])
    if "__dict__" in node:
        return {_decode(k, arrays): _decode(v, arrays) for k, v in node["__dict__"]}
    raise ValueError(f"an unknown node {sorted(node)}")
