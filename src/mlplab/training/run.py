"""`Run`: everything one training (or sampling) produced, and its save/load round trip.

Saved layout (the contract of ``mlplab run``): ``run.json`` (spec, final loss, metrics, timings,
versions, status), ``trajectory.npz`` (losses, frames, their steps, grid frames, snapshots, extras)
and ``model.pt`` (the trained weights).
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import DataFileError
from .state import STATE_FILE, TrainingState

SCHEMA = 1
# How a Run draws itself in a notebook; set by `mlplab` (the view layer), never imported from here.
HTML_VIEW: Callable[[Run], str] | None = None


@dataclass(eq=False)
class Run:
    """The record of one experiment.

    losses: (steps,) training loss, one per optimizer step.
    frames: (k, n, d_out) model outputs on the training inputs at ``frame_steps`` (k,) — step s
        means "before the s-th update", so step 0 is the untrained model.
    grid_frames: (k, g, g, d_out) outputs on the lattice ``grid_axes`` (2-D inputs), or None.
    snapshots: name -> (k, *shape) parameters at the recorded steps, or empty.
    extras: named arrays that a kind of experiment adds (prior samples, activation curves, ...).
    epoch_metrics: name -> (epochs,) per-epoch values (validation loss, accuracies), when measured.
    status: "finished", "interrupted" (Ctrl-C), "diverged" (NaN/inf loss) or "stopped early".
    """

    spec: dict[str, Any]
    losses: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    frames: np.ndarray | None = None
    frame_steps: np.ndarray | None = None
    frame_rows: np.ndarray | None = None  # which training rows frames follow; None: all of them
    grid_frames: np.ndarray | None = None
    grid_axes: tuple[np.ndarray, np.ndarray] | None = None
    snapshots: dict[str, np.ndarray] = field(default_factory=dict)
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    epoch_metrics: dict[str, np.ndarray] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    status: str = "finished"
    message: str = ""
    engine: str = "torch"  # which engine trained it: "torch", "fused", "numpy", "stacked"
    model: Any = None  # the trained torch module (not serialised here; see model.pt)
    data: Any = None  # the Dataset it was trained on
    # Where the training stopped, beyond the weights (`TrainingState`): what `resume` continues from.
    training_state: TrainingState | None = field(default=None, repr=False)
    # The parts of the trajectory: each call of `train`/`resume` adds one (steps, engine, status, and the
    # full training settings for the first, the settings that changed for the others).
    segments: list[dict[str, Any]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.spec.get("name", "run"))

    @property
    def final_loss(self) -> float | None:
        return float(self.losses[-1]) if len(self.losses) else None

    @property
    def steps(self) -> int:
        return len(self.losses)

    def resume(self, epochs: int, *, callbacks: list[Any] | None = None, **fields: Any) -> Run:
        """Train this run ``epochs`` more epochs from where it stopped (optimizer state, step counter, batch
        order) and return the continued Run, whose trajectory holds both parts: ``run.resume(500)`` after
        500 epochs equals 1000 epochs in one call, loss for loss, also for a run read back by `load_run`
        in another process. ``fields`` change what may change mid-trajectory (lr, momentum, weight_decay,
        l1, batch_size, ...; see `CONTINUABLE`); ``segments`` records each part."""
        from .loop import train

        return train(None, None, None, resume=self, callbacks=callbacks, **{**fields, "epochs": epochs})

    def predict(self, X: Any) -> np.ndarray:
        """Labels (classification) or values (regression) of the trained model for the rows of ``X``."""
        from .predict import predict

        return predict(self, X)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, one column per class (binary: [P(0), P(1)]); classification runs only."""
        from .predict import predict_proba

        return predict_proba(self, X)

    def score(self, X: Any, y: Any) -> float:
        """Accuracy (classification) or R^2 (regression) of the trained model on ``X``, ``y``."""
        from .predict import score

        return score(self, X, y)

    def framed(self) -> Run:
        """This run with ``data`` cut to the rows its frames follow (itself when frames cover every row)."""
        if self.frame_rows is None or self.data is None:
            return self
        from dataclasses import replace

        from ..data.dataset import _replace

        rows = self.frame_rows
        return replace(self, data=_replace(self.data, X=self.data.X[rows], y=self.data.y[rows]), frame_rows=None)

    def summary(self) -> dict[str, Any]:
        """What ``run.json`` holds."""
        return {
            "schema": SCHEMA,
            "name": self.name,
            "spec": self.spec,
            "status": self.status,
            "message": self.message,
            "engine": self.engine,
            "steps": self.steps,
            "segments": self.segments,
            "resumable": self.training_state is not None,
            "final_loss": _plain(self.final_loss),  # None when it is not finite: ``status`` says why
            "metrics": {k: _plain(v) for k, v in self.metrics.items()},
            "timings": {k: round(float(v), 6) for k, v in self.timings.items()},
            "versions": versions(),
            "data": _data_info(self.data),
        }

    def save(self, directory: str | os.PathLike) -> Path:
        """Write run.json, trajectory.npz (and model.pt when there is a model); atomic per file."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {"losses": self.losses}
        if self.frames is not None:
            arrays["frames"], arrays["frame_steps"] = self.frames, self.frame_steps
            if self.frame_rows is not None:
                arrays["frame_rows"] = self.frame_rows
        if self.grid_frames is not None:
            arrays["grid_frames"] = _stored_grid(self.grid_frames)
            arrays["grid_x"], arrays["grid_y"] = self.grid_axes
        arrays.update({f"snapshot/{k}": v for k, v in self.snapshots.items()})
        arrays.update({f"extra/{k}": v for k, v in self.extras.items()})
        arrays.update({f"epoch/{k}": v for k, v in self.epoch_metrics.items()})
        if self.data is not None:
            arrays["data/X"], arrays["data/y"] = self.data.X, self.data.y
            for split in ("test", "val"):
                if getattr(self.data, "X_" + split) is not None:
                    arrays[f"data/X_{split}"] = getattr(self.data, "X_" + split)
                    arrays[f"data/y_{split}"] = getattr(self.data, "y_" + split)
        # uncompressed: compression saved a tenth of the disk and tripled the time a sweep spends saving
        _atomic(out / "trajectory.npz", lambda f: np.savez(f, **arrays))
        if self.model is not None:
            import torch

            _atomic(out / "model.pt", lambda f: torch.save(self.model.state_dict(), f))
        if self.training_state is not None and self.model is not None:
            self.training_state.save(out, write=_atomic)
        else:  # a state left from an earlier save would belong to other weights
            (out / STATE_FILE).unlink(missing_ok=True)
        text = json.dumps(_plain(self.summary()), indent=2, default=_plain, allow_nan=False)  # strict JSON: no NaN
        _atomic(out / "run.json", lambda f: f.write(text.encode()))
        return out

    def _repr_html_(self) -> str:
        """Shown by notebooks: the view layer registers the figure (`HTML_VIEW`); training draws nothing."""
        if HTML_VIEW is not None:
            return HTML_VIEW(self)
        loss = f"{self.final_loss:.6g}" if self.final_loss is not None else "-"
        return f"<p><b>{self.name}</b>: {self.status}, {self.steps} steps, final loss {loss}</p>"

    def __repr__(self) -> str:
        loss = f"{self.final_loss:.6g}" if self.final_loss is not None else "-"
        return f"Run({self.name!r}, {self.status}, steps={self.steps}, final_loss={loss}, metrics={self.metrics})"


def load_run(directory: str | os.PathLike, *, with_model: bool = True) -> Run:
    """Read a run written by `Run.save`. A missing or damaged file raises `DataFileError`."""
    d = Path(directory)
    meta_path, npz_path = d / "run.json", d / "trajectory.npz"
    for p in (meta_path, npz_path):
        if not p.exists():
            raise DataFileError(p, "not found", "is this a directory written by `mlplab run`?")
    try:
        meta = json.loads(meta_path.read_text())
        with np.load(npz_path) as z:
            arrays = {k: z[k] for k in z.files}
    except (ValueError, OSError, KeyError) as exc:
        raise DataFileError(d, f"cannot be read ({exc})") from None
    run = Run(spec=meta["spec"], losses=arrays["losses"], status=meta.get("status", "finished"))
    run.message, run.metrics, run.timings = meta.get("message", ""), meta.get("metrics", {}), meta.get("timings", {})
    run.engine = meta.get("engine", "torch")
    run.segments = list(meta.get("segments") or [])
    run.frames, run.frame_steps = arrays.get("frames"), arrays.get("frame_steps")
    run.frame_rows = arrays.get("frame_rows")
    if "grid_frames" in arrays:
        run.grid_frames = arrays["grid_frames"].astype(np.float32, copy=False)
        run.grid_axes = (arrays["grid_x"], arrays["grid_y"])
    for prefix, target in (("snapshot/", run.snapshots), ("extra/", run.extras), ("epoch/", run.epoch_metrics)):
        target.update({k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)})
    if "data/X" in arrays:
        from ..data import Dataset

        info = meta.get("data") or {}
        y = arrays["data/y"]
        task = info.get("task") or ("regression" if y.dtype.kind == "f" else "binary" if y.max() <= 1 else "multiclass")
        shape = info.get("image_shape")
        run.data = Dataset(
            X=arrays["data/X"], y=y, task=task, name=info.get("name", "saved"), params=info.get("params", {}),
            n_classes=info.get("n_classes"), class_names=info.get("class_names"),
            image_shape=tuple(shape) if shape else None,
            X_test=arrays.get("data/X_test"), y_test=arrays.get("data/y_test"),
            X_val=arrays.get("data/X_val"), y_val=arrays.get("data/y_val"),
        )
    if with_model and (d / "model.pt").exists() and "model" in meta["spec"]:
        import torch

        from ..models import build_model

        model = build_model(meta["spec"]["model"])
        model.load_state_dict(torch.load(d / "model.pt", weights_only=True))
        run.model = model.eval()
        run.training_state = TrainingState.load(d)
    return run


# A 2-D map of outputs is drawn, never computed on: half precision (3 significant digits, far below a
# colour step) halves the largest file of a saved run. 1-D curves (the spectrum reads them) stay float32.
GRID_MAP_DTYPE = np.float16


def _stored_grid(grid_frames: np.ndarray) -> np.ndarray:
    if grid_frames.ndim == 4 and np.isfinite(grid_frames).all() and np.abs(grid_frames).max() < 6e4:
        return grid_frames.astype(GRID_MAP_DTYPE)
    return grid_frames


def _data_info(data: Any) -> dict[str, Any] | None:
    """What a saved run needs to rebuild its Dataset's description without regenerating the data."""
    if data is None:
        return None
    params = {k: v for k, v in data.params.items() if isinstance(v, (str, int, float, bool)) or v is None}
    return {
        "name": data.name, "task": data.task, "n_classes": data.n_classes, "class_names": data.class_names,
        "image_shape": list(data.image_shape) if data.image_shape else None, "params": params,
    }


