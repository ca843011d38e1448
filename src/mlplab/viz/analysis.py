"""Figures of analysis results (landscape, interpolation, spectrum, layer health, sharpness), alone or
side by side, and the analysis panels each course preset's report shows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..analysis import Health, Interpolation, Landscape, Sharpness, Spectrum, register_renderer
from ..errors import MlplabError, SpecError

# Which course presets show which analyses in their report, by name prefix (docs/analysis.md says why).
COURSE_PANELS: dict[str, tuple[str, ...]] = {
    "piecewise-": ("landscape", "health"),
    "sine-": ("spectrum",),
    "spectral-": ("frequencies", "spectrum"),
    "xor-": ("health",),
    "d2l-": ("health",),
    "moons-mlp": ("sharpness", "health"),
}
LONG_PALETTE = ("#1f77b4", "#aec7e8", "#ff7f0e", "#ffbb78", "#2ca02c", "#98df8a", "#d62728", "#ff9896", "#9467bd",
                "#c5b0d5", "#8c564b", "#c49c94", "#e377c2", "#f7b6d2", "#bcbd22", "#dbdb8d", "#17becf",
                "#9edae5")  # more (variant, layer) pairs than PALETTE holds (no grey: THRESHOLD_GREY)
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#393b79", "#bcbd22", "#17becf")
MAX_FREQ = 30.0  # cycles per unit shown in spectrum heatmaps: x sin(10x) lives below 5
THRESHOLD_GREY = "#7f7f7f"  # reference lines (2/lr): apart from every measured curve's colour
DASHES = ("dash", "dot", "dashdot", "longdash")
TITLE_LINE = 24  # characters per line of a column title: four columns side by side stay apart


def figure(result: Any, titles: list[str] | None = None) -> Any:
    """A plotly figure of an analysis result, or of a list of results of one kind side by side.

    ``titles``: one name per result (a sweep passes its short variant labels); default: the run names.
    """
    items = list(result) if isinstance(result, (list, tuple)) else [result]
    if not items:
        raise SpecError("result", "an analysis result or a non-empty list of them", result)
    if titles is None:
        titles = [r.run_name for r in items]
    elif isinstance(titles, str) or len(titles) != len(items):
        raise SpecError("titles", f"a list of {len(items)} names, one per result", titles)
    kinds = {type(r) for r in items}
    if len(kinds) != 1:
        raise SpecError("result", "results of one kind", sorted(k.__name__ for k in kinds))
    kind = kinds.pop()
    draw = DRAW.get(kind)
    if draw is None:
        raise SpecError("result", f"one of {', '.join(k.__name__ for k in DRAW)}", kind.__name__)
    return draw(items, [str(t) for t in titles])


def _subplots(n: int, titles: list[str], **kw: Any):
    from plotly.subplots import make_subplots

    # one panel needs no title of its own: the report names the run
    return make_subplots(rows=1, cols=n, subplot_titles=[_wrap(t) for t in titles] if n > 1 else None,
                         horizontal_spacing=0.08 if n > 1 else 0.02, **kw)


def _layout(fig: Any, title: str, height: int = 460, titles: list[str] | None = None) -> Any:
    """House layout; ``titles``: the column titles drawn, whose lines the top margin makes room for."""
    lines = max((t.count("<br>") + 1 for t in titles), default=0) if titles and len(titles) > 1 else 0
    fig.update_layout(title=title, template="plotly_white", height=height,
                      margin=dict(t=80 + 18 * max(lines - 1, 0), l=60, r=30, b=50),
                      legend=dict(orientation="h", yanchor="top", y=-0.14, xanchor="left", x=0))
    return fig


def _wrap(title: str, width: int = TITLE_LINE) -> str:
    """A column title broken at ", " into lines of at most ``width`` characters where it can be."""
    lines: list[str] = []
    for part in title.split(", "):
        if lines and len(lines[-1]) + 2 + len(part) <= width:
            lines[-1] += ", " + part
        else:
            lines.append(part)
    return "<br>".join(lines)


def _log10(values: np.ndarray) -> np.ndarray:
    return np.log10(np.clip(np.asarray(values, np.float64), 1e-30, None)).astype(np.float32)


def _landscape(items: list[Landscape], titles: list[str]) -> Any:
    import plotly.graph_objects as go

    lo = min(float(np.nanmin(_log10(r.loss))) for r in items)
    hi = max(float(np.nanmax(_log10(r.loss))) for r in items)
    fig = _subplots(len(items), titles)
    for i, r in enumerate(items, start=1):
        z = _log10(r.loss)
        fig.add_trace(go.Contour(x=r.alphas.astype(np.float32), y=r.betas.astype(np.float32), z=z, zmin=lo, zmax=hi,
                                 colorscale="Viridis", showscale=i == 1, ncontours=30,
                                 colorbar=dict(title="log10 loss"), line=dict(width=0.4),
                                 hovertemplate="a %{x:.3g}, b %{y:.3g}<br>log10 loss %{z:.3f}<extra></extra>"),
                      row=1, col=i)
        if r.trajectory is not None:
            fig.add_trace(go.Scatter(x=r.trajectory[:, 0], y=r.trajectory[:, 1], mode="lines+markers", showlegend=i == 1,
                                     name="training path (projected)", line=dict(color="white", width=1.5),
                                     marker=dict(size=4, color=r.steps, colorscale="Reds"),
                                     customdata=np.stack([r.steps, r.trajectory_loss], 1),
                                     hovertemplate="step %{customdata[0]}<br>loss %{customdata[1]:.4g}<extra></extra>"),
                          row=1, col=i)
        fig.add_trace(go.Scatter(x=[0], y=[0], mode="markers", name="final weights", showlegend=i == 1,
                                 marker=dict(symbol="x", size=11, color="red")), row=1, col=i)
        if r.directions == "pca" and r.explained is not None:
            fig.update_xaxes(title_text=f"PC1 ({100 * r.explained[0]:.1f}% of the path's variance)", row=1, col=i)
            fig.update_yaxes(title_text=f"PC2 ({100 * r.explained[1]:.1f}%)", row=1, col=i)
        else:
            fig.update_xaxes(title_text="a (filter-normalised direction 1)", row=1, col=i)
            fig.update_yaxes(title_text="b (direction 2)", row=1, col=i)
    what = "the training path's principal plane" if items[0].directions == "pca" else "two filter-normalised random directions"
    return _layout(fig, f"Training loss around the final weights, on {what} ({items[0].loss_name})",
                   titles=[_wrap(t) for t in titles])


def _interpolation(items: list[Interpolation], titles: list[str]) -> Any:
    import plotly.graph_objects as go

    from .figures import log_axis

    fig = _subplots(len(items), titles)
    for i, r in enumerate(items, start=1):
        fig.add_trace(go.Scatter(x=r.alphas, y=r.loss, mode="lines", name="straight line", showlegend=i == 1,
                                 line=dict(color="#1f77b4"), hovertemplate="a %{x:.3g}: %{y:.4g}<extra></extra>"),
                      row=1, col=i)
        fig.add_trace(go.Scatter(x=r.frame_alpha, y=r.frame_loss, mode="markers", name="recorded frames",
                                 showlegend=i == 1, marker=dict(size=5, color=r.steps, colorscale="Reds"),
                                 customdata=r.steps, hovertemplate="step %{customdata}: %{y:.4g}<extra></extra>"),
                      row=1, col=i)
        fig.update_xaxes(title_text="a (0: initial weights, 1: final)", row=1, col=i)
        fig.update_yaxes(title_text=f"training loss ({r.loss_name})" if i == 1 else None,
                         **log_axis(r.loss, r.frame_loss), row=1, col=i)
    return _layout(fig, "Loss on the straight line from the initial to the final weights, and the path training took",
                   height=400, titles=[_wrap(t) for t in titles])


def _spectrum(items: list[Spectrum], titles: list[str]) -> Any:
    import plotly.graph_objects as go

    fig = _subplots(len(items), titles)
    all_amps = [_log10(r.amplitude[:, r.freqs <= MAX_FREQ]) for r in items]
    lo = max(min(float(a.min()) for a in all_amps), -6.0)
    hi = max(float(a.max()) for a in all_amps)
    for i, (r, z) in enumerate(zip(items, all_amps), start=1):
        f = r.freqs[r.freqs <= MAX_FREQ]
        fig.add_trace(go.Heatmap(x=r.steps, y=f.astype(np.float32), z=z.T, zmin=lo, zmax=hi, colorscale="Magma",
                                 showscale=i == 1, colorbar=dict(title="log10 |residual|"),
                                 hovertemplate="step %{x}<br>%{y:.3g} cycles/unit<br>log10 amplitude %{z:.2f}<extra></extra>"),
                      row=1, col=i)
        fig.update_xaxes(title_text="step", row=1, col=i)
        fig.update_yaxes(title_text="frequency (cycles per unit of x)", row=1, col=i)
    return _layout(fig, "Residual spectrum through training: how much of each frequency is still unfitted",
                   titles=[_wrap(t) for t in titles])


def frequency_fit_figure(result: Spectrum, freqs: Any) -> Any:
    """Spectral bias, frequency by frequency: the residual's Fourier amplitude at each of the target's
    frequencies through training, over its amplitude at step 0 (1: nothing fitted yet, 0: fitted), with
    a marker where each first falls below half. Low frequencies are fitted first when the low curves fall first."""
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.add_hline(y=0.5, line=dict(color=THRESHOLD_GREY, dash="dot"), annotation_text="half of its start",
                  annotation_position="top right")
    for i, f in enumerate(sorted(float(v) for v in freqs)):
        j = int(np.argmin(np.abs(result.freqs - f)))
        if not np.isclose(result.freqs[j], f, rtol=1e-6, atol=1e-9):
            raise SpecError("freqs", f"frequencies on the spectrum's bins (nearest to {f:g}: {result.freqs[j]:g})", f)
        amp = result.amplitude[:, j]
        share = amp / amp[0] if amp[0] > 0 else np.full_like(amp, np.nan)
        below = np.flatnonzero(share < 0.5)
        when = f"halved at step {int(result.steps[below[0]]):,}" if len(below) else "not halved"
        colour = PALETTE[i % len(PALETTE)]
        name = f"{f:g} cycle{'s' * (f != 1)} per unit ({when})"
        fig.add_trace(go.Scatter(x=result.steps, y=share, mode="lines", name=name, line=dict(color=colour, width=2),
                                 hovertemplate="step %{x}: %{y:.3f} of the start<extra>" + f"{f:g} cycles/unit</extra>"))
        if len(below):
            fig.add_trace(go.Scatter(x=[result.steps[below[0]]], y=[share[below[0]]], mode="markers", showlegend=False,
                                     marker=dict(color=colour, size=10, symbol="circle-open", line=dict(width=2)),
                                     hoverinfo="skip"))
    fig.update_layout(title="Residual amplitude at each frequency of the target, over its amplitude at step 0",
                      template="plotly_white", height=420, legend=dict(orientation="h", y=-0.2),
                      xaxis=dict(title="step", tickformat="d"),
                      yaxis=dict(title="share still unfitted", range=[0, 1.15], tickvals=[0, 0.25, 0.5, 0.75, 1]))
    return fig


def _health(items: list[Health], titles: list[str]) -> Any:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from .figures import log_axis

    rows = [("grad_norm", "gradient norm", True), ("update_ratio", "update / weight per step", True),
            ("act_std", "activation std", False), ("dead_fraction", "dead ReLU fraction", False)]
    rows = [row for row in rows if any(r.table[row[0]].notna().any() for r in items)]  # e.g. no ReLU: no dead row
    n = len(items)
    heads = [_wrap(t) for t in titles]
    # one y axis per row, shared by the variants: a 100x gap between them shows as 100x
    fig = make_subplots(rows=len(rows), cols=n, shared_xaxes=True, shared_yaxes=True, vertical_spacing=0.05,
                        horizontal_spacing=0.03, column_titles=heads if n > 1 else None,
                        row_titles=[label for _, label, _ in rows])
    # one legend entry per (variant, layer), each its own colour and named by that variant's own layer kind:
    # net.0 of one variant and net.4.fc1 of another are different layers, even at the same depth
    pairs = list(dict.fromkeys((c, layer) for c, r in enumerate(items, start=1) for layer in r.table["layer"]))
    if len(pairs) <= len(LONG_PALETTE):
        palette = list(PALETTE if len(pairs) <= len(PALETTE) else LONG_PALETTE)
    else:  # more still: evenly spaced along one colour scale, so no two entries share a colour
        from plotly.colors import sample_colorscale

        palette = sample_colorscale("Turbo", [i / (len(pairs) - 1) for i in range(len(pairs))])
    colour = {pair: palette[i] for i, pair in enumerate(pairs)}
    shown: set[tuple[int, str]] = set()
    for c, r in enumerate(items, start=1):
        t = r.table
        kind = {layer: "/".join(dict.fromkeys(t["kind"][t["layer"] == layer])) for layer in dict.fromkeys(t["layer"])}
        for ri, (col, label, log) in enumerate(rows, start=1):
            part = t[t[col].notna()]
            for layer in dict.fromkeys(part["layer"]):
                sub = part[part["layer"] == layer]
                name = f"{layer} ({kind[layer]})" if n == 1 else f"{titles[c - 1]}: {layer} ({kind[layer]})"
                fig.add_trace(go.Scatter(x=sub["step"].to_numpy(), y=sub[col].to_numpy(np.float64), mode="lines",
                                         name=name, legendgroup=f"{c}/{layer}",
                                         showlegend=(c, layer) not in shown, line=dict(color=colour[(c, layer)]),
                                         hovertemplate=f"{titles[c - 1]}<br>{layer}<br>step %{{x}}: %{{y:.4g}}"
                                                       "<extra></extra>"),
                              row=ri, col=c)
                shown.add((c, layer))
        fig.update_xaxes(title_text="step", row=len(rows), col=c)
    for ri, (col, _, log) in enumerate(rows, start=1):
        if log:  # the same ticks on every column of the row
            fig.update_yaxes(**log_axis(*(r.table[col].to_numpy(np.float64) for r in items)), row=ri)
        elif col == "dead_fraction":  # a fraction: 0 to 1, also when every value is 0 (plotly would span -1..1)
            fig.update_yaxes(range=[-0.03, 1.03], tickvals=[0, 0.25, 0.5, 0.75, 1], row=ri)
        first = next(c for c, r in enumerate(items, start=1) if r.table[col].notna().any())
        if first > 1:  # shared axes label only the first column: here it is empty (no ReLU in that run)
            fig.update_yaxes(showticklabels=True, row=ri, col=first)
    return _layout(fig, "Layer health through training (full training batch at each recorded frame)",
                   height=220 * len(rows) + 160, titles=heads)


def _sharpness(items: list[Sharpness], titles: list[str]) -> Any:
    import plotly.graph_objects as go

    from .figures import log_axis

    fig = go.Figure()
    for i, (r, title) in enumerate(zip(items, titles)):
        fig.add_trace(go.Scatter(x=r.steps, y=r.top_eigenvalue, mode="lines+markers", marker=dict(size=4),
                                 name=f"{title}: top Hessian eigenvalue", line=dict(color=PALETTE[i % len(PALETTE)]),
                                 hovertemplate="step %{x}: %{y:.4g}<extra></extra>"))
    for i, (r, title) in enumerate(zip(items, titles)):
        # a reference, not a measurement: grey, one dash pattern per run
        label = "2/lr" if r.momentum == 0 else "(2+2 momentum)/lr"
        note = ", a reference only for Adam" if r.optimizer == "adam" else ""
        who = f"{title}: " if len(items) > 1 else ""
        fig.add_trace(go.Scatter(x=[r.steps[0], r.steps[-1]], y=[r.threshold] * 2, mode="lines",
                                 name=f"{who}edge of stability {label} = {r.threshold:.4g}{note}",
                                 line=dict(color=THRESHOLD_GREY, dash=DASHES[i % len(DASHES)], width=1.5),
                                 hovertemplate=f"{label} = {r.threshold:.4g}<extra></extra>"))
    values = [r.top_eigenvalue for r in items] + [[r.threshold] for r in items]
    fig.update_layout(xaxis_title="step", yaxis=dict(title="largest eigenvalue of the loss Hessian", **log_axis(*values)))
    return _layout(fig, "Sharpness through training against the edge of stability (Cohen et al. 2021)", height=420)


DRAW = {Landscape: _landscape, Interpolation: _interpolation, Spectrum: _spectrum, Health: _health, Sharpness: _sharpness}
register_renderer(figure)

CAPTIONS = {
    "landscape": "The training loss around the final weights on the plane of the training path's two principal "
                 "directions, with the path projected onto it (eval mode, full training set).",
    "interpolation": "The loss on the straight line from the initial to the final weights, and where each recorded "
                     "frame projects onto it: training does not walk the straight line.",
    "random": "The same loss on two filter-normalised random directions (Li et al. 2018).",
    "spectrum": "Fourier amplitudes of target minus prediction on a uniform grid, at every recorded frame.",
    "frequencies": "Spectral bias, frequency by frequency: the residual's Fourier amplitude at each sine of the "
                   "target, on one whole period, through training. The lower the frequency, the sooner it is fitted.",
    "health": "Per layer: gradient norm, update-to-weight ratio per step, activation spread, and dead ReLU units.",
    "sharpness": "The largest Hessian eigenvalue of the training loss, by power iteration on Hessian-vector products.",
}


def analysis_figures(run: Any, what: tuple[str, ...] | list[str]) -> list[tuple[str, Any]]:
    """(caption, figure) pairs of the named analyses of ``run`` (landscape also draws the line and a
    random slice). Raises what the analyses raise (a `SpecError` naming what the run lacks)."""
    from .. import analysis as A

    out: list[tuple[str, Any]] = []
    for name in what:
        if name == "landscape":
            out.append((CAPTIONS["landscape"], A.landscape(run, directions="pca").figure()))
            out.append((CAPTIONS["interpolation"], A.interpolation(run).figure()))
            out.append((CAPTIONS["random"], A.landscape(run, directions="random").figure()))
        elif name == "spectrum":
            out.append((CAPTIONS["spectrum"], A.spectrum(run).figure()))
        elif name == "frequencies":  # a target built of known sines: each one's residual through training
            freqs = (getattr(run.data, "params", None) or {}).get("freqs")
            if not freqs:
                raise SpecError("data.params.freqs", "the target's frequencies (data 'sines')", None)
            out.append((CAPTIONS["frequencies"], frequency_fit_figure(A.spectrum(run, domain="grid"), freqs)))
        elif name == "health":
            out.append((CAPTIONS["health"], A.health(run).figure()))
        elif name == "sharpness":
            out.append((CAPTIONS["sharpness"], A.sharpness(run).figure()))
        else:
            raise SpecError("--what", f"names from {', '.join(A.ANALYSES)}", name)
    return out


def course_panels(run: Any) -> list[tuple[str, Any]]:
    """The analyses a course preset's report shows (COURSE_PANELS); those the run cannot give are skipped."""
    spec = run.spec if isinstance(run.spec, dict) else {}
    name = str(spec.get("name", ""))
    what = next((v for prefix, v in COURSE_PANELS.items() if name.startswith(prefix)), ())
    out: list[tuple[str, Any]] = []
    for item in what:
        try:
            out += analysis_figures(run, [item])
        except MlplabError:
            continue  # e.g. a run recorded without snapshots: the report shows what it can
    return out


