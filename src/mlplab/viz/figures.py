"""Static figures: loss curves, decision boundaries, fitted curves, activations, prior samples, mappings.

Every function returns a `plotly.graph_objects.Figure` and never trains. Images and class metrics live
in `images.py`; animations in `animate.py`; HTML pages in `report.py`; files in `export.py`.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..errors import SpecError

# A small template of our own: plotly's default one adds about 8 kB of JSON to every figure.
TEMPLATE = go.layout.Template(
    layout=dict(
        font=dict(family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size=13, color="#222"),
        paper_bgcolor="white",
        plot_bgcolor="#fafafa",
        colorway=["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"],
        xaxis=dict(gridcolor="#e6e6e6", zerolinecolor="#bbb", linecolor="#888", showline=True),
        yaxis=dict(gridcolor="#e6e6e6", zerolinecolor="#bbb", linecolor="#888", showline=True),
        margin=dict(l=60, r=30, t=90, b=50),
        hovermode="closest",
        legend=dict(orientation="h", x=0, xanchor="left", y=1.0, yanchor="bottom", bgcolor="rgba(255,255,255,0)"),
        title=dict(x=0.02, xanchor="left", y=0.98, yanchor="top"),
    )
)
CLASS_COLORS = ["#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                "#bcbd22", "#17becf"]  # class 0 red, class 1 blue: the notebooks' RdBu convention
MAX_LOSS_POINTS = 20_000  # beyond this a loss line is thinned (every k-th step, last kept)


# ---------------------------------------------------------------- small shared helpers


def compact(a: Any, decimals: int | None = None) -> np.ndarray:
    """float32 copy of ``a`` (half the bytes of float64 in plotly's base64 JSON), optionally rounded."""
    out = np.asarray(a, dtype=np.float32)
    return np.round(out, decimals) if decimals is not None else np.ascontiguousarray(out)


def to_percent(p: Any) -> np.ndarray:
    """Probabilities in [0, 1] as whole percents, uint8 (animations of heatmaps: 1 byte a cell)."""
    return np.round(np.clip(np.nan_to_num(np.asarray(p, dtype=np.float32), nan=0.5), 0, 1) * 100).astype(np.uint8)


def _even(x: Any) -> dict[str, Any]:
    """Scatter x settings: x0 and dx for evenly spaced values (nothing to send per point), else the values."""
    x = np.asarray(x, dtype=np.float64).ravel()
    if len(x) > 2:
        dx = (x[-1] - x[0]) / (len(x) - 1)
        if dx > 0 and np.allclose(x, x[0] + dx * np.arange(len(x)), rtol=0, atol=1e-6 * abs(dx)):
            return dict(x0=float(x[0]), dx=float(dx))
    return dict(x=compact(x))


def padded_range(*arrays: Any, pad: float = 0.05) -> list[float]:
    """[lo, hi] covering every finite value of ``arrays``, widened by ``pad`` of the span."""
    parts = [np.asarray(a, dtype=np.float64).ravel() for a in arrays if a is not None]
    allv = np.concatenate(parts) if parts else np.zeros(0)
    allv = allv[np.isfinite(allv)]
    if not len(allv):
        return [-1.0, 1.0]
    lo, hi = float(allv.min()), float(allv.max())
    span = max(hi - lo, 1e-6)
    return [lo - pad * span, hi + pad * span]


def log_axis(*arrays: Any, integer: bool = False) -> dict[str, Any]:
    """Axis settings for a log scale over the positive values of ``arrays``, with readable ticks.

    Left to itself plotly labels minor ticks ("2", "5" or every digit) inside each decade, which crowds
    a short axis. Here: ticks at 1, 2, 5 x 10^k (short ranges) or only at powers of ten, every one
    labelled in full; ``integer`` writes counts as plain integers (ticks below 1 dropped).
    """
    parts = [np.asarray(a, dtype=np.float64).ravel() for a in arrays if a is not None]
    v = np.concatenate(parts) if parts else np.zeros(0)
    v = v[np.isfinite(v) & (v > 0)]
    if not len(v):
        return dict(type="log")
    lo, hi = np.floor(np.log10(v.min())), np.ceil(np.log10(v.max()))
    if hi == lo:
        hi += 1
    decades = hi - lo
    mantissas = (1, 2, 5) if decades <= 3 else (1,)  # about 3 labels a decade, or one
    step = max(1, int(np.ceil(decades / 8)))  # at most about 8 labelled powers
    ticks = [m * 10.0**k for k in np.arange(lo, hi + 1, step) for m in mantissas]
    ticks = [t for t in ticks if v.min() / 1.5 <= t <= v.max() * 1.5 and (t >= 1 or not integer)]
    ticks = ticks or [10.0**lo, 10.0**hi]
    if sum(v.min() <= t <= v.max() for t in ticks) < 3 and v.max() > v.min():
        # a range narrower than about two 1-2-5 steps (a loss between 0.60 and 0.74) would show two labels or
        # none: round values evenly spaced across it instead
        ticks = _even_ticks(v.min(), v.max(), integer)
        digits = max(0, -int(np.floor(np.log10(ticks[1] - ticks[0])))) if len(ticks) > 1 else 3
        text = [f"{int(round(t)):,}" if integer else f"{t:.{digits}f}" for t in ticks]
        return dict(type="log", tickvals=ticks, ticktext=text, minor=dict(showgrid=False, ticks=""))
    if integer:
        text = [f"{int(round(t)):,}" for t in ticks]
    elif decades <= 3 and min(ticks) >= 1e-4 and max(ticks) < 1e5:
        text = [f"{t:g}" for t in ticks]
    else:
        text = [f"10<sup>{int(round(np.log10(t)))}</sup>" if np.isclose(t, 10.0 ** round(np.log10(t))) else f"{t:.0e}"
                for t in ticks]
    return dict(type="log", tickvals=ticks, ticktext=text, minor=dict(showgrid=False, ticks=""))


def _even_ticks(lo: float, hi: float, integer: bool, count: int = 4) -> list[float]:
    """About ``count`` round values (steps of 1, 2 or 5 x 10^k) from ``lo`` to ``hi``."""
    raw = (hi - lo) / count
    power = 10.0 ** np.floor(np.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    if integer:
        step = max(1.0, round(step))
    ticks = np.arange(np.ceil(lo / step) * step, hi + step / 2, step)
    return [float(t) for t in ticks] or [lo, hi]


def class_color(labels: np.ndarray) -> list[str]:
    return [CLASS_COLORS[int(c) % len(CLASS_COLORS)] for c in labels]


def probabilities(values: np.ndarray, out_activation: str | None, loss: str | None) -> np.ndarray:
    """Model outputs (..., d_out) -> class probabilities (..., d_out), whatever the output layer was.

    A sigmoid/softmax output (or a loss that implies one) is kept; raw logits are squashed; a plain
    regression output fitted to 0/1 labels is clipped to [0, 1].
    """
    v = np.asarray(values, dtype=np.float64)
    finite = v[np.isfinite(v)]
    looks_like_probability = bool(len(finite)) and finite.min() >= 0 and finite.max() <= 1
    if v.shape[-1] == 1:
        if out_activation == "sigmoid" or loss == "bce":
            return v
        if loss == "bce_logits":
            return 1.0 / (1.0 + np.exp(-v))
        if loss is None:  # unknown training: trust values already in [0, 1], squash anything else
            return v if looks_like_probability else 1.0 / (1.0 + np.exp(-v))
        return np.clip(v, 0.0, 1.0)  # e.g. mse on 0/1 labels
    if out_activation == "softmax" or (loss is None and looks_like_probability):
        return v
    e = np.exp(v - v.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _figure(title: str | None = None, **layout: Any) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(template=TEMPLATE, title=dict(text=title) if title else None, **layout)
    return fig


def _model_spec_field(model: Any, name: str) -> Any:
    spec = getattr(model, "spec", None)
    return getattr(spec, name, None)


def _predict(model: Any, X: np.ndarray) -> np.ndarray:
    """Eval-mode forward of a torch module on float32 inputs (n, d_in) -> (n, d_out) float64."""
    import torch

    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)))
    finally:
        model.train(was)
    return out.double().numpy().reshape(len(X), -1)


