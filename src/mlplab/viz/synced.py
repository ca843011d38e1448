"""The outputs and the linear regions through training, side by side under one slider.

Left: what the notebooks animate (predictions moving onto the targets, or the decision boundary);
right: the exact linear regions of the network at the same recorded step. Both come from the same
recorded frames and parameter snapshots, so the two panels always show the same model.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import SpecError
from .animate import ANIMATION_GRID, controls
from .figures import to_percent


def regions_and_outputs(run: Any, *, max_frames: int = 16, color: str = "pattern") -> Any:
    """One figure, two panels, one slider; needs a run with 2-D inputs, frames and snapshots."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from ..geometry import default_box, linear_regions, snapshot_models
    from .regions import region_traces, regions_title, stable_colours

    run = run.framed() if hasattr(run, "framed") else run
    data = run.data
    if data is None or data.d_in != 2 or not run.snapshots or run.frames is None:
        raise SpecError("run", "a run with 2-D inputs, recorded frames and parameter snapshots", run.name,
                        "train with snapshots=True")
    box = default_box(run)
    count = len(run.frame_steps)
    keep = np.unique(np.linspace(0, count - 1, min(max_frames, count)).round().astype(int))
    wanted = set(keep.tolist())
    # snapshot_models reuses one model, loading each snapshot in turn: take the regions as it goes
    shots = [(step, linear_regions(model, box)) for i, (step, model) in enumerate(snapshot_models(run)) if i in wanted]
    binary = data.task == "binary"
    mapping = data.task == "regression" and data.y.shape[1] == 2
    left = ("decision boundary (p(class 1))" if binary else
            "outputs: predictions (blue) and targets (red)" if mapping else "inputs, coloured by the prediction")
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.08, subplot_titles=(left, "linear regions"))
    left_static, left_dynamic = _left_traces(run, 0)
    for tr in left_dynamic + left_static:  # the changing trace first, under the data points
        fig.add_trace(tr, row=1, col=1)
    n_left = len(left_static) + len(left_dynamic)
    dynamic_idx = list(range(len(left_dynamic)))
    frames = []
    palettes = stable_colours([r for _, r in shots]) if color == "pattern" else [None] * len(shots)
    for j, (i, (step, regions)) in enumerate(zip(keep, shots)):
        # frames swap the regions only; the data points (the traces after them) never move
        right = region_traces(regions, None, color=color, show_boundary=binary, hover="pattern", colours=palettes[j])
        if j == 0:
            for tr in region_traces(regions, data, color=color, show_boundary=binary, hover="pattern",
                                    colours=palettes[j]):
                fig.add_trace(tr, row=1, col=2)
            right_idx = list(range(n_left, n_left + len(right)))
        for tr in right:
            tr.update(xaxis="x2", yaxis="y2")
            _compact(tr)
        _, dyn = _left_traces(run, int(i), frame=True)
        frames.append(go.Frame(data=dyn + right, traces=dynamic_idx + right_idx, name=str(step),
                               layout=dict(title=f"step {step}: {regions_title(regions)}")))
    fig.frames = frames
    (x0, x1), (y0, y1) = box
    fig.update_xaxes(range=[x0, x1], row=1, col=2)
    fig.update_yaxes(range=[y0, y1], row=1, col=2)
    _fix_left_axes(fig, run, keep)
    fig.update_layout(title=frames[0].layout.title.text, template="plotly_white", height=560, showlegend=False,
                      margin=dict(t=90))
    controls(fig, [f.name for f in frames], 250, redraw=True, prefix="step ")
    return fig


def _compact(trace: Any) -> None:
    """Polygon outlines as float32 arrays (NaN separates polygons, as None does): ~5x smaller JSON."""
    for axis in ("x", "y"):
        values = getattr(trace, axis)
        if values is not None and len(values) and not isinstance(values, np.ndarray):
            trace[axis] = np.array([np.nan if v is None else v for v in values], dtype=np.float32)


def _left_traces(run: Any, i: int, frame: bool = False) -> tuple[list, list]:
    """(static, dynamic) traces of the output panel at recorded frame ``i``; ``frame``: only what changes."""
    import plotly.graph_objects as go

    data = run.data
    if data.task == "binary" and run.grid_frames is not None:
        k = -(-len(run.grid_axes[0]) // ANIMATION_GRID)  # every k-th grid line, as the headline animation
        gx, gy = (np.asarray(a)[::k] for a in run.grid_axes)
        z = np.asarray(run.grid_frames[i][::k, ::k, 0], dtype=np.float32)
        if run.spec.get("model", {}).get("out_activation") != "sigmoid":
            z = 1 / (1 + np.exp(-z))
        z = to_percent(z)  # whole percent in one byte each: a quarter of float32's size, invisible in colour
        static = [go.Scatter(x=data.X[data.y == c, 0], y=data.X[data.y == c, 1], mode="markers",
                             marker=dict(size=5, color=col, line=dict(width=0.5, color="white")))
                  for c, col in ((0, "#d62728"), (1, "#1f77b4"))]
        if frame:  # frames carry only what changes: the probabilities
            return static, [go.Heatmap(z=z)]
        return static, [go.Heatmap(x=gx, y=gy, z=z, colorscale="RdBu", zmin=0, zmax=100, showscale=False, zsmooth="best",
                                   hovertemplate="(%{x:.3g}, %{y:.3g})<br>p(class 1) %{z}%<extra></extra>")]
    pred = np.asarray(run.frames[i], dtype=np.float32)
    static = []
    if data.task == "regression" and data.y.shape[1] == 2:
        static.append(go.Scatter(x=data.y[:, 0], y=data.y[:, 1], mode="markers", name="targets",
                                 marker=dict(size=4, color="rgba(214,39,40,0.5)")))
        if frame:
            return static, [go.Scatter(x=pred[:, 0], y=pred[:, 1])]
        return static, [go.Scatter(x=pred[:, 0], y=pred[:, 1], mode="markers", name="predictions",
                                   marker=dict(size=4, color="#1f77b4"))]
    return static, [go.Scatter(x=data.X[:, 0], y=data.X[:, 1], mode="markers",
                               marker=dict(size=5, color=pred[:, 0], colorscale="Viridis"))]


def _fix_left_axes(fig: Any, run: Any, keep: np.ndarray) -> None:
    """Fixed axes for the output panel, covering every shown frame (as the notebooks' animation should)."""
    data = run.data
    if data.task == "regression" and data.y.shape[1] == 2:
        pts = np.concatenate([data.y] + [run.frames[i] for i in keep])
        lo, hi = pts.min(0), pts.max(0)
        pad = 0.05 * (hi - lo)
        fig.update_xaxes(range=[lo[0] - pad[0], hi[0] + pad[0]], row=1, col=1)
        fig.update_yaxes(range=[lo[1] - pad[1], hi[1] + pad[1]], row=1, col=1)