def write_comparison(runs: list[Any], figures: list[tuple[str, Any]], path: Any, title: str) -> Any:
    """One self-contained page: the runs compared (name, steps, final loss, model) and side-by-side figures."""
    from pathlib import Path

    from .report import _esc, _number, _page, figure_div

    rows = "".join(
        f"<tr><td>{_esc(r.name)}</td><td>{_number(r.steps)}</td><td>{_number(r.final_loss)}</td>"
        f"<td>{_esc(_model_line(r))}</td></tr>" for r in runs)
    parts = [f"<header><h1>{_esc(title)}</h1></header>",
             f"<section><h2>Runs</h2><table><tr><th>run</th><th>steps</th><th>final loss</th><th>model</th></tr>"
             f"{rows}</table></section>"]
    for caption, fig in figures:
        parts.append(f'<section><figure><div class="plot">{figure_div(fig)}</div>'
                     f"<figcaption>{_esc(caption)}</figcaption></figure></section>")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(_page(title, "".join(parts), with_plotly=True), encoding="utf-8")
    return out


def _model_line(run: Any) -> str:
    m = (run.spec or {}).get("model") or {}
    widths = [m.get("in_dim"), *m.get("hidden", []), m.get("out_dim")]
    keys = ("activation", "residual", "norm", "init", "poly_degree") if m.get("hidden") else ("init", "poly_degree")
    extra = [f"{k}={m[k]}" for k in keys if m.get(k) not in (None, False, "none", "default", 0)]
    return "-".join(str(w) for w in widths if w is not None) + (", " + ", ".join(extra) if extra else "")