# ---------------------------------------------------------------- loss curves


SPLIT_COLORS = {"train": "#2ca02c", "val": "#9467bd", "test": "#ff7f0e"}  # the per-step loss is blue
_METRIC_WORDS = {"val": "validation", "train": "training", "acc": "accuracy", "lr": "learning rate"}


def metric_label(name: str) -> str:
    """A metric's key as a reader says it: "val_accuracy" -> "validation accuracy", "fit/val_loss" ->
    "fit validation loss"; a "/" between spaces is a ratio and stays ("first / last layer")."""
    joined = re.sub(r"(?<=\S)/(?=\S)", " ", str(name))  # "a/b" joins a key's parts; "a / b" is a ratio
    return " ".join(_METRIC_WORDS.get(w, w) for w in re.split(r"[ _]", joined) if w)


def _thin(n: int) -> np.ndarray:
    if n <= MAX_LOSS_POINTS:
        return np.arange(n)
    idx = np.arange(0, n, int(np.ceil(n / MAX_LOSS_POINTS)))
    return idx if idx[-1] == n - 1 else np.append(idx, n - 1)


def loss_curve(runs: Any, *, log: bool = True) -> go.Figure:
    """Training loss per step, one line per run; per-epoch metrics (validation, accuracy) when recorded.

    ``runs``: a `Run` or a sequence of them. Losses go on the top panel (log scale by default), epoch
    metrics whose name contains "loss" are drawn on the same axes at their step; accuracies get a
    second panel. Hover shows each step's exact float32 value.
    """
    run_list = list(runs) if isinstance(runs, (list, tuple)) else [runs]
    if not run_list:
        raise SpecError("runs", "at least one Run", runs)
    acc_names = sorted({k for r in run_list for k in r.epoch_metrics if "loss" not in k})
    rows = 2 if acc_names else 1
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        row_heights=[0.65, 0.35][:rows] if rows == 2 else None)
    fig.update_layout(template=TEMPLATE, title="Training loss", height=420 if rows == 1 else 560,
                      hovermode="x unified" if len(run_list) > 1 else "closest")
    many = len(run_list) > 1
    for i, run in enumerate(run_list):
        color = TEMPLATE.layout.colorway[i % len(TEMPLATE.layout.colorway)]
        losses = np.asarray(run.losses, dtype=np.float32)
        idx = _thin(len(losses))
        label = run.name if many else "training loss (each step)"
        # every step: the x values are 1, 2, ... and need not travel (x0, dx); thinned: they must
        xs = dict(x0=1, dx=1) if len(idx) == len(losses) else dict(x=(idx + 1).astype(np.int32))
        fig.add_trace(go.Scatter(
            **xs, y=losses[idx], mode="lines", name=label, line=dict(color=color, width=1.6),
            hovertemplate=f"{run.name}<br>step %{{x}}<br>loss %{{y:.7g}}<extra></extra>",
        ), row=1, col=1)
        epochs = {k: np.asarray(v, dtype=np.float32) for k, v in run.epoch_metrics.items()}
        for j, (name, values) in enumerate(sorted(epochs.items())):
            if not len(values):
                continue
            per_epoch = max(len(losses), 1) / len(values)
            steps = np.round((np.arange(len(values)) + 1) * per_epoch).astype(np.int32)
            label = metric_label(name)
            # one run: a colour per split, so the two panels read alike (accuracies sit in their own panel);
            # several runs: the run's colour, the metric told by its dash
            split = name.split("_")[0]
            own = SPLIT_COLORS.get(split, TEMPLATE.layout.colorway[(j + 4) % len(TEMPLATE.layout.colorway)])
            dash = ["dot", "dash", "dashdot", "longdash"][j % 4] if many else "solid"
            row = 1 if "loss" in name else 2
            fig.add_trace(go.Scatter(
                x=steps, y=values, mode="lines+markers" if len(values) <= 60 else "lines",
                name=f"{run.name}: {label}" if many else label,
                line=dict(color=color if many else own, dash=dash, width=1.4),
                marker=dict(size=4), hovertemplate=f"{label}<br>step %{{x}} (epoch end)<br>%{{y:.7g}}<extra></extra>",
            ), row=row, col=1)
    finite = np.concatenate([np.asarray(r.losses, np.float64) for r in run_list] or [np.zeros(0)])
    positive = finite[np.isfinite(finite) & (finite > 0)]
    use_log = bool(log and len(positive))
    loss_values = [positive] + [np.asarray(v) for r in run_list for k, v in r.epoch_metrics.items() if "loss" in k]
    axis = log_axis(*loss_values) if use_log else dict(type="linear")
    fig.update_yaxes(title_text="loss", row=1, col=1, **axis)
    if rows == 2:
        fig.update_yaxes(title_text="accuracy", range=[0, 1.02], row=2, col=1)
    fig.update_xaxes(title_text="step", row=rows, col=1)
    return fig


