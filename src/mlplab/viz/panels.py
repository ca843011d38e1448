"""The secondary figures of a report, chosen from what a run holds (the headline is `figure_for_run`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import MlplabError, SpecError
from . import figures as F
from . import images as I


def extra_figures(run: Any) -> list[tuple[str, Any]]:
    """(caption, figure) pairs: comparisons, image diagnostics, linear regions — whichever apply."""
    spec = run.spec if isinstance(run.spec, dict) else {}
    if spec.get("kind") == "compare":  # one maker per study (mlplab.compare)
        from .studies import study_figures

        return study_figures(run)
    out: list[tuple[str, Any]] = []
    data = run.data
    if data is not None and getattr(data, "image_shape", None) and run.model is not None:
        out += image_figures(run)
    if data is not None and data.d_in in (1, 2) and run.model is not None:
        out += region_figures(run)
    if data is not None:  # landscape, spectrum, layer health, sharpness: which preset shows which, in viz/analysis.py
        from .analysis import course_panels

        out += course_panels(run)
    return out


def comparison_figures(run: Any) -> list[tuple[str, Any]]:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    labels = [k[len("loss/"):] for k in run.extras if k.startswith("loss/")]
    stops = sklearn_stops(run)
    curves = go.Figure()
    for label in labels:
        y = run.extras[f"loss/{label}"]
        name = label + (f" (stopped at {stops[label][0]} of {stops[label][1]} iterations)" if label in stops else "")
        curves.add_trace(go.Scatter(x=np.arange(len(y)), y=y, mode="lines", name=name,
                                    hovertemplate="step %{x}: %{y:.6g}<extra>" + label + "</extra>"))
    curves.update_layout(title="Training loss of each path", xaxis_title="step (scikit-learn: epoch)",
                         height=420, template="plotly_white")
    curves.update_yaxes(title_text="loss", **F.log_axis(*(run.extras[f"loss/{label}"] for label in labels)))
    cols = min(3, max(1, len(labels)))
    rows = -(-len(labels) // cols)
    grid = make_subplots(rows=rows, cols=cols, subplot_titles=labels, horizontal_spacing=0.05, vertical_spacing=0.12)
    gx, gy = run.extras["grid_x"], run.extras["grid_y"]
    for i, label in enumerate(labels):
        r, c = i // cols + 1, i % cols + 1
        grid.add_trace(go.Heatmap(x=F.compact(gx), y=F.compact(gy), z=F.to_percent(run.extras[f"proba/{label}"]),
                                  colorscale="RdBu", zmin=0, zmax=100, showscale=i == 0, zsmooth="best",
                                  colorbar=dict(title=dict(text="p(class 1)"), tickvals=[0, 50, 100], ticktext=["0", "0.5", "1"]),
                                  hovertemplate="(%{x:.3g}, %{y:.3g})<br>p(class 1) %{z}%<extra></extra>"), row=r, col=c)
        for cls, colour in ((0, "#d62728"), (1, "#1f77b4")):
            pts = run.data.X[run.data.y == cls]
            grid.add_trace(go.Scatter(x=pts[:, 0], y=pts[:, 1], mode="markers", showlegend=False,
                                      marker=dict(size=5, color=colour, line=dict(width=0.5, color="white"))), row=r, col=c)
    grid.update_layout(title="Decision boundaries, side by side (p(class 1))", height=360 * rows, template="plotly_white")
    why = "".join(f" {label} stopped after {done} of max_iter={most} iterations: its training loss improved by less "
                  f"than tol={tol:g} for n_iter_no_change={patience} epochs in a row, scikit-learn's own stopping rule "
                  "(the mlplab runs here take every step they are given)."
                  for label, (done, most, tol, patience) in stops.items())
    return [("Loss curves of the three mlplab paths and scikit-learn." + why, curves),
            ("The probability each fitted model assigns on the same grid", grid)]


def sklearn_stops(run: Any) -> dict[str, tuple[int, int, float, int]]:
    """scikit-learn fits of a comparison that ended before max_iter: label -> (iterations, max_iter, tol,
    n_iter_no_change), read from the preset's settings (scikit-learn's defaults where it sets none)."""
    spec = run.spec if isinstance(run.spec, dict) else {}
    out = {}
    for i, settings in enumerate((spec.get("extras") or {}).get("sklearn") or []):
        label = "scikit-learn " + (settings.get("label") or f"#{i + 1}")  # as mlplab.compare names the curve
        loss = run.extras.get(f"loss/{label}")
        most = int(settings.get("max_iter", 200))
        if loss is not None and len(loss) < most:
            out[label] = (len(loss), most, float(settings.get("tol", 1e-4)), int(settings.get("n_iter_no_change", 10)))
    return out


def image_figures(run: Any) -> list[tuple[str, Any]]:
    import torch

    data = run.data
    X, y = (data.X_test, data.y_test) if data.X_test is not None else (data.X, data.y)
    with torch.no_grad():
        pred = run.model(torch.from_numpy(X)).argmax(1).numpy()
    names = data.class_names
    note = data.params.get("note", "")  # which data set the d2l presets found (the headline shows the images)
    scales = []
    spec = run.spec.get("model") if isinstance(run.spec, dict) else None
    if spec and run.spec.get("train", {}).get("loss") == "ce":
        from ..diagnostics import init_scales
        from .init_scales import init_scales_figure

        df = init_scales(spec, data.X[:1024], data.y[:1024], seed=run.spec.get("train", {}).get("seed", 0))
        scales = [("Notebook 004's variance argument, measured at step 0: each layer's output and gradient scale under "
                   "PyTorch's default, Xavier and N(0, 0.01^2) initialisation (ticks: the formula's prediction)",
                   init_scales_figure(df))]
    return scales + [
        (f"Confusion matrix on the test split. {note}", I.confusion_matrix(y, pred, names)),
        ("Accuracy per class on the test split", I.per_class_accuracy(y, pred, names)),
    ]


def region_figures(run: Any) -> list[tuple[str, Any]]:
    """The exact linear regions of the trained network, and their count through training against the bound
    (for a 1-input network: its exact linear pieces, drawn on the fitted curve)."""
    from ..geometry import default_box, linear_regions
    from .regions import region_count_figure, region_map, regions_phrase

    if run.data.d_in == 1:
        return _pieces_figures(run)
    try:
        regions = linear_regions(run.model, default_box(run))
    except (SpecError, MlplabError):
        return []  # not piecewise linear (tanh, sigmoid hidden units): no regions to draw
    binary = run.data.task == "binary"  # only a binary classifier has a decision boundary to draw
    what = "the black line is the decision boundary" if binary else (
        "the points are the training inputs, coloured by their target" if run.data.task == "regression" else
        "the points are the training data")
    out = [(f"The trained network has {regions_phrase(len(regions))} in this box (computed exactly); "
            f"neighbouring regions always differ in colour, {what}",
            region_map(regions, run.data, show_boundary=binary))]
    if run.snapshots and run.frames is not None:
        from .synced import regions_and_outputs

        out.append(("Training and the linear regions at the same steps, under one slider", regions_and_outputs(run)))
        out.append(("Number of linear regions through training, against the tightest upper bound known for this "
                    "architecture (published for plain ReLU nets; for residual and leaky ReLU nets mlplab's own, proved in "
                    "docs/architecture.md, Geometry)",
                    region_count_figure(run)))
    return out


def _pieces_figures(run: Any) -> list[tuple[str, Any]]:
    from .regions import pieces_count_figure, pieces_figure

    try:
        fig = pieces_figure(run)
    except (SpecError, MlplabError):
        return []  # not piecewise linear (tanh, sigmoid hidden units, polynomial features)
    out = [("The fitted curve piece by piece, computed exactly by walking the layers' activation patterns "
            "(mlplab.geometry.linear_pieces_1d): alternate pieces alternate colours, a black tick marks each breakpoint",
            fig)]
    if run.snapshots and run.frames is not None:
        out.append(("Number of linear pieces through training, against the bound for one input", pieces_count_figure(run)))
    return out
