"""Figures of the side-by-side studies (``kind = "compare"``, `mlplab.compare`): one maker per study.

Each maker takes the study's `Run` and returns (caption, figure) pairs; it reads what the study recorded
in ``run.extras`` and computes nothing of its own.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from . import figures as F

CHECKED = ("dz2", "dw2", "da1", "dz1", "dw1")


def study_figures(run: Any) -> list[tuple[str, Any]]:
    """The figures of whichever study ``run`` holds (the four-paths comparison when none is named)."""
    spec = run.spec if isinstance(run.spec, dict) else {}
    study = (spec.get("extras") or {}).get("study", "paths")
    return STUDY_FIGURES.get(study, lambda r: [])(run)


def _paths(run: Any) -> list[tuple[str, Any]]:
    from .panels import comparison_figures

    return comparison_figures(run)


def backprop_checks_table(run: Any) -> go.Figure:
    """One row per checked gradient: shape, the notebook's expression == autograd, mlplab's largest difference."""
    rows = [(name, "x".join(map(str, run.extras[f"check/autograd/{name}"].shape)),
             "True" if np.array_equal(run.extras[f"check/notebook/{name}"], run.extras[f"check/autograd/{name}"]) else "False",
             f"{float(np.abs(run.extras[f'check/mlplab/{name}'].astype(np.float64) - run.extras[f'check/autograd/{name}']).max()):.2g}")
            for name in CHECKED if f"check/autograd/{name}" in run.extras]
    cols = list(zip(*rows)) if rows else [[], [], [], []]
    fig = go.Figure(go.Table(
        header=dict(values=["gradient", "shape", "(notebook's expression == autograd).all()",
                            "max |mlplab NumPy VJP - autograd|"], align="left", fill_color="#eef1f5"),
        cells=dict(values=[list(c) for c in cols], align="left", height=26),
    ))
    fig.update_layout(template=F.TEMPLATE, title="Hand-written gradients against autograd, at the first step",
                      height=120 + 28 * len(rows), margin=dict(l=10, r=10, t=60, b=10))
    return fig


def _backprop(run: Any) -> list[tuple[str, Any]]:
    return [("The notebook's crosschecks: its torch expressions equal autograd's .grad bit for bit; mlplab's NumPy "
             "VJPs differ only by float32 rounding (the order of the sums).", backprop_checks_table(run))]


def vjp_sin_figure(run: Any) -> go.Figure:
    """Notebook 002's two plots: sin(x), then sin(x) with the gradient autograd attaches to x (and its twins)."""
    x = run.extras["x"]
    fig = make_subplots(rows=1, cols=2, subplot_titles=["f = sin(x)", "f and the VJP with v = ones"],
                        horizontal_spacing=0.1)
    fig.add_trace(go.Scatter(x=x, y=run.extras["f"], mode="lines", name="f = sin(x)", line=dict(color="#1f77b4")),
                  row=1, col=1)
    fig.add_trace(go.Scatter(x=x, y=run.extras["f"], mode="lines", name="f = sin(x)", showlegend=False,
                             line=dict(color="#1f77b4")), row=1, col=2)
    fig.add_trace(go.Scatter(x=x, y=run.extras["x.grad"], mode="lines", name="x.grad (autograd)",
                             line=dict(color="#d62728", width=3)), row=1, col=2)
    styles = {"v * cos(x)": ("#2ca02c", "dash"), "f.grad_fn(v)": ("#ff7f0e", "dot"),
              "mlplab ops.sin VJP": ("#9467bd", "dashdot")}
    for name, (color, dash) in styles.items():
        if name in run.extras:
            fig.add_trace(go.Scatter(x=x, y=run.extras[name], mode="lines", name=name,
                                     line=dict(color=color, dash=dash, width=1.6)), row=1, col=2)
    fig.update_xaxes(title_text="x")
    fig.update_layout(template=F.TEMPLATE, title="The VJP of sin: four ways to one curve, cos(x)", height=460,
                      legend=dict(orientation="h", x=0, y=-0.22, yanchor="top"), margin=dict(b=110))
    return fig