# ---------------------------------------------------------------- 2-D classification


def _grid_box(data: Any, box: Sequence[float] | None) -> tuple[float, float, float, float]:
    if box is None:
        (x0, x1), (y0, y1) = data.bounds(margin=0.1)[:2]
        return x0, x1, y0, y1
    if len(box) != 4 or not (box[0] < box[1] and box[2] < box[3]):
        raise SpecError("box", "(xmin, xmax, ymin, ymax) with xmin < xmax and ymin < ymax", box)
    return tuple(float(b) for b in box)  # type: ignore[return-value]


def boundary_trace(gx: np.ndarray, gy: np.ndarray, values: np.ndarray, n_classes: int, *,
                   percent: bool = False) -> go.Heatmap:
    """Heatmap of p(class 1) (binary, ``values`` (g, g, 1)) or of the argmax class (``values`` (g, g, C)).

    Rows of ``values`` follow y and columns follow x, as a heatmap draws them. ``percent``: z holds whole
    percents (uint8, see `to_percent`), as animation frames do.
    """
    if values.shape[-1] == 1:
        if percent:
            return go.Heatmap(
                x=compact(gx), y=compact(gy), z=to_percent(values[..., 0]), colorscale="RdBu", zmin=0,
                zmax=100, zsmooth="best", colorbar=dict(title=dict(text="p(class 1)"), len=0.8, tickvals=[0, 25, 50, 75, 100],
                                                         ticktext=["0", "0.25", "0.5", "0.75", "1"]),
                hovertemplate="x %{x:.3g}, y %{y:.3g}<br>p(class 1) %{z}%<extra></extra>",
            )
        return go.Heatmap(
            x=compact(gx), y=compact(gy), z=compact(values[..., 0], 3), colorscale="RdBu", zmin=0, zmax=1,
            zsmooth="best", colorbar=dict(title=dict(text="p(class 1)"), len=0.8),
            hovertemplate="x %{x:.3g}, y %{y:.3g}<br>p(class 1) %{z:.3f}<extra></extra>",
        )
    k = max(n_classes, values.shape[-1])
    colors = [CLASS_COLORS[c % len(CLASS_COLORS)] for c in range(k)]
    scale = [[c / max(k - 1, 1), colors[c]] for c in range(k)]
    return go.Heatmap(
        x=compact(gx), y=compact(gy), z=values.argmax(-1).astype(np.int8), colorscale=scale, zmin=0, zmax=k - 1,
        opacity=0.45, showscale=False, hovertemplate="x %{x:.3g}, y %{y:.3g}<br>class %{z}<extra></extra>",
    )


