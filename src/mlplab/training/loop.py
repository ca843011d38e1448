"""`train(model, data, spec) -> Run`: the one training loop every surface uses.

The step is the notebooks' ``train_model`` step (forward, loss, zero_grad, backward, optimizer step), so
the reference path reproduces the course bit for bit. Everything else is a callback. A hand-fused
path (`fused.py`) takes over for the small full-batch models where it is exact to 1e-5 and faster.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import SpecError
from ..specs import TrainSpec, validate
from .callbacks import Callback, DivergenceGuard, EpochMetrics, Progress, Recorder, StopTraining, default_progress
from .run import Run

LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "mse": lambda pred, y: F.mse_loss(pred, y),
    "mse_sum": lambda pred, y: F.mse_loss(pred, y, reduction="sum"),
    "bce": lambda prob, y: F.binary_cross_entropy(prob, y),
    "bce_logits": lambda logit, y: F.binary_cross_entropy_with_logits(logit, y),
    "ce": lambda logits, labels: F.cross_entropy(logits, labels),
}

# Which losses fit which task, and which output activation each loss expects from the model.
TASK_LOSSES = {"regression": ("mse", "mse_sum"), "binary": ("bce", "bce_logits", "mse"), "multiclass": ("ce",)}
LOSS_OUTPUT = {"bce": "sigmoid", "bce_logits": "none", "ce": "none"}


class Trainer:
    """The state of one training: tensors, optimizer, counters and the Run being filled."""

    def __init__(self, model: torch.nn.Module, data, spec: TrainSpec, callbacks: list[Callback], run: Run):
        self.model, self.data, self.spec, self.callbacks, self.run = model, data, spec, callbacks, run
        self.task = data.task
        self.X, self.Y = _tensors(data.X, data.y, data.task, spec.loss)
        self.X_val = self.Y_val = None
        if data.X_val is not None:
            self.X_val, self.Y_val = _tensors(data.X_val, data.y_val, data.task, spec.loss)
        self.out_dim = _out_dim(model, self.X)
        n = len(self.X)
        self.batch = n if spec.batch_size is None else min(spec.batch_size, n)
        self.batches_per_epoch = -(-n // self.batch)
        self.total_steps = spec.epochs * self.batches_per_epoch
        self.steps_done, self.epoch = 0, 0
        self.loss_fn = LOSSES[spec.loss]

    def predict(self, X: torch.Tensor) -> torch.Tensor:
        """Eval-mode outputs without touching batch-norm statistics or the autograd graph."""
        was_training = self.model.training
        self.model.eval()
        with torch.no_grad():
            out = self.model(X)
        self.model.train(was_training)
        return out

    def eval_loss(self, X: torch.Tensor, Y: torch.Tensor) -> float:
        return float(self.loss_fn(self.predict(X), Y))

    def accuracy(self, X: torch.Tensor, Y: torch.Tensor) -> float:
        return accuracy(self.predict(X), Y, self.spec.loss)


def accuracy(out: torch.Tensor, Y: torch.Tensor, loss: str) -> float:
    if out.shape[1] == 1:
        threshold = 0.0 if loss == "bce_logits" else 0.5
        labels = (out[:, 0] > threshold).long()
        truth = Y.reshape(-1).long()
    else:
        labels, truth = out.argmax(1), Y
    return float((labels == truth).double().mean())


def train(
    model: torch.nn.Module,
    data,
    spec: TrainSpec | dict[str, Any] | None = None,
    *,
    callbacks: list[Callback] | None = None,
    progress: bool | None = None,
    experiment: dict[str, Any] | None = None,
    **fields: Any,
) -> Run:
    """Train ``model`` on ``data`` as ``spec`` says and return the recorded `Run`.

    ``train(model, data, epochs=500, lr=0.01)`` works as well as passing a `TrainSpec`. Ctrl-C and
    a diverging loss end the run early with status "interrupted" / "diverged": nothing recorded
    before that is lost.
    """
    spec = _train_spec(spec, fields)
    check_compatible(model, data, spec)
    run = Run(spec=experiment or _spec_of(model, data, spec), model=model, data=data)
    if data.X_val is None and spec.val_fraction:
        data = data.split(spec.val_fraction, seed=spec.seed, into="val")
        run.data = data
    recorder = Recorder(spec.frames, spec.grid, spec.snapshots)
    cbs: list[Callback] = [recorder, DivergenceGuard()]
    if data.X_val is not None or spec.patience:
        cbs.append(EpochMetrics(spec.patience))
    if progress if progress is not None else default_progress():
        cbs.append(Progress(run.name))
    cbs += callbacks or []
    t = Trainer(model, data, spec, cbs, run)

    from .fused import fused_supported, fused_train

    use_fused = spec.fused is True or (spec.fused == "auto" and fused_supported(model, spec, t))
    if spec.fused is True and not fused_supported(model, spec, t):
        raise SpecError("train.fused", "a model and spec the fused path supports (full-batch Adam/SGD, MSE)", True,
                        "use fused='auto' to fall back to the reference loop")
    losses = torch.full((t.total_steps,), float("nan"))
    started = time.perf_counter()
    model.train()
    for cb in cbs:
        cb.on_train_start(t)
    try:
        with threads_for(model, t.batch):
            if use_fused:
                fused_train(t, losses)
            else:
                _reference_loop(t, losses)
        run.status = "finished"
    except StopTraining as stop:
        run.status, run.message = stop.status, stop.reason
    except KeyboardInterrupt:
        run.status = "interrupted"
        run.message = f"interrupted by the user after {t.steps_done} of {t.total_steps} steps; the steps done are kept"
    elapsed = time.perf_counter() - started
    run.losses = losses[: t.steps_done].numpy().copy()
    for cb in cbs:
        cb.on_train_end(t)
    model.eval()
    run.timings = {"train_s": elapsed, "steps_per_s": t.steps_done / elapsed if elapsed > 0 else 0.0}
    run.metrics = metrics(model, data, spec.loss) if run.status != "diverged" else {}
    run.engine = "fused" if use_fused else "reference"
    return run


def _reference_loop(t: Trainer, losses: torch.Tensor) -> None:
    """The notebooks' step, batch by batch. Full batch: one step per epoch, on the data as given."""
    model, spec, X, Y = t.model, t.spec, t.X, t.Y
    optimizer = t.optimizer = make_optimizer(model, spec)  # on the trainer so callbacks can steer it (lr)
    loss_fn, callbacks = t.loss_fn, t.callbacks
    gen = torch.Generator().manual_seed(spec.seed)
    full = t.batch == len(X)
    for epoch in range(spec.epochs):
        t.epoch = epoch
        order = None if full else torch.randperm(len(X), generator=gen)
        for b in range(t.batches_per_epoch):
            if full:
                xb, yb = X, Y
            else:
                idx = order[b * t.batch : (b + 1) * t.batch]
                xb, yb = X[idx], Y[idx]
            pred = model(xb)
            loss = loss_fn(pred, yb)
            optimizer.zero_grad()
            loss.backward()
            losses[t.steps_done] = loss.detach()
            for cb in callbacks:
                cb.on_step_end(t, t.steps_done, loss, pred)
            optimizer.step()
            t.steps_done += 1
        for cb in callbacks:
            cb.on_epoch_end(t, epoch)


