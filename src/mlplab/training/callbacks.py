"""Callbacks: what happens around the step that is not the step. The loop calls them; engines never do.

Every hook has a no-op default (Lightning's habit); a callback ends the run by raising `StopTraining`
with the run's final status and the reason. The documented hooks, the same on every engine:

- ``on_train_start(t)``: ``t`` is the `Trainer` (``t.spec``, ``t.model``, ``t.engine``, ``t.data``,
  ``t.total_steps``, ``t.steps_done``, ``t.epoch``, ``t.predict(X)``; set ``t.engine.lr`` to steer).
- ``on_step_end(t, step, loss, pred)``: after the step's forward and backward, before its update (so
  ``t.model`` holds the weights that produced ``loss``). ``loss`` is a NumPy float32 (``float(loss)``,
  ``loss.item()``) for one run, an array (R,) for stacked runs; ``pred`` the step's outputs (n, d_out)
  as a NumPy array with full batches, None with mini-batches.
- ``on_epoch_end(t, epoch)`` and ``on_train_end(t)``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

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
    def on_step_end(self, t: Trainer, step: int, loss: Any, pred: np.ndarray | None) -> None: ...
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
    """Which steps to record: 0 (the untrained model) .. ``total_steps`` (the trained one), about
    ``frames`` of them, evenly. Step s is the model after s updates."""
    if frames <= 0 or total_steps < 0:
        return np.zeros(0, dtype=np.int64)
    k = min(frames, total_steps + 1)
    return np.unique(np.round(np.linspace(0, total_steps, k)).astype(np.int64))


class Recorder(Callback):
    """Outputs on the training inputs (and optionally a 2-D or 1-D grid, and parameters) at scheduled steps.

    Storage is preallocated once. With full batches the step's own forward output is the frame, as the
    notebooks' ``train_model`` records it; with mini-batches (or a row subset) it is an evaluation-mode
    forward. The last frame is always the trained model in evaluation mode (whatever ended the run,
    unless it diverged). With stacked runs every array has a run axis after the frame axis.
    """

    def __init__(self, frames: int = 100, grid: int = 0, snapshots: bool = False):
        self.n_frames, self.grid_size, self.keep_snapshots = frames, grid, snapshots

    def on_train_start(self, t: Trainer) -> None:
        self.steps = frame_schedule(t.total_steps, self.n_frames)
        self._slot = {int(s): i for i, s in enumerate(self.steps)}
        self.recorded: list[int] = []  # frame slots filled, in order
        d_in = t.X.shape[-1]
        self.rows = frame_rows(t.X.shape[-2], t.spec.seed, d_in)
        self.X_rows = t.X if self.rows is None else t.X[..., self.rows, :]
        k = len(self.steps) + 1  # one spare slot: the final frame of a run that ended early
        self.frames = np.full((k,) + self.X_rows.shape[:-1] + (t.out_dim,), np.nan, np.float32)
        self.grid_points = self.grid_frames = None
        if self.grid_size and d_in in (1, 2) and len(self.steps):
            lattices = [_lattice(d, self.grid_size) for d in t.datasets]
            self.grid_axes = [lat[0] for lat in lattices]
            pts = [lat[1] for lat in lattices]
            self.grid_points = np.stack(pts) if t.stacked else pts[0]  # (G, d) or (R, G, d)
            self.grid_frames = np.full((k,) + self.grid_points.shape[:-1] + (t.out_dim,), np.nan, np.float32)
        self.snapshots: dict[str, np.ndarray] = {}
        if self.keep_snapshots and len(self.steps):
            self.snapshots = {name: np.full((k,) + v.shape, np.nan, np.float32) for name, v in t.engine.state_dict().items()}
        self.slot_steps = np.zeros(k, np.int64)

    def wants(self, step: int) -> bool:
        return step in self._slot

    def record(self, t: Trainer, step: int, pred: np.ndarray | None, slot: int | None = None,
               predict: Any = None) -> None:
        i = self._slot[step] if slot is None else slot
        predict = predict or t.predict
        if pred is None or self.rows is not None:
            pred = predict(self.X_rows)
        self.frames[i] = pred
        if self.grid_points is not None:
            self.grid_frames[i] = predict(self.grid_points)
        if self.snapshots:
            for name, value in t.engine.state_dict().items():
                self.snapshots[name][i] = value
        self.slot_steps[i] = step
        self.recorded.append(i)

    def on_step_end(self, t: Trainer, step: int, loss: Any, pred: np.ndarray | None) -> None:
        if step in self._slot:
            self.record(t, step, pred)

    def record_final(self, t: Trainer, predict: Any) -> None:
        """The trained model as the last frame (evaluation mode), at step ``t.steps_done``."""
        if not len(self.steps):
            return
        step = t.steps_done
        slot = self._slot.get(step, len(self.steps))
        if self.recorded and self.recorded[-1] == slot:
            self.recorded.pop()
        self.record(t, step, None, slot=slot, predict=predict)

    def arrays(self, r: int | None = None, before: int | None = None) -> dict[str, Any]:
        """What goes into a Run: frames (of run ``r`` when stacked), cut to steps < ``before`` when given."""
        slots = [i for i in self.recorded if before is None or self.slot_steps[i] < before]
        if not len(self.steps):
            return {}
        pick = (lambda a: a[slots]) if r is None else (lambda a: a[slots, r])
        out: dict[str, Any] = {"frames": pick(self.frames), "frame_steps": self.slot_steps[slots].copy(),
                               "frame_rows": self.rows}
        if self.grid_frames is not None:
            axes = self.grid_axes[r or 0]
            g = pick(self.grid_frames)
            if len(axes[0]) and self.grid_points.shape[-1] == 2:
                m = len(axes[0])
                g = g.reshape((len(slots), m, m, -1))  # (k, g*g, d_out) -> (k, g, g, d_out)
            out["grid_frames"], out["grid_axes"] = g, axes
        out["snapshots"] = {name: pick(v) for name, v in self.snapshots.items()}
        return out


def _lattice(data, size: int) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    bounds = data.bounds(margin=0.1)
    axes = tuple(np.linspace(lo, hi, size, dtype=np.float32) for lo, hi in bounds)
    if len(axes) == 1:
        # 1-D: the data's own plotting grid when it has one (notebook 003's x_test), else an even lattice
        x = data.grid[:, 0] if data.grid is not None else axes[0]
        x = np.asarray(x, np.float32)
        return (x, x), np.ascontiguousarray(x[:, None])  # (m, 1)
    xx, yy = np.meshgrid(axes[0], axes[1])  # rows follow y, columns follow x (as a heatmap draws them)
    return (axes[0], axes[1]), np.ascontiguousarray(np.stack([xx.ravel(), yy.ravel()], axis=1))  # (g*g, 2)


class EpochMetrics(Callback):
    """Per-epoch training/validation loss and accuracy, in evaluation mode; optional early stopping."""

    def __init__(self, patience: int | None = None, start: dict[str, Any] | None = None):
        self.patience, self.start = patience, start

    def on_train_start(self, t: Trainer) -> None:
        self.history: dict[str, list[float]] = {}
        self.best, self.best_epoch, self.best_state = math.inf, -1, None
        if self.start is not None:  # a resumed run: the best so far, counted in epochs before this call's first
            self.best, self.best_epoch = float(self.start["best"]), -1 - int(self.start["since"])
            weights = self.start.get("weights")
            self.best_state = {k: torch.from_numpy(np.array(v)) for k, v in weights.items()} if weights else None

    def record(self) -> dict[str, Any]:
        """What a resumed run needs to go on watching: the best value, epochs since it, its weights."""
        done = len(next(iter(self.history.values()), []))
        weights = {k: v.numpy().copy() for k, v in self.best_state.items()} if self.best_state is not None else None
        return {"best": self.best, "since": done - 1 - self.best_epoch, "weights": weights}

    def on_epoch_end(self, t: Trainer, epoch: int) -> None:
        values = t.evaluate(t.data.X, t.data.y, "train")
        if t.data.X_val is not None:
            values.update(t.evaluate(t.data.X_val, t.data.y_val, "val"))
        for k, v in values.items():
            self.history.setdefault(k, []).append(v)
        watched = values.get("val_loss", values.get("train_loss", math.nan))
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
        if self.best_state is not None and t.status == "stopped early":
            with torch.no_grad():
                for k, v in t.model.state_dict().items():
                    v.copy_(self.best_state[k])  # in place: engines that share the model's memory see it
        t.runs[0].epoch_metrics = {k: np.asarray(v, dtype=np.float64) for k, v in self.history.items()}


class Replay(Callback):
    """Live changes made while a run trained, applied again at the same steps: what lets a script retrain
    what the playground trained, bit for bit on the same engine.

    ``changes`` is a list of dicts, each with ``step`` (counted from the run's first step), ``phase`` and one
    change: ``{"lr": v}``, or ``{"weight": [layer, to, from], "value": v}`` (Linear layer ``layer`` in the
    model's order, the weight from unit ``from`` to unit ``to``). Phase ``"update"`` applies it after the
    step's forward and backward, before its update (a change made while the page trains); ``"before"``
    applies it before the step's forward (a change made while paused, at an epoch's end).
    """

    def __init__(self, changes: list[dict[str, Any]]):
        self.at: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for change in changes:
            self.at.setdefault((change.get("phase", "update"), int(change["step"])), []).append(change)

    def _apply(self, t: Trainer, phase: str, step: int) -> None:
        for change in self.at.get((phase, step), ()):
            if "lr" in change:
                t.engine.lr = float(change["lr"])
            if "weight" in change:
                layer, to, frm = change["weight"]
                linear = [m for m in t.model.modules() if isinstance(m, torch.nn.Linear)][layer]
                with torch.no_grad():  # in place: the engines' parameters share the model's memory
                    linear.weight[to, frm] = float(change["value"])

    def on_train_start(self, t: Trainer) -> None:
        self._apply(t, "before", t.steps_done)

    def on_step_end(self, t: Trainer, step: int, loss: Any, pred: np.ndarray | None) -> None:
        self._apply(t, "update", step)

    def on_epoch_end(self, t: Trainer, epoch: int) -> None:
        self._apply(t, "before", t.steps_done)
