"""Optimizers that reproduce torch.optim's update rules, and a trainer for the NumPy engine.

`train_scratch` returns the same `Run` as the torch trainer, so every view works on either. It is a
separate loop on purpose: this one is the from-scratch engine, with every step visible in NumPy.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from ..errors import SpecError
from ..specs import DataSpec, ModelSpec, TrainSpec, validate
from ..training.run import Run
from .mlp import MLP, BatchNorm, _all_layers

Array = np.ndarray


# ------------------------------------------------------------------------------------- optimizers


class SGD:
    """torch.optim.SGD (no dampening, no Nesterov): d = g + wd p; buf = m buf + d (buf = d at first);
    p -= lr * buf. Updates the flat parameter vector in place."""

    def __init__(self, lr: float, momentum: float = 0.0, weight_decay: float = 0.0):
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
        self.buf: Array | None = None

    def step(self, params: Array, grad: Array) -> None:
        d = grad + self.weight_decay * params if self.weight_decay else grad
        if self.momentum:
            if self.buf is None:
                self.buf = d.copy()
            else:
                self.buf *= self.momentum
                self.buf += d
            d = self.buf
        params -= self.lr * d


class ManualSGD:
    """Notebook 002's hand-written step ``p -= lr * grad`` (weight decay, if any, added to the gradient)."""

    def __init__(self, lr: float, weight_decay: float = 0.0):
        self.lr, self.weight_decay = lr, weight_decay

    def step(self, params: Array, grad: Array) -> None:
        params -= self.lr * (grad + self.weight_decay * params if self.weight_decay else grad)


