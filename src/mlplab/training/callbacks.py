"""Callbacks: everything around the training loop that is not the step itself.

Recording, progress, divergence, validation and early stopping live here, so the loop stays a
handful of lines. Every hook has a no-op default (Lightning's habit); a callback asks the loop to
stop by raising `StopTraining` with the run's final status and the reason.
"""

from __future__ import annotations

import math
import sys
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:  # pragma: no cover
    from .loop import Trainer


class StopTraining(Exception):
    """Raised by a callback to end the run now; ``status`` and ``reason`` go into the Run."""

    def __init__(self, status: str, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


class Callback:
    def on_train_start(self, t: Trainer) -> None: ...
    def on_step_end(self, t: Trainer, step: int, loss: torch.Tensor, pred: torch.Tensor | None) -> None: ...
    def on_epoch_end(self, t: Trainer, epoch: int) -> None: ...
    def on_train_end(self, t: Trainer) -> None: ...


# Frames follow at most this many training rows (a seeded subset beyond it): a frame of 60000 images
# would cost a forward pass over the whole data set and megabytes of storage, every time. Inputs of
# more than 2 dimensions are never animated point by point, so they keep fewer rows.
FRAME_ROWS = 2048
FRAME_ROWS_HIGH_DIM = 512


def frame_rows(n: int, seed: int, d_in: int = 2) -> np.ndarray | None:
    """The rows that frames record: None for all of them, else a sorted seeded subset."""
    limit = FRAME_ROWS if d_in <= 2 else FRAME_ROWS_HIGH_DIM
    if n <= limit:
        return None
    return np.sort(np.random.default_rng(seed).choice(n, limit, replace=False))


def frame_schedule(total_steps: int, frames: int) -> np.ndarray:
    """Which steps to record: 0 (the untrained model) .. the last, about ``frames`` of them, evenly."""
    if frames <= 0 or total_steps < 0:
        return np.zeros(0, dtype=np.int64)
    k = min(frames, total_steps + 1)
    return np.unique(np.round(np.linspace(0, total_steps, k)).astype(np.int64))


class Recorder(Callback):
    """Predictions on the training inputs (and optionally a 2-D grid, and parameters) at scheduled steps.

    Storage is preallocated once. Step s means "the model before update s", steps 0 .. total-1. With
    full-batch training the step's own forward output is that prediction, so recording costs one copy
    (exactly what the notebooks' ``train_model`` records); with mini-batches it is an eval-mode forward.
    """

    def __init__(self, frames: int = 100, grid: int = 0, snapshots: bool = False):
        self.n_frames, self.grid_size, self.keep_snapshots = frames, grid, snapshots

    def on_train_start(self, t: Trainer) -> None:
        self.steps = frame_schedule(t.total_steps - 1, self.n_frames)
        self._slot = {int(s): i for i, s in enumerate(self.steps)}
        self.rows = frame_rows(t.X.shape[0], t.spec.seed, t.X.shape[1])
        self.X_rows = t.X if self.rows is None else t.X[torch.from_numpy(self.rows)]
        n, d_out = self.X_rows.shape[0], t.out_dim
        self.frames = torch.full((len(self.steps), n, d_out), float("nan"))
        self.filled = 0
        self.grid_points = self.grid_frames = None
        if self.grid_size and t.X.shape[1] in (1, 2):
            self.grid_axes, self.grid_points = _lattice(t.data, self.grid_size)
            g = len(self.grid_axes[0])
            shape = (len(self.steps),) + ((g,) * t.X.shape[1]) + (d_out,)
            self.grid_frames = torch.full(shape, float("nan"))
        self.snapshots = (
            {name: torch.full((len(self.steps),) + tuple(v.shape), float("nan")) for name, v in _state(t.model).items()}
            if self.keep_snapshots
            else {}
        )

    def wants(self, step: int) -> bool:
        return step in self._slot

    def record(self, t: Trainer, step: int, pred: torch.Tensor | None) -> None:
        i = self._slot[step]
        if pred is None or self.rows is not None or pred.shape[0] != self.frames.shape[1]:
            pred = t.predict(self.X_rows)
        self.frames[i] = pred.detach()
        if self.grid_points is not None:
            self.grid_frames[i] = t.predict(self.grid_points).reshape(self.grid_frames.shape[1:])
        if self.keep_snapshots:
            for name, value in _state(t.model).items():
                self.snapshots[name][i] = value.detach()
        self.filled = i + 1

    def on_step_end(self, t: Trainer, step: int, loss: torch.Tensor, pred: torch.Tensor | None) -> None:
        if step in self._slot:  # ``step`` counts updates done before this forward pass
            self.record(t, step, pred)

    def on_train_end(self, t: Trainer) -> None:
        k = self.filled
        run = t.run
        if not len(self.steps):
            return  # nothing was asked for: frames stay None
        run.frames, run.frame_steps = self.frames[:k].numpy(), self.steps[:k].copy()
        run.frame_rows = self.rows
        if self.grid_frames is not None:
            run.grid_frames, run.grid_axes = self.grid_frames[:k].numpy(), self.grid_axes
        run.snapshots = {name: v[:k].numpy() for name, v in self.snapshots.items()}


def _state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Parameters and float buffers (batch-norm running statistics) by name."""
    return {k: v for k, v in model.state_dict().items() if v.is_floating_point()}


def _lattice(data, size: int) -> tuple[tuple[np.ndarray, ...], torch.Tensor]:
    bounds = data.bounds(margin=0.1)
    axes = tuple(np.linspace(lo, hi, size, dtype=np.float32) for lo, hi in bounds)
    if len(axes) == 1:
        # 1-D: the data's own plotting grid when it has one (notebook 003's x_test), else an even lattice
        x = data.grid[:, 0] if data.grid is not None else axes[0]
        return (x, x), torch.from_numpy(np.ascontiguousarray(x[:, None]))  # (m, 1)
    xx, yy = np.meshgrid(axes[0], axes[1])  # rows follow y, columns follow x (as a heatmap draws them)
    points = np.stack([xx.ravel(), yy.ravel()], axis=1)  # (g*g, 2)
    return (axes[0], axes[1]), torch.from_numpy(np.ascontiguousarray(points))


class DivergenceGuard(Callback):
    """Stop at the first NaN or infinite loss; the steps before it stay recorded."""

    def on_step_end(self, t: Trainer, step: int, loss: torch.Tensor, pred: torch.Tensor | None) -> None:
        value = float(loss.detach()) if isinstance(loss, torch.Tensor) else float(loss)
        if not math.isfinite(value):
            raise StopTraining(
                "diverged",
                f"the training loss became {value} at step {step} (epoch {t.epoch}); the {step} steps before "
                f"it are kept. Try a smaller learning rate (train.lr={t.spec.lr}) or a normalised model.",
            )


class EpochMetrics(Callback):
    """Per-epoch training/validation loss and accuracy, in eval mode; optional early stopping."""

    def __init__(self, patience: int | None = None):
        self.patience = patience

    def on_train_start(self, t: Trainer) -> None:
        self.history: dict[str, list[float]] = {}
        self.best, self.best_epoch, self.best_state = math.inf, -1, None

    def on_epoch_end(self, t: Trainer, epoch: int) -> None:
        values = {"train_loss": t.eval_loss(t.X, t.Y)}
        if t.task != "regression":
            values["train_accuracy"] = t.accuracy(t.X, t.Y)
        if t.X_val is not None:
            values["val_loss"] = t.eval_loss(t.X_val, t.Y_val)
            if t.task != "regression":
                values["val_accuracy"] = t.accuracy(t.X_val, t.Y_val)
        for k, v in values.items():
            self.history.setdefault(k, []).append(v)
        watched = values.get("val_loss", values["train_loss"])
        if watched < self.best - 1e-12:
            self.best, self.best_epoch = watched, epoch
            if self.patience:
                self.best_state = {k: v.clone() for k, v in t.model.state_dict().items()}
        elif self.patience and epoch - self.best_epoch >= self.patience:
            raise StopTraining(
                "stopped early",
                f"validation loss has not improved for {self.patience} epochs (best {self.best:.6g} at epoch "
                f"{self.best_epoch + 1}); the weights of that epoch are restored",
            )

    def on_train_end(self, t: Trainer) -> None:
        if self.best_state is not None and t.run.status == "stopped early":
            t.model.load_state_dict(self.best_state)
        t.run.epoch_metrics = {k: np.asarray(v, dtype=np.float64) for k, v in self.history.items()}


class Progress(Callback):
    """A rich progress bar over steps, refreshed a few times a second; on by default in a terminal."""

    def __init__(self, description: str = "training"):
        self.description = description

    def on_train_start(self, t: Trainer) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn, TimeRemainingColumn

        self.bar = Bar(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"), TimeRemainingColumn(), transient=True,
        )
        self.bar.start()
        self.task = self.bar.add_task(self.description, total=t.total_steps, loss="-")
        self.every = max(1, t.total_steps // 200)

    def on_step_end(self, t: Trainer, step: int, loss: torch.Tensor, pred: torch.Tensor | None) -> None:
        if step % self.every == 0:
            self.bar.update(self.task, completed=step + 1, loss=f"{float(loss.detach() if isinstance(loss, torch.Tensor) else loss):.4g}")

    def on_train_end(self, t: Trainer) -> None:
        self.bar.stop()


def default_progress() -> bool:
    """Progress bars by default only where a person watches a terminal."""
    return sys.stderr.isatty() and "pytest" not in sys.modules