def points_traces(X: np.ndarray, labels: np.ndarray, class_names: Sequence[str] | None = None) -> list[go.Scatter]:
    """One marker trace per class of the 2-D points ``X`` (n, 2) with integer ``labels`` (n,)."""
    traces = []
    for c in np.unique(labels):
        pts = X[labels == c]
        name = class_names[int(c)] if class_names and int(c) < len(class_names) else f"class {int(c)}"
        traces.append(go.Scatter(
            x=compact(pts[:, 0]), y=compact(pts[:, 1]), mode="markers", name=name,
            marker=dict(color=CLASS_COLORS[int(c) % len(CLASS_COLORS)], size=6, line=dict(color="white", width=0.6)),
            hovertemplate=f"{name}<br>(%{{x:.3g}}, %{{y:.3g}})<extra></extra>",
        ))
    return traces


def decision_boundary(model: Any, data: Any, *, grid: int = 100, box: Sequence[float] | None = None) -> go.Figure:
    """Notebook 002's picture: the model's p(class 1) on a ``grid`` x ``grid`` lattice, the data on top.

    ``model``: a torch module taking (n, 2) inputs; ``data``: a 2-D-input classification `Dataset`;
    ``box``: (xmin, xmax, ymin, ymax), default the data's bounds plus 10 %.
    """
    if data.d_in != 2:
        raise SpecError("data", "a data set with 2 input columns", f"{data.d_in} input columns")
    if not isinstance(grid, int) or not 2 <= grid <= 1000:
        raise SpecError("grid", "an integer between 2 and 1000", grid)
    x0, x1, y0, y1 = _grid_box(data, box)
    gx, gy = np.linspace(x0, x1, grid), np.linspace(y0, y1, grid)
    xx, yy = np.meshgrid(gx, gy)  # (g, g): rows follow y
    out = _predict(model, np.stack([xx.ravel(), yy.ravel()], 1))
    probs = probabilities(out, _model_spec_field(model, "out_activation"), None).reshape(grid, grid, -1)
    fig = _figure("Decision boundary", width=640, height=560)
    fig.add_trace(boundary_trace(gx, gy, probs, data.n_classes or probs.shape[-1]))
    if probs.shape[-1] == 1:
        fig.add_trace(go.Contour(
            x=compact(gx), y=compact(gy), z=compact(probs[..., 0], 3), showscale=False, hoverinfo="skip",
            contours=dict(start=0.5, end=0.5, size=1, coloring="none"), line=dict(color="black", width=2),
            name="p = 0.5",
        ))
    for t in points_traces(data.X, data.y, data.class_names):
        fig.add_trace(t)
    fig.update_xaxes(range=[x0, x1], title_text="x1", constrain="domain")
    fig.update_yaxes(range=[y0, y1], title_text="x2", scaleanchor="x", scaleratio=1, constrain="domain")
    return fig


