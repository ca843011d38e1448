"""scikit-learn's habits on a trained `Run`: ``predict``, ``predict_proba`` and ``score`` on NumPy arrays.

They read the trained torch model in evaluation mode, so they are the same for every engine (each engine
hands its final weights back to the model). The conventions are scikit-learn's: ``predict`` gives labels
for classification and values for regression; ``predict_proba`` gives one column per class (two for a
binary task, [P(0), P(1)]); ``score`` is the accuracy for classification and R^2 for regression. A binary
model's output is read as the loss reads it: a probability (sigmoid output, ``bce``), a logit
(``bce_logits``), or a linear output fitted to 0/1 with MSE (clipped to [0, 1] as a probability).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import SpecError
from . import metrics as M


def inputs(run: Any, X: Any, name: str = "X") -> np.ndarray:
    """``X`` as float32 rows of the model's input width, or a SpecError naming ``name``."""
    if run.model is None:
        raise SpecError("run", "a Run with its trained model", run.name, hint="load_run(dir) reads model.pt")
    try:
        arr = np.asarray(X, dtype=np.float32)
    except (TypeError, ValueError):
        raise SpecError(name, "an array of numbers, shape (n, inputs)", type(X).__name__) from None
    d_in = _in_dim(run)
    if arr.ndim == 1 and d_in == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or (d_in is not None and arr.shape[1] != d_in):
        raise SpecError(name, f"an array of shape (n, {d_in})", f"shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise SpecError(name, "finite numbers", "NaN or infinity")
    return np.ascontiguousarray(arr)


def outputs(run: Any, X: Any) -> np.ndarray:
    """The trained model's raw outputs (n, d_out), in evaluation mode."""
    import torch

    arr = inputs(run, X)
    model = run.model
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            return model(torch.from_numpy(arr)).numpy()
    finally:
        model.train(was)


def predict(run: Any, X: Any) -> np.ndarray:
    out = outputs(run, X)
    task = _task(run)
    if task == "regression":
        return out[:, 0] if out.shape[1] == 1 else out
    if task == "binary":
        return (predict_proba(run, X, out=out)[:, 1] > 0.5).astype(np.int64)
    return out.argmax(1).astype(np.int64)


def predict_proba(run: Any, X: Any, out: np.ndarray | None = None) -> np.ndarray:
    task = _task(run)
    if task == "regression":
        raise SpecError("predict_proba", "a classification run", f"{run.name} (a regression)",
                        hint="use run.predict(X)")
    out = outputs(run, X) if out is None else out
    loss = _loss(run)
    if task == "binary":
        z = out[:, 0].astype(np.float64)
        if loss == "bce_logits":
            p = 0.5 * (1.0 + np.tanh(0.5 * z))  # the logistic function, without overflow for large |z|
        else:
            p = np.clip(z, 0.0, 1.0)
        return np.stack([1.0 - p, p], axis=1)
    z = out.astype(np.float64)
    z -= z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def score(run: Any, X: Any, y: Any) -> float:
    X_arr = inputs(run, X)
    y_arr = np.asarray(y)
    if len(y_arr) != len(X_arr):
        raise SpecError("y", f"{len(X_arr)} targets, one per row of X", f"{len(y_arr)}")
    task = _task(run)
    if task == "regression":
        out = outputs(run, X_arr)
        return M.r2(out, y_arr.reshape(out.shape) if y_arr.size == out.size else y_arr)
    return float((predict(run, X_arr) == y_arr.reshape(-1).astype(np.int64)).mean())


def _task(run: Any) -> str:
    if run.data is not None:
        return run.data.task
    loss = _loss(run)
    return "regression" if loss in ("mse", "mse_sum") else "multiclass" if loss == "ce" else "binary"


def _loss(run: Any) -> str:
    return str((run.spec.get("train") or {}).get("loss", "mse"))


def _in_dim(run: Any) -> int | None:
    spec = getattr(run.model, "spec", None)
    if spec is not None:
        return spec.in_dim
    return run.data.d_in if run.data is not None else None