class Adam:
    """torch.optim.Adam (amsgrad off), in torch's order of operations.

    wd is added to the gradient (L2, not AdamW's decoupled decay); m and v are exponential averages;
    the step is lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps) — eps is added *after* the
    bias correction of sqrt(v), which matters while v is tiny.
    """

    def __init__(self, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        self.lr, self.betas, self.eps, self.weight_decay = lr, betas, eps, weight_decay
        self.t = 0
        self.m: Array | None = None
        self.v: Array | None = None

    def step(self, params: Array, grad: Array) -> None:
        b1, b2 = self.betas
        if self.m is None:
            self.m, self.v = np.zeros_like(params), np.zeros_like(params)
        self.t += 1
        g = grad + self.weight_decay * params if self.weight_decay else grad
        self.m += (g - self.m) * (1.0 - b1)  # torch's lerp_: m + (1 - b1)(g - m)
        self.v *= b2
        self.v += (1.0 - b2) * g * g
        step_size = self.lr / (1.0 - b1**self.t)
        denom = np.sqrt(self.v) / math.sqrt(1.0 - b2**self.t) + self.eps
        params -= step_size * (self.m / denom)


def make_optimizer(train_spec: TrainSpec) -> SGD | ManualSGD | Adam:
    """The optimizer a TrainSpec names, with its learning rate, momentum and weight decay."""
    ts = train_spec
    if ts.optimizer == "adam":
        return Adam(ts.lr, weight_decay=ts.weight_decay)
    if ts.optimizer == "sgd":
        return SGD(ts.lr, ts.momentum, ts.weight_decay)
    if ts.optimizer == "manual_sgd":
        return ManualSGD(ts.lr, ts.weight_decay)
    raise SpecError("train.optimizer", "one of adam, sgd, manual_sgd", ts.optimizer)


# ---------------------------------------------------------------------------------------- trainer


def frame_steps(total_steps: int, frames: int) -> Array:
    """About ``frames`` step numbers from 0 (untrained) to ``total_steps`` (trained), evenly spread."""
    return np.unique(np.round(np.linspace(0, total_steps, min(frames, total_steps + 1))).astype(np.int64))


def train_scratch(spec_or_model: ModelSpec | dict | MLP | Any, data: Any, train_spec: TrainSpec | dict | None = None,
                  *, dtype: Any = np.float32, name: str = "scratch") -> Run:
    """Train with the NumPy engine and return a `Run` (losses per step, frames, metrics, a torch model).

    spec_or_model: a ModelSpec (initialised as ``build_model(spec, seed=train_spec.seed)``), a torch
    model (its weights are copied) or an engine `MLP` (copied). data: a Dataset, DataSpec or name.
    Full batch when ``batch_size`` is None, else mini-batches shuffled each epoch with
    ``numpy.random.default_rng(train_spec.seed)``. A non-finite loss stops the run ("diverged"); Ctrl-C
    stops it ("interrupted"); ``patience`` with a validation split stops it early ("stopped early").
    """
    # Overflow is how divergence starts; the loss check reports it as status "diverged", so NumPy's
    # own overflow warnings would only repeat it.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return _train_scratch(spec_or_model, data, train_spec, dtype, name)


def _train_scratch(spec_or_model: Any, data: Any, train_spec: Any, dtype: Any, name: str) -> Run:
    ts = validate(TrainSpec, train_spec if train_spec is not None else {}, "train")
    data = _dataset(data)
    net = _engine(spec_or_model, ts.seed, dtype)
    if ts.val_fraction and data.X_val is None:
        data = data.split(ts.val_fraction, seed=ts.seed, into="val")
    n = data.n
    batch = n if ts.batch_size is None else min(ts.batch_size, n)
    if any(isinstance(lay, BatchNorm) for lay in _all_layers(net.layers)) and (batch < 2 or n % batch == 1):
        raise SpecError("train.batch_size", "a size that leaves at least 2 rows in every batch (batch norm)",
                        ts.batch_size, hint=f"{n} training points")
    per_epoch = math.ceil(n / batch)
    total = ts.epochs * per_epoch
    record = set(frame_steps(total, ts.frames).tolist())
    grid_inputs, grid_axes = _grid(data, ts.grid)
    X, y = data.X.astype(net.dtype), data.y
    rng = np.random.default_rng(ts.seed)
    opt = make_optimizer(ts)

    losses: list[float] = []
    frames, steps_recorded, grid_frames, val_losses = [], [], [], []
    status, message = "finished", ""
    best, since_best = math.inf, 0

    def snapshot(step: int) -> None:
        frames.append(net.forward(X))
        steps_recorded.append(step)
        if grid_inputs is not None:
            g = grid_axes[0].size
            grid_frames.append(net.forward(grid_inputs).reshape(g, g, -1))  # (g*g, d_out) -> (g, g, d_out)

    start = time.perf_counter()
    step = 0
    try:
        for epoch in range(ts.epochs):
            order = np.arange(n) if batch == n else rng.permutation(n)
            for b in range(per_epoch):
                if step in record:
                    snapshot(step)
                idx = order[b * batch:(b + 1) * batch]
                xb, yb = (X, y) if batch == n else (X[idx], y[idx])
                loss, _ = net.loss_and_grads(xb, yb, ts.loss)
                losses.append(loss)
                if not math.isfinite(loss):
                    status, message = "diverged", f"loss became {loss} at step {step}; lower the learning rate"
                    raise StopIteration
                opt.step(net.flat, net.last_flat_grad)
                step += 1
            if data.X_val is not None:
                val_losses.append(net.loss_and_grads(data.X_val, data.y_val, ts.loss, train=False)[0])
                if ts.patience is not None:
                    best, since_best = (val_losses[-1], 0) if val_losses[-1] < best else (best, since_best + 1)
                    if since_best >= ts.patience:
                        status = "stopped early"
                        message = f"validation loss did not improve for {ts.patience} epochs (epoch {epoch + 1})"
                        raise StopIteration
    except StopIteration:
        pass
    except KeyboardInterrupt:
        status, message = "interrupted", f"interrupted at step {step}"
    if status != "diverged" and (not steps_recorded or steps_recorded[-1] != step):
        snapshot(step)
    elapsed = time.perf_counter() - start

    run = Run(spec={"name": name, "engine": "numpy", "dtype": str(net.dtype),
                    "model": net.spec.model_dump() if net.spec is not None else None, "train": ts.model_dump()})
    run.losses = np.asarray(losses, dtype=np.float32)
    run.frames = np.stack(frames).astype(np.float32) if frames else None
    run.frame_steps = np.asarray(steps_recorded, dtype=np.int64)
    if grid_frames:
        run.grid_frames, run.grid_axes = np.stack(grid_frames).astype(np.float32), grid_axes
    if val_losses:
        run.epoch_metrics["val_loss"] = np.asarray(val_losses, dtype=np.float32)
    run.status, run.message = status, message
    run.metrics = _metrics(net, data, ts.loss, losses)
    run.timings = {"train_s": elapsed, "step_ms": 1e3 * elapsed / max(len(losses), 1)}
    run.model = net.to_torch().eval() if net.spec is not None else None
    run.data = data
    return run


def accuracy(net: MLP, X: Array, y: Array, loss: str) -> float | None:
    """Share of correct labels; None for regression targets. Binary outputs are thresholded at 0.5
    for probabilities (loss "bce" or a sigmoid output) and at 0 for logits."""
    y = np.asarray(y)
    if y.ndim != 1 or y.dtype.kind not in "iu" or not len(y):
        return None
    out = net.forward(X)
    if out.shape[1] == 1:
        probs = loss == "bce" or (net.spec is not None and net.spec.out_activation == "sigmoid")
        pred = (out[:, 0] > (0.5 if probs else 0.0)).astype(np.int64)
    else:
        pred = out.argmax(axis=1)
    return float(np.mean(pred == y))


def _metrics(net: MLP, data: Any, loss: str, losses: list[float]) -> dict[str, float]:
    metrics: dict[str, float] = {}
    if losses:
        metrics["final_loss"] = float(losses[-1])
    if (acc := accuracy(net, data.X, data.y, loss)) is not None:
        metrics["train_accuracy"] = acc
    if data.X_test is not None and len(data.X_test):
        metrics["test_loss"] = net.loss_and_grads(data.X_test, data.y_test, loss, train=False)[0]
        if (acc := accuracy(net, data.X_test, data.y_test, loss)) is not None:
            metrics["test_accuracy"] = acc
    return metrics


def _grid(data: Any, size: int) -> tuple[Array | None, tuple[Array, Array] | None]:
    """A size x size lattice over the data's bounds (2-D inputs only): rows vary y, columns vary x."""
    if not size or data.d_in != 2:
        return None, None
    (x0, x1), (y0, y1) = data.bounds()
    gx, gy = np.linspace(x0, x1, size), np.linspace(y0, y1, size)
    xx, yy = np.meshgrid(gx, gy)  # (g, g) each, [i, j] at (gx[j], gy[i])
    return np.stack([xx.ravel(), yy.ravel()], axis=1), (gx.astype(np.float32), gy.astype(np.float32))


def _dataset(data: Any) -> Any:
    from ..data import Dataset, make_dataset

    if isinstance(data, Dataset):
        return data
    if isinstance(data, (str, DataSpec, dict)):
        return make_dataset(data)
    raise SpecError("data", "a Dataset, DataSpec or generator name", type(data).__name__)


def _engine(spec_or_model: Any, seed: int, dtype: Any) -> MLP:
    if isinstance(spec_or_model, MLP):
        net = spec_or_model.copy()
        return net if net.dtype == np.dtype(dtype) else MLP(net.layers, net.params, net.buffers, net.spec,
                                                            net.prefix, dtype)
    if isinstance(spec_or_model, (ModelSpec, dict)):
        return MLP.from_spec(spec_or_model, seed=seed, dtype=dtype)
    if hasattr(spec_or_model, "state_dict"):
        return MLP.from_torch(spec_or_model, dtype=dtype)
    raise SpecError("model", "a ModelSpec, a torch model or an engine MLP", type(spec_or_model).__name__)