# Below this many multiply-adds per step, a step is dispatch overhead, not arithmetic: one thread runs
# it as fast as two, and two threads slow down several-fold when another process keeps a core busy
# (measured: benchmarks/bench_training.py, DESIGN.md). Above it, the default thread count pays off.
SMALL_STEP = 8_000_000


@contextmanager
def threads_for(model: torch.nn.Module, batch: int):
    """One torch (and BLAS) thread while training a small model; the previous settings afterwards."""
    work = batch * sum(p.numel() for p in model.parameters())
    if work >= SMALL_STEP or torch.get_num_threads() == 1:
        yield
        return
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(before)


class ManualSGD:
    """Notebook 002's hand-written update, ``p -= lr * grad`` (plus an L2 term when weight_decay > 0)."""

    def __init__(self, params, lr: float, weight_decay: float = 0.0):
        self.params, self.lr, self.wd = list(params), lr, weight_decay

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        for p in self.params:
            if p.grad is not None:
                grad = p.grad + self.wd * p if self.wd else p.grad
                p.add_(-self.lr * grad)


def make_optimizer(model: torch.nn.Module, spec: TrainSpec):
    params = model.parameters()
    if spec.optimizer == "adam":
        return torch.optim.Adam(params, lr=spec.lr, weight_decay=spec.weight_decay)
    if spec.optimizer == "sgd":
        return torch.optim.SGD(params, lr=spec.lr, momentum=spec.momentum, weight_decay=spec.weight_decay)
    return ManualSGD(params, lr=spec.lr, weight_decay=spec.weight_decay)