# ---------------------------------------------------------------- 1-D regression


def curve_grid(data: Any, points: int = 200) -> np.ndarray:
    """The x values (m,) on which a 1-D fit is drawn: ``data.grid`` or a linspace over the data's range."""
    if getattr(data, "grid", None) is not None:
        return np.asarray(data.grid, dtype=np.float32).reshape(-1)
    (lo, hi), = data.bounds(margin=0.05)[:1]
    return np.linspace(lo, hi, points, dtype=np.float32)


def data_traces_1d(data: Any) -> list[go.Scatter]:
    traces = [go.Scatter(
        x=compact(data.X[:, 0]), y=compact(data.y[:, 0]), mode="markers", name="training data",
        marker=dict(color="#444", size=6, opacity=0.8), hovertemplate="x %{x:.4g}<br>y %{y:.4g}<extra></extra>",
    )]
    if getattr(data, "X_test", None) is not None and len(data.X_test):
        traces.append(go.Scatter(
            x=compact(data.X_test[:, 0]), y=compact(data.y_test[:, 0]), mode="markers", name="test data",
            marker=dict(color="#ff7f0e", size=6, symbol="x"), hovertemplate="x %{x:.4g}<br>y %{y:.4g}<extra></extra>",
        ))
    return traces


def data_y_range(data: Any) -> list[float]:
    """The y-range of a 1-D regression's training and test targets, padded: fits are judged inside it."""
    return padded_range(data.y[:, 0], getattr(data, "y_test", None), pad=0.15)


