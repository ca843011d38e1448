"""Linear regions through training: the models of a run's parameter snapshots, their box, their counts."""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from ..errors import SpecError
from .regions import TOL, linear_regions


def snapshot_models(run) -> Iterator[tuple[int, Any]]:
    """(step, model) for every recorded snapshot of ``run``, rebuilt from ``run.spec['model']``."""
    import torch

    from ..models import build_model

    if not run.snapshots:
        raise SpecError("run.snapshots", "recorded parameters", "none", hint="train with TrainSpec(snapshots=True)")
    spec = run.spec.get("model") if isinstance(run.spec, dict) else None
    if spec is None:
        raise SpecError("run.spec['model']", "the model spec of the run", run.spec)
    model = build_model(spec).double().eval()
    wanted = dict(model.state_dict())
    missing = [k for k, v in model.named_parameters() if k not in run.snapshots]
    if missing:
        raise SpecError("run.snapshots", f"every parameter of the model ({', '.join(missing[:3])} missing)", sorted(run.snapshots)[:6])
    k = len(next(iter(run.snapshots.values())))
    steps = run.frame_steps if run.frame_steps is not None and len(run.frame_steps) == k else np.arange(k)
    for i in range(k):
        state = {name: torch.as_tensor(np.asarray(arr[i])).to(wanted[name].dtype) for name, arr in run.snapshots.items() if name in wanted}
        model.load_state_dict(state, strict=False)
        yield int(steps[i]), model


def default_box(run) -> tuple[tuple[float, float], tuple[float, float]]:
    """The run's grid extent, else its data's extent plus 10%, else [-1, 1]^2."""
    if getattr(run, "grid_axes", None) is not None:
        gx, gy = run.grid_axes
        return (float(np.min(gx)), float(np.max(gx))), (float(np.min(gy)), float(np.max(gy)))
    data = getattr(run, "data", None)
    if data is not None and np.asarray(data.X).shape[1:] == (2,):
        lo, hi = np.asarray(data.X, np.float64).min(0), np.asarray(data.X, np.float64).max(0)
        pad = 0.1 * (hi - lo)
        return (lo[0] - pad[0], hi[0] + pad[0]), (lo[1] - pad[1], hi[1] + pad[1])
    return (-1.0, 1.0), (-1.0, 1.0)


def default_interval(run) -> tuple[float, float]:
    """A 1-input run's interval: its grid's extent, else its data's extent plus 10%, else [-1, 1]."""
    data = getattr(run, "data", None)
    grid = getattr(run, "grid_frames", None)
    if grid is not None and np.ndim(grid) == 3 and getattr(run, "grid_axes", None) is not None:
        g = np.asarray(run.grid_axes[0], np.float64)  # (k, m, d_out) frames on a 1-D grid
        return float(g.min()), float(g.max())
    if data is not None and np.asarray(data.X).shape[1:] == (1,):
        lo, hi = float(np.min(data.X)), float(np.max(data.X))
        pad = 0.1 * (hi - lo) if hi > lo else 1.0
        return lo - pad, hi + pad
    return -1.0, 1.0


def regions_over_training(run, box=None, *, tol: float = TOL) -> list[int]:
    """Region count in ``box`` (default `default_box`) at every recorded snapshot of ``run``."""
    box = default_box(run) if box is None else box
    return [len(linear_regions(model, box, tol=tol)) for _, model in snapshot_models(run)]