def metrics(model: torch.nn.Module, data, loss: str) -> dict[str, float]:
    """Final metrics in eval mode: accuracy for classification, R^2 for regression, per split."""
    out: dict[str, float] = {}
    splits = [("train", data.X, data.y), ("val", data.X_val, data.y_val), ("test", data.X_test, data.y_test)]
    model.eval()
    for split, X, y in splits:
        if X is None or not len(X):
            continue
        Xt, Yt = _tensors(X, y, data.task, loss)
        with torch.no_grad():
            pred = model(Xt)
        if not torch.isfinite(pred).all():
            continue
        if data.task == "regression":
            resid = ((pred - Yt) ** 2).sum()
            total = ((Yt - Yt.mean(0)) ** 2).sum()
            out[f"{split}_r2"] = float(1 - resid / total) if total > 0 else float("nan")
        else:
            out[f"{split}_accuracy"] = accuracy(pred, Yt, loss)
        if split != "train":
            out[f"{split}_loss"] = float(LOSSES[loss](pred, Yt))
    return out


def check_compatible(model: torch.nn.Module, data, spec: TrainSpec) -> None:
    """Loss, task, shapes and output activation must agree; say which field to change if not."""
    allowed = TASK_LOSSES[data.task]
    if spec.loss not in allowed:
        raise SpecError("train.loss", f"one of {', '.join(allowed)} for a {data.task} task", spec.loss)
    mspec = getattr(model, "spec", None)
    if mspec is None:
        return
    if mspec.in_dim != data.d_in:
        raise SpecError("model.in_dim", f"{data.d_in} (the data has {data.d_in} input columns)", mspec.in_dim)
    if mspec.out_dim != data.d_out:
        raise SpecError("model.out_dim", f"{data.d_out} for this {data.task} data", mspec.out_dim)
    want = LOSS_OUTPUT.get(spec.loss)
    if want is not None and mspec.out_activation != want:
        raise SpecError(
            "model.out_activation", f"'{want}' with loss '{spec.loss}'", mspec.out_activation,
            "bce takes probabilities (sigmoid output); bce_logits and ce take raw outputs",
        )
    if mspec.norm == "batch" and spec.batch_size == 1:
        raise SpecError("train.batch_size", "at least 2 with batch norm", 1)


def _tensors(X: np.ndarray, y: np.ndarray, task: str, loss: str) -> tuple[torch.Tensor, torch.Tensor]:
    Xt = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
    if task == "regression":
        return Xt, torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32))
    if loss == "ce":
        return Xt, torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64))
    return Xt, torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32)).reshape(-1, 1)  # (n,) -> (n, 1)


def _out_dim(model: torch.nn.Module, X: torch.Tensor) -> int:
    spec = getattr(model, "spec", None)
    if spec is not None:
        return spec.out_dim
    with torch.no_grad():
        was = model.training
        model.eval()
        d = model(X[:2]).shape[1]
        model.train(was)
    return d


def _train_spec(spec: Any, fields: dict[str, Any]) -> TrainSpec:
    if spec is None:
        return validate(TrainSpec, fields, "train")
    if fields:
        base = spec.model_dump() if isinstance(spec, TrainSpec) else dict(spec)
        return validate(TrainSpec, {**base, **fields}, "train")
    return validate(TrainSpec, spec, "train")


def _spec_of(model: torch.nn.Module, data, spec: TrainSpec) -> dict[str, Any]:
    mspec = getattr(model, "spec", None)
    return {
        "name": data.name,
        "kind": "train",
        "data": {"name": data.name, **{k: v for k, v in data.params.items() if k in ("n", "noise", "seed")}},
        "model": mspec.model_dump() if mspec is not None else {},
        "train": spec.model_dump(),
    }