def fitted_curve(model: Any, data: Any) -> go.Figure:
    """Notebook 003's fit: the model's output on ``data.grid`` (or the data's range) over the data points."""
    if data.d_in != 1 or data.task != "regression":
        raise SpecError("data", "a 1-D regression data set (1 input column)", repr(data))
    x = curve_grid(data)
    y = _predict(model, x[:, None])  # (m, d_out)
    fig = _figure("Fitted curve", width=720, height=420)
    for t in data_traces_1d(data):
        fig.add_trace(t)
    fig.add_trace(go.Scatter(x=compact(x), y=compact(y[:, 0]), mode="lines", name="model",
                             line=dict(color="#1f77b4", width=2.5)))
    fig.update_xaxes(title_text="x")
    fig.update_yaxes(title_text="y", range=data_y_range(data))
    return fig


# ---------------------------------------------------------------- activations and priors


_ACTIVATION_ORDER = ("relu", "sigmoid", "tanh", "leaky_relu", "gelu", "softplus", "elu", "silu", "identity")


def _activation_fns() -> dict[str, Callable]:
    import torch

    return {
        "relu": torch.relu,
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "leaky_relu": lambda t: torch.nn.functional.leaky_relu(t, 0.01),
        "gelu": torch.nn.functional.gelu,
        "softplus": torch.nn.functional.softplus,
        "elu": torch.nn.functional.elu,
        "silu": torch.nn.functional.silu,
        "identity": lambda t: t * 1.0,
    }


def activation_curves(names: Iterable[str] = ("relu", "sigmoid", "tanh"), x: Any = None) -> dict[str, Any]:
    """{"x": (m,), name: f(x), name + "_grad": f'(x)} computed with torch autograd (notebook 004's way)."""
    import torch

    fns = _activation_fns()
    names = list(names)
    for name in names:
        if name not in fns:
            raise SpecError("names", f"activation names among {', '.join(fns)}", name)
    xs = torch.arange(-8.0, 8.0, 0.1, dtype=torch.float64) if x is None else torch.as_tensor(
        np.asarray(x, dtype=np.float64))
    out: dict[str, Any] = {"x": xs.numpy().copy()}
    for name in names:
        xg = xs.clone().requires_grad_(True)
        y = fns[name](xg)
        (grad,) = torch.autograd.grad(y, xg, torch.ones_like(y))
        out[name], out[name + "_grad"] = y.detach().numpy(), grad.numpy()
    return out


def activation_figure(curves: dict[str, Any], names: Sequence[str]) -> go.Figure:
    """Functions (left) and their derivatives (right) from ``curves`` as `activation_curves` returns them."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("activation f(x)", "derivative f'(x)"),
                        horizontal_spacing=0.08)
    fig.update_layout(template=TEMPLATE, title="Activation functions and their gradients", width=900, height=430,
                      legend=dict(y=1.1), margin=dict(t=110))
    x = compact(curves["x"])
    for i, name in enumerate(names):
        color = TEMPLATE.layout.colorway[i % len(TEMPLATE.layout.colorway)]
        fig.add_trace(go.Scatter(x=x, y=compact(curves[name]), name=name, legendgroup=name,
                                 line=dict(color=color, width=2)), row=1, col=1)
        fig.add_trace(go.Scatter(x=x, y=compact(curves[name + "_grad"]), name=f"{name}'", legendgroup=name,
                                 showlegend=False, line=dict(color=color, width=2, dash="dot")), row=1, col=2)
    fig.update_xaxes(title_text="x")
    return fig


def activations(names: Sequence[str] = ("relu", "sigmoid", "tanh"), x: Any = None) -> go.Figure:
    """Notebook 004: each activation and its derivative (torch autograd), side by side; x default [-8, 8)."""
    names = list(names)
    return activation_figure(activation_curves(names, x), names)


def prior_draws(spec_or_model_factory: Any, n: int = 10, x: Any = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Outputs (n, m) of ``n`` freshly initialised models on ``x`` (m,), seeds ``seed`` .. ``seed + n - 1``.

    ``spec_or_model_factory``: a `ModelSpec` (or its dict) built with `build_model(spec, seed=s)`, or a
    callable ``seed -> torch module``. Models take (m, 1) inputs; the first output column is kept.
    """
    if not isinstance(n, int) or n < 1:
        raise SpecError("n", "a positive number of samples", n)
    xs = np.linspace(-5, 5, 1000, dtype=np.float32) if x is None else np.asarray(x, dtype=np.float32).reshape(-1)
    if callable(spec_or_model_factory) and not isinstance(spec_or_model_factory, dict):
        make = spec_or_model_factory
    else:
        from ..models import build_model

        def make(s: int):
            return build_model(spec_or_model_factory, seed=s)

    samples = np.stack([_predict(make(seed + i), xs[:, None])[:, 0] for i in range(n)])  # (n, m)
    return xs, samples