def depth_gradients_figure(run: Any) -> go.Figure:
    """||dL/dW|| per layer (log scale), one line per activation x initialisation."""
    layers = run.extras["layer"]
    fig = go.Figure()
    colors = {"sigmoid": "#d62728", "relu": "#1f77b4", "tanh": "#2ca02c"}
    for key, norms in run.extras.items():
        if not key.startswith("norm/"):
            continue
        label = key[len("norm/"):]
        act, _, init = label.partition(", ")
        fig.add_trace(go.Scatter(
            x=layers, y=norms, mode="lines+markers", name=label.replace("xavier_uniform", "Xavier (uniform)")
            .replace("default", "PyTorch default"),
            line=dict(color=colors.get(act, "#7f7f7f"), dash="solid" if init.startswith("xavier") else "dash"),
            hovertemplate=f"{label}<br>layer %{{x}}<br>||dL/dW|| %{{y:.3g}}<extra></extra>"))
    fig.update_yaxes(type="log", title_text="||dL/dW|| at initialisation", exponentformat="power", dtick=1)
    fig.update_xaxes(title_text="layer (1 = next to the input)", dtick=1)
    fig.update_layout(template=F.TEMPLATE, title="Gradient reaching each layer's weights", height=460)
    return fig


def optimizers_figure(run: Any) -> go.Figure:
    """Loss per step of each optimizer (log axes) and the fits they reach, side by side."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("training loss per step", "the fit at the end"))
    colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]
    losses = [(k[5:], v) for k, v in run.extras.items() if k.startswith("loss/")]
    for i, (label, loss) in enumerate(losses):
        color = colors[i % len(colors)]
        fig.add_trace(go.Scatter(x=np.arange(1, len(loss) + 1), y=loss, mode="lines", name=label,
                                 line=dict(color=color)), row=1, col=1)
        fit = run.extras.get(f"fit/{label}")
        if fit is not None:
            fig.add_trace(go.Scatter(x=run.extras["fit_x"], y=fit, mode="lines", name=f"{label}: fit",
                                     line=dict(color=color), showlegend=False), row=1, col=2)
    if run.data is not None:
        fig.add_trace(go.Scatter(x=run.data.X[:, 0], y=run.data.y[:, 0], mode="markers", name="data",
                                 marker=dict(color="black", size=5)), row=1, col=2)
    steps = [np.arange(1, len(loss) + 1) for _, loss in losses]
    fig.update_xaxes(title_text="step", row=1, col=1, **F.log_axis(*steps, integer=True))
    fig.update_yaxes(title_text="loss", row=1, col=1, **F.log_axis(*[loss for _, loss in losses]))
    fig.update_xaxes(title_text="x", row=1, col=2)
    fig.update_layout(template=F.TEMPLATE, height=420, legend=dict(orientation="h", y=-0.2))
    return fig


def _optimizers(run: Any) -> list[tuple[str, Any]]:
    m = run.metrics
    names = sorted({k.split("/")[0] for k in m})
    engines = {}  # preset name -> engine, from the curve labels "<name> (<optimizer>, <engine> engine)"
    for key in run.extras:
        if key.startswith("loss/") and key.endswith(" engine)") and " (" in key:
            engines[key[5:].split(" (")[0]] = key.rsplit(", ", 1)[-1][: -len(" engine)")]
    said = "; ".join(f"{n}: loss {m[f'{n}/final_loss']:.3g} after {int(m[f'{n}/steps'])} steps "
                     f"({m[f'{n}/seconds']:.1f} s, {1e3 * m[f'{n}/seconds'] / max(m[f'{n}/steps'], 1):.2g} ms a step"
                     f"{', ' + engines[n] + ' engine' if n in engines else ''})" for n in names)
    used = {engines[n] for n in names if n in engines}
    if len(used) > 1:
        time_note = (f"The wall times are not like for like: the runs used different engines ({', '.join(sorted(used))}; "
                     "L-BFGS exists only on the torch engine), so they compare engines as much as optimizers; time "
                     "Adam on torch too (mlplab.run(\"sine-mlp-10\", train={\"engine\": \"torch\"})) to compare "
                     "the optimizers alone.")
    else:
        time_note = "Both ran on the same engine, so the wall times compare the optimizers."
    return [(f"Adam against L-BFGS on notebook 003's x sin(10x). {said}. L-BFGS takes far fewer steps, and each "
             f"step costs several loss evaluations (its line search). {time_note}", optimizers_figure(run))]


STUDY_FIGURES: dict[str, Callable[[Any], list[tuple[str, Any]]]] = {
    "optimizers": _optimizers,
    "paths": _paths,
    "backprop-by-hand": _backprop,
    "vjp-sin": lambda run: [("f.grad_fn(v), x.grad, v * cos(x) and mlplab's VJP lie on one curve", vjp_sin_figure(run))],
    "depth-gradients": lambda run: [(
        "Towards the input the gradient shrinks by sigmoid's derivative (at most 1/4) at every layer, whatever the "
        "initialisation; ReLU with Xavier keeps it level, ReLU with PyTorch's default init lets it fade too.",
        depth_gradients_figure(run))],
}
