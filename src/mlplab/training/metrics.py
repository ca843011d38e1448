"""Losses, accuracy and R^2 computed from outputs in NumPy: the same numbers whatever engine trained.

Names per split (train, val, test): ``{split}_loss``; ``{split}_accuracy`` for classification,
``{split}_r2`` for regression. Binary outputs are thresholded at 0 for logits (loss ``bce_logits``) and
at 0.5 otherwise (probabilities, or a linear output trained with MSE on 0/1 labels).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np


def targets(y: np.ndarray, task: str, loss: str) -> np.ndarray:
    """Targets as the losses compare them: labels (n,) int64 for ce, else float32 (n, d_out)."""
    if task == "regression":
        return np.ascontiguousarray(y, dtype=np.float32)
    if loss == "ce":
        return np.ascontiguousarray(y, dtype=np.int64)
    return np.ascontiguousarray(y, dtype=np.float32).reshape(-1, 1)  # (n,) -> (n, 1)


def loss_value(kind: str, out: np.ndarray, Y: np.ndarray) -> float:
    """The training loss of outputs ``out`` (n, d_out) against ``targets``, in float64."""
    out = np.asarray(out, np.float64)
    if kind in ("mse", "mse_sum"):
        sq = (out - Y) ** 2
        return float(sq.mean() if kind == "mse" else sq.sum())
    if kind == "bce":
        with np.errstate(divide="ignore"):
            logp, logq = np.maximum(np.log(out), -100.0), np.maximum(np.log1p(-out), -100.0)
        return float(-(Y * logp + (1 - Y) * logq).mean())
    if kind == "bce_logits":
        return float((np.maximum(out, 0) - out * Y + np.log1p(np.exp(-np.abs(out)))).mean())
    z = out - out.max(1, keepdims=True)
    logsum = np.log(np.exp(z).sum(1))
    return float((logsum - z[np.arange(len(Y)), Y]).mean())


def accuracy(out: np.ndarray, Y: np.ndarray, loss: str) -> float:
    if out.shape[1] == 1:
        threshold = 0.0 if loss == "bce_logits" else 0.5
        return float(((out[:, 0] > threshold).astype(np.int64) == Y.reshape(-1).astype(np.int64)).mean())
    return float((out.argmax(1) == Y).mean())


def r2(out: np.ndarray, Y: np.ndarray) -> float:
    out, Y = np.asarray(out, np.float64), np.asarray(Y, np.float64)
    total = ((Y - Y.mean(0)) ** 2).sum()
    return float(1 - ((out - Y) ** 2).sum() / total) if total > 0 else float("nan")


def evaluate(predict: Callable[[np.ndarray], np.ndarray], X: np.ndarray, y: np.ndarray, task: str,
             loss: str, split: str) -> dict[str, float]:
    """``{split}_loss`` and accuracy or R^2 of ``predict`` on one split; {} when outputs are not finite."""
    out = predict(X)
    if not np.isfinite(out).all():
        return {}
    Y = targets(y, task, loss)
    values = {f"{split}_loss": loss_value(loss, out, Y)}
    if task == "regression":
        values[f"{split}_r2"] = r2(out, Y)
    else:
        values[f"{split}_accuracy"] = accuracy(out, Y, loss)
    return values


def split_metrics(predict: Callable[[np.ndarray], np.ndarray], data: Any, loss: str) -> dict[str, float]:
    """Every split the data has: train, then val and test when present."""
    out: dict[str, float] = {}
    for split in ("train", "val", "test"):
        X = data.X if split == "train" else getattr(data, f"X_{split}")
        y = data.y if split == "train" else getattr(data, f"y_{split}")
        if X is not None and len(X):
            out.update(evaluate(predict, X, y, data.task, loss, split))
    return out
