"""The figure of `mlplab.diagnostics.init_scales`: activation and gradient scale per layer, per init."""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..errors import SpecError
from .figures import TEMPLATE, log_axis

NEEDED = ("init", "layer", "n_in", "n_out", "act_std", "predicted_std", "weight_grad_std")
INIT_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2"]


def init_scales_figure(df, title: str = "Scale of activations and gradients at initialisation") -> go.Figure:
    """Grouped bars per Linear layer on log axes, one colour per init.

    Left: std of each layer's output before its activation, with the variance formula's prediction
    as a black tick. Right: std of the gradient of the loss with respect to the layer's weight.
    """
    missing = [c for c in NEEDED if c not in getattr(df, "columns", ())]
    if missing:
        raise SpecError("df", "the DataFrame returned by mlplab.diagnostics.init_scales", f"missing columns {missing}")
    fig = make_subplots(
        rows=1, cols=2, horizontal_spacing=0.1,
        subplot_titles=("activation std (pre-activation)", "weight-gradient std"),
    )
    inits = list(dict.fromkeys(df["init"]))
    for k, init in enumerate(inits):
        rows = df[df["init"] == init].sort_values("layer")
        labels = [f"L{l} {a}→{b}" for l, a, b in zip(rows["layer"], rows["n_in"], rows["n_out"])]
        color = INIT_COLORS[k % len(INIT_COLORS)]
        fig.add_trace(go.Bar(x=labels, y=rows["act_std"], name=init, marker_color=color, offsetgroup=init,
                             legendgroup=init), row=1, col=1)
        fig.add_trace(go.Scatter(x=labels, y=rows["predicted_std"], mode="markers", name="predicted",
                                 marker=dict(symbol="line-ew-open", size=22, color="black", line=dict(width=2)),
                                 offsetgroup=init, legendgroup="predicted", showlegend=k == 0), row=1, col=1)
        fig.add_trace(go.Bar(x=labels, y=rows["weight_grad_std"], name=init, marker_color=color, offsetgroup=init,
                             legendgroup=init, showlegend=False), row=1, col=2)
    fig.update_yaxes(**log_axis(df["act_std"], df["predicted_std"]), row=1, col=1)
    fig.update_yaxes(**log_axis(df["weight_grad_std"]), row=1, col=2)
    fig.update_layout(template=TEMPLATE, title=title, barmode="group", scattermode="group", height=480,
                      legend=dict(y=-0.12, yanchor="top"), margin=dict(b=90))  # below: the subplot titles sit on top
    return fig
