"""Training animations from a recorded `Run`, and the headline figure of any run.

One animated trace, every other trace static, fixed axes, float32 data: the figure stays small and
plays smoothly. The kind of animation follows the data: a 2-D -> 2-D mapping, a 1-D curve, or a 2-D
decision boundary (with ``fit``, predictions against targets, for any other regression).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go

from ..errors import SpecError
from . import figures as F
from .images import images_grid

KINDS = ("mapping", "curve", "boundary", "fit")
ANIMATION_MS = 4000  # default total play time; each frame gets ANIMATION_MS / frames (at least MIN_FRAME_MS)
MIN_FRAME_MS = 20
# Recorders keep ~100 frames; 30 of them play smoothly (scatter frames tween) at 30% of the bytes in
# every report that holds the animation.
ANIMATION_FRAMES = 30
ANIMATION_GRID = 50  # cells a side of an animated probability map (zsmooth interpolates between them)


def animation_kind(run: Any) -> str:
    """Which animation suits ``run``: the spec's ``view`` when it names one, else chosen from the data."""
    view = run.spec.get("view") if isinstance(run.spec, dict) else None
    if view in KINDS:
        return view
    data = run.data
    if data is None:
        raise SpecError("run.data", "a run that carries its Dataset (train() and load_run() set it)", None)
    d_out = run.frames.shape[-1] if run.frames is not None else data.d_out
    if data.task == "regression":
        if data.d_in == 2 and d_out == 2:
            return "mapping"
        return "curve" if data.d_in == 1 else "fit"
    if data.d_in == 2:
        return "boundary"
    raise SpecError("run", "a run with 1-D or 2-D inputs, or a regression (animations draw the input space)",
                    f"a {data.task} run with {data.d_in} input columns", "use loss_curve(run) or images_grid(...)")


def frame_indices(k: int, frames: int) -> np.ndarray:
    """About ``frames`` evenly spaced indices into ``k`` recorded frames, always the first and the last."""
    if not isinstance(frames, int) or frames < 2:
        raise SpecError("frames", "an integer of at least 2", frames)
    return np.unique(np.round(np.linspace(0, k - 1, min(frames, k))).astype(np.int64))


def animate(run: Any, *, frames: int = ANIMATION_FRAMES, frame_duration: float | None = None) -> go.Figure:
    """The run's training as an animation: play/pause buttons, a slider, fixed axes over all frames.

    ``frames``: at most this many recorded frames are shown (evenly spaced, first and last kept).
    ``frame_duration``: milliseconds per frame; default spreads the animation over about 4 seconds.
    Works on runs read back with `load_run` (``run.model`` may be None; ``run.data`` is needed).
    """
    if run.frames is None or run.frame_steps is None or not len(run.frames):
        raise SpecError("run.frames", "a run with recorded frames (train with frames >= 2)", None)
    if hasattr(run, "framed"):
        run = run.framed()  # large data: the frames follow a subset of the rows
    idx = frame_indices(len(run.frames), frames)
    if frame_duration is None:
        frame_duration = max(MIN_FRAME_MS, round(ANIMATION_MS / len(idx)))
    elif not frame_duration > 0:
        raise SpecError("frame_duration", "a positive number of milliseconds", frame_duration)
    kind = animation_kind(run)
    build = {"mapping": _mapping, "curve": _curve, "boundary": _boundary, "fit": _fit}[kind]
    return build(run, idx, float(frame_duration))


# ---------------------------------------------------------------- the four kinds


def _mapping(run: Any, idx: np.ndarray, ms: float) -> go.Figure:
    """Notebooks 000/001: frame 0 is the inputs X, then the predictions as they move onto the targets."""
    data = run.data
    if data.d_in != 2 or run.frames.shape[-1] != 2 or data.task != "regression":
        raise SpecError("run", "a 2-D -> 2-D regression run for view='mapping'", repr(data))
    X, Y = F.compact(data.X), F.compact(data.y)
    shown = F.compact(run.frames[idx])  # (f, n, 2)
    labels = ["inputs X"] + [f"step {int(s)}" for s in run.frame_steps[idx]]
    clouds = [X] + list(shown)
    fig = F._figure(f"{run.name}: predictions moving onto the targets", width=640, height=680)
    fig.add_trace(go.Scatter(x=X[:, 0], y=X[:, 1], mode="markers", name="predictions",
                             marker=dict(color="#1f77b4", size=5, opacity=0.85)))
    fig.add_trace(go.Scatter(x=Y[:, 0], y=Y[:, 1], mode="markers", name="targets y",
                             marker=dict(color="#d62728", size=5, opacity=0.45)))
    fig.frames = [go.Frame(name=label, data=[go.Scatter(x=c[:, 0], y=c[:, 1])], traces=[0])
                  for label, c in zip(labels, clouds)]
    fig.update_xaxes(range=F.padded_range(X[:, 0], Y[:, 0], shown[..., 0]), autorange=False, title_text="feature 1")
    fig.update_yaxes(range=F.padded_range(X[:, 1], Y[:, 1], shown[..., 1]), autorange=False, title_text="feature 2")
    controls(fig, labels, ms, redraw=False)
    return fig