def versions() -> dict[str, str]:
    import torch

    from .. import __version__

    return {"mlplab": __version__, "torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version()}


def _atomic(path: Path, write) -> None:
    """Write to a temporary file beside ``path`` and rename: readers see the old file or the new."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, 0o644)  # mkstemp makes owner-only files; a run is for sharing
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _plain(v: Any) -> Any:
    """JSON-ready: NumPy values become Python ones, and NaN or infinity becomes None (JSON has neither)."""
    if isinstance(v, (np.generic, np.ndarray)):
        v = v.tolist()
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, float) and not np.isfinite(v):
        return None
    return v


# Ctrl-C stopped a run: `mlplab.run` and `mlplab.sweep` raise a KeyboardInterrupt so that a script stops
# too, carrying what was recorded (``.run``, status "interrupted"; a sweep's rows in ``.frame``). It is
# KeyboardInterrupt itself, not a subclass: CPython ends a script with exit code 130 (killed by SIGINT,
# as any Ctrl-C) only when the uncaught exception's type is exactly KeyboardInterrupt.
Interrupted = KeyboardInterrupt


def interrupted(run: Run | None = None, message: str = "", frame: Any = None) -> KeyboardInterrupt:
    """The `Interrupted` exception for ``run`` (or a sweep's ``frame``), with a message saying what is kept."""
    stop = KeyboardInterrupt(message or (run.message if run is not None else "interrupted"))
    stop.run, stop.frame = run, frame
    return stop