def prior_figure(x: np.ndarray, samples: np.ndarray, title: str = "Prior samples: outputs of random MLPs") -> go.Figure:
    fig = _figure(title, width=720, height=400, showlegend=False)
    xs = _even(x)
    for i, s in enumerate(np.atleast_2d(samples)):
        fig.add_trace(go.Scatter(**xs, y=compact(s), mode="lines", name=f"sample {i}",
                                 line=dict(color="rgba(31,119,180,0.55)", width=1.6),
                                 hovertemplate=f"sample {i}<br>x %{{x:.3g}}<br>f(x) %{{y:.4g}}<extra></extra>"))
    fig.update_xaxes(title_text="x")
    fig.update_yaxes(title_text="f(x)")
    return fig


def prior_samples(spec_or_model_factory: Any, n: int = 10, x: Any = None, seed: int = 0) -> go.Figure:
    """Notebook 003's prior: ``n`` curves of randomly initialised MLPs (see `prior_draws`)."""
    xs, samples = prior_draws(spec_or_model_factory, n=n, x=x, seed=seed)
    return prior_figure(xs, samples)


# ---------------------------------------------------------------- 2-D -> 2-D mapping


def mapping(run: Any) -> go.Figure:
    """Before/after of a 2-D -> 2-D regression: inputs X and targets (left), final predictions and targets (right)."""
    run = run.framed() if hasattr(run, "framed") else run
    data, frames = run.data, run.frames
    if data is None or frames is None or data.d_in != 2 or frames.shape[-1] != 2:
        raise SpecError("run", "a run of a 2-D -> 2-D regression with recorded frames", repr(run))
    final = frames[-1]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("before: the inputs X", f"after: step {int(run.frame_steps[-1])}"),
                        horizontal_spacing=0.08)
    fig.update_layout(template=TEMPLATE, title=f"{run.name}: inputs mapped onto targets", width=1000, height=530,
                      legend=dict(y=1.1), margin=dict(t=110))
    target = dict(mode="markers", marker=dict(color="#d62728", size=5, opacity=0.5))
    for col, pts, label in ((1, data.X, "inputs X"), (2, final, "predictions")):
        fig.add_trace(go.Scatter(x=compact(data.y[:, 0]), y=compact(data.y[:, 1]), name="targets y",
                                 showlegend=col == 1, legendgroup="y", **target), row=1, col=col)
        fig.add_trace(go.Scatter(x=compact(pts[:, 0]), y=compact(pts[:, 1]), mode="markers", name=label,
                                 marker=dict(color="#1f77b4", size=5)), row=1, col=col)
    fig.update_xaxes(range=padded_range(data.X[:, 0], data.y[:, 0], final[:, 0]))
    fig.update_yaxes(range=padded_range(data.X[:, 1], data.y[:, 1], final[:, 1]))
    return fig