def curve_frames(run: Any, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x (m,) and the fitted curves (f, m) at frames ``idx`` of a 1-D run.

    From the recorded 1-D grid when there is one, else by rebuilding the model from its parameter
    snapshots on the data's grid, else the predictions on the training inputs, sorted by x.
    """
    gf = run.grid_frames
    if gf is not None and gf.ndim == 3:  # (k, m, d_out) on grid_axes[0]
        return np.asarray(run.grid_axes[0], np.float32), gf[idx, :, 0]
    model_spec = run.spec.get("model") if isinstance(run.spec, dict) else None
    if run.snapshots and model_spec:
        import torch

        from ..models import build_model

        x = F.curve_grid(run.data)
        model = build_model(model_spec)
        curves = []
        for i in idx:
            state = {k: torch.from_numpy(np.asarray(v[i])) for k, v in run.snapshots.items()}
            model.load_state_dict(state, strict=False)  # integer buffers (batch counts) are not snapshotted
            curves.append(F._predict(model, x[:, None])[:, 0])
        return x, np.stack(curves)
    order = np.argsort(run.data.X[:, 0], kind="stable")
    return run.data.X[order, 0], run.frames[idx][:, order, 0]


def _curve(run: Any, idx: np.ndarray, ms: float) -> go.Figure:
    """Notebook 003: the fitted curve over the data points, frame by frame."""
    data = run.data
    if data.d_in != 1:
        raise SpecError("run", "a run with 1-D inputs for view='curve'", f"{data.d_in} input columns")
    x, curves = curve_frames(run, idx)
    x, curves = F.compact(x), F.compact(curves)
    labels = [f"step {int(s)}" for s in run.frame_steps[idx]]
    fig = F._figure(f"{run.name}: the fitted curve during training", width=760, height=460)
    for t in F.data_traces_1d(data) if data.task == "regression" else []:
        fig.add_trace(t)
    line = len(fig.data)
    fig.add_trace(go.Scatter(x=x, y=curves[0], mode="lines", name="model", line=dict(color="#1f77b4", width=2.5)))
    fig.frames = [go.Frame(name=label, data=[go.Scatter(y=c)], traces=[line]) for label, c in zip(labels, curves)]
    # the data's y-range, as notebook 003 keeps it: a wild fit (degree 100) leaves the frame where it is
    # wild instead of flattening the data to a line
    ys = F.data_y_range(data) if data.task == "regression" else F.padded_range(curves)
    fig.update_xaxes(range=F.padded_range(x, data.X[:, 0], pad=0.02), autorange=False, title_text="x")
    fig.update_yaxes(range=ys, autorange=False, title_text="y")
    controls(fig, labels, ms, redraw=False)
    return fig


def _boundary(run: Any, idx: np.ndarray, ms: float) -> go.Figure:
    """Notebook 002 in motion: p(class 1) (or the argmax class) on the recorded grid, the data on top."""
    data = run.data
    if data.d_in != 2 or data.task == "regression":
        raise SpecError("run", "a classification run with 2-D inputs for view='boundary'", repr(data))
    model, train = run.spec.get("model", {}) or {}, run.spec.get("train", {}) or {}
    out_act, loss = model.get("out_activation"), train.get("loss")
    labels = [f"step {int(s)}" for s in run.frame_steps[idx]]
    if run.grid_frames is None or run.grid_frames.ndim != 4:
        return _points_boundary(run, idx, ms, labels, out_act, loss)
    # every k-th grid line: at most ANIMATION_GRID cells a side (smoothed when drawn), 1 byte a cell
    k = -(-len(run.grid_axes[0]) // ANIMATION_GRID)
    gx, gy = (np.asarray(a, np.float32)[::k] for a in run.grid_axes)
    probs = F.probabilities(run.grid_frames[idx][:, ::k, ::k], out_act, loss)  # (f, g, g, d_out)
    n_classes = data.n_classes or probs.shape[-1]
    fig = F._figure(f"{run.name}: decision boundary during training", width=680, height=600)
    fig.add_trace(F.boundary_trace(gx, gy, probs[0], n_classes, percent=True))
    for t in F.points_traces(data.X, data.y, data.class_names):
        fig.add_trace(t)
    frame_z = (lambda p: F.to_percent(p[..., 0])) if probs.shape[-1] == 1 else (lambda p: p.argmax(-1).astype(np.int8))
    fig.frames = [go.Frame(name=label, data=[go.Heatmap(z=frame_z(p))], traces=[0]) for label, p in zip(labels, probs)]
    fig.update_xaxes(range=[float(gx[0]), float(gx[-1])], autorange=False, title_text="x1", constrain="domain")
    fig.update_yaxes(range=[float(gy[0]), float(gy[-1])], autorange=False, title_text="x2", scaleanchor="x",
                     constrain="domain")
    controls(fig, labels, ms, redraw=True)
    return fig


def _points_boundary(run: Any, idx: np.ndarray, ms: float, labels: list[str], out_act: Any, loss: Any) -> go.Figure:
    """No grid recorded: colour each training point by its predicted p(class 1) / class, frame by frame."""
    data = run.data
    probs = F.probabilities(run.frames[idx], out_act, loss)  # (f, n, d_out)
    binary = probs.shape[-1] == 1
    colors = F.compact(probs[..., 0], 3) if binary else probs.argmax(-1).astype(np.int8)
    k = max(data.n_classes or 2, probs.shape[-1])
    scale = "RdBu" if binary else [[c / max(k - 1, 1), F.CLASS_COLORS[c % len(F.CLASS_COLORS)]] for c in range(k)]
    fig = F._figure(f"{run.name}: predicted class of each point during training", width=680, height=600)
    fig.add_trace(go.Scatter(
        x=F.compact(data.X[:, 0]), y=F.compact(data.X[:, 1]), mode="markers", name="prediction",
        marker=dict(color=colors[0], colorscale=scale, cmin=0, cmax=1 if binary else k - 1, size=8,
                    line=dict(color=F.class_color(data.y), width=1.5), showscale=binary,
                    colorbar=dict(title=dict(text="p(class 1)")) if binary else None),
        hovertemplate="(%{x:.3g}, %{y:.3g})<br>prediction %{marker.color}<extra></extra>",
    ))
    fig.frames = [go.Frame(name=label, data=[go.Scatter(marker=dict(color=c))], traces=[0])
                  for label, c in zip(labels, colors)]
    (x0, x1), (y0, y1) = data.bounds(margin=0.05)[:2]
    fig.update_xaxes(range=[x0, x1], autorange=False, title_text="x1")
    fig.update_yaxes(range=[y0, y1], autorange=False, title_text="x2")
    controls(fig, labels, ms, redraw=False)
    return fig


def _fit(run: Any, idx: np.ndarray, ms: float) -> go.Figure:
    """Any other regression: each prediction against its target (first output), the diagonal = perfect."""
    data = run.data
    y = F.compact(data.y[:, 0])
    preds = F.compact(run.frames[idx][..., 0])  # (f, n)
    labels = [f"step {int(s)}" for s in run.frame_steps[idx]]
    rng = F.padded_range(y, preds)
    fig = F._figure(f"{run.name}: predictions against targets", width=620, height=600)
    fig.add_trace(go.Scatter(x=y, y=preds[0], mode="markers", name="prediction", marker=dict(size=5, color="#1f77b4")))
    fig.add_trace(go.Scatter(x=rng, y=rng, mode="lines", name="perfect fit", line=dict(color="#888", dash="dash")))
    fig.frames = [go.Frame(name=label, data=[go.Scatter(y=p)], traces=[0]) for label, p in zip(labels, preds)]
    fig.update_xaxes(range=rng, autorange=False, title_text="target")
    fig.update_yaxes(range=rng, autorange=False, title_text="prediction")
    controls(fig, labels, ms, redraw=False)
    return fig


CONTROLS_PX = 120  # bottom margin kept for the play buttons and the slider
UNDER_AXIS_PX = 62  # the x axis' tick labels and title take about this much height under the plot


def controls(fig: go.Figure, labels: list[str], ms: float, *, redraw: bool, prefix: str = "") -> None:
    """Play/pause buttons and a slider over the frames named ``labels``, under the x axis' title."""
    # Scatter frames tween point positions over the frame time; heatmaps must redraw, so no tween.
    tween = dict(duration=0 if redraw else ms, easing="linear")
    play = dict(frame=dict(duration=ms, redraw=redraw), fromcurrent=True, transition=tween, mode="immediate")
    pause = dict(frame=dict(duration=0, redraw=False), transition=dict(duration=0), mode="immediate")
    jump = dict(frame=dict(duration=0, redraw=redraw), transition=dict(duration=0), mode="immediate")
    margin = fig.layout.margin
    top = margin.t if margin.t is not None else F.TEMPLATE.layout.margin.t
    plot_px = (fig.layout.height or 450) - top - CONTROLS_PX
    below = -UNDER_AXIS_PX / max(plot_px, 100)  # paper coordinates: that many pixels under the plot
    fig.update_layout(
        updatemenus=[dict(
            type="buttons", direction="left", showactive=False, x=0.0, y=below, xanchor="left", yanchor="top",
            pad=dict(r=8, t=4),
            buttons=[dict(label="▶ play", method="animate", args=[None, play]),
                     dict(label="❚❚ pause", method="animate", args=[[None], pause])],
        )],
        sliders=[dict(
            active=0, x=0.2, len=0.8, y=below, yanchor="top", pad=dict(t=4),
            currentvalue=dict(prefix=prefix, visible=True, xanchor="right"),
            steps=[dict(label=label, method="animate", args=[[label], jump]) for label in labels],
        )],
        margin=dict(b=CONTROLS_PX, t=top),
    )


# ---------------------------------------------------------------- the headline figure of a run


def _prior_what(spec: dict, extras: dict) -> str:
    """What the prior samples are, from the model spec: "10 random 1-1000-1 sigmoid MLPs, weights ~ N(0, 5^2), ..."."""
    model = spec.get("model") or {}
    hidden = model.get("hidden") or []
    n = len(extras["samples"])
    if not hidden:
        return f"{n} prior samples"
    shape = "-".join(str(w) for w in [model.get("in_dim", 1), *hidden, model.get("out_dim", 1)])
    what = f"{n} random {shape} {model.get('activation', 'relu')} MLPs"
    if model.get("init") == "normal":
        what += f", weights ~ N(0, {model.get('init_std_w', 1.0):g}^2), biases ~ N(0, {model.get('init_std_b', 1.0):g}^2)"
    return what


def figure_for_run(run: Any) -> go.Figure | None:
    """The one figure that best shows ``run``: prior samples, activation curves, the animation, or the loss.

    Returns None when the run holds nothing to draw.
    """
    spec = run.spec if isinstance(run.spec, dict) else {}
    kind = spec.get("kind")
    if kind == "prior" and "samples" in run.extras:
        return F.prior_figure(run.extras["x"], run.extras["samples"], title=f"{run.name}: {_prior_what(spec, run.extras)}")
    if kind == "activations" and "x" in run.extras:
        names = [n for n in F._ACTIVATION_ORDER if n in run.extras] + sorted(
            k for k in run.extras if k not in F._ACTIVATION_ORDER and k != "x" and not k.endswith("_grad")
            and k + "_grad" in run.extras)
        return F.activation_figure(run.extras, names)
    if spec.get("view") == "none":
        return F.loss_curve(run) if run.steps else None
    if run.frames is not None and run.data is not None and len(run.frames):
        try:
            return animate(run)
        except SpecError:
            pass  # e.g. 784-D images: nothing to animate in input space
    if spec.get("view") == "images" or (run.data is not None and getattr(run.data, "image_shape", None)):
        fig = _images_for_run(run)
        if fig is not None:
            return fig
    return F.loss_curve(run) if run.steps else None


def _images_for_run(run: Any) -> go.Figure | None:
    data = run.data
    if data is None or data.task == "regression":
        return None
    X, y = (data.X_test, data.y_test) if data.X_test is not None else (data.X, data.y)
    X, y = X[:64], y[:64]
    preds = None
    if run.model is not None:
        out = F._predict(run.model, X)
        preds = out.argmax(1) if out.shape[1] > 1 else (
            F.probabilities(out, run.spec.get("model", {}).get("out_activation"),
                            run.spec.get("train", {}).get("loss"))[:, 0] > 0.5).astype(np.int64)
    shape = getattr(data, "image_shape", None)
    images = X.reshape((len(X),) + tuple(shape[-2:])) if shape else X
    try:
        return images_grid(images, y, preds, data.class_names)
    except SpecError:
        return None
