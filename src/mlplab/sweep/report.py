"""A sweep's report: one self-contained HTML page comparing variants over their seeds.

Final loss per variant (table and dot plot), loss curves (median line and 25-75% band per variant),
a small-multiples grid of output animations on one shared slider, and one sentence per pair of
variants whose difference a test says the seed spread does not explain. plotly.js is inlined once (``mlplab.viz.report``).
"""

from __future__ import annotations

import itertools
import os
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import SpecError
from .spec import SEED_KEYS

MAX_PANELS = 12  # animation panels: one per variant, beyond this the grid is unreadable
ANIMATION_FRAMES = 30
CURVE_POINTS = 400
CONTROLS_PX = 110  # bottom margin of the animation grid: room for its play buttons and slider
AXIS_LABELS_PX = 36  # the bottom row's tick labels take about this much height under the axes


def summarize(frame) -> Any:
    """One row per variant: runs, median / min / max / quartiles of the final loss, and median metrics."""
    import pandas as pd

    ok = frame[frame.status.isin(["finished", "stopped early"]) & frame.final_loss.notna()]
    metric_cols = [c for c in ok.columns if c.startswith(("train_", "val_", "test_")) and c not in ("train_s",)]
    rows = []
    for label, g in ok.groupby("variant", sort=False):
        loss = g.final_loss.to_numpy(float)
        row = {"variant": label, "runs": len(g), "median": float(np.median(loss)), "q25": float(np.quantile(loss, 0.25)),
               "q75": float(np.quantile(loss, 0.75)), "min": float(loss.min()), "max": float(loss.max())}
        row.update({m: float(g[m].median()) for m in metric_cols if g[m].notna().any()})
        rows.append(row)
    failed = frame[~frame.index.isin(ok.index)]
    for label, g in failed.groupby("variant", sort=False):
        if label not in {r["variant"] for r in rows}:
            rows.append({"variant": label, "runs": 0})
    return pd.DataFrame.from_records(rows)


MIN_RUNS = 3  # fewer runs per variant than this are never evidence of a difference
ALPHA = 0.05  # family-wise error rate over all the pairs of one sweep


def _flat(values: np.ndarray) -> bool:
    """All equal up to float rounding (a spread below 1e-9 of their size)."""
    return float(np.ptp(values)) <= 1e-9 * max(1.0, float(np.abs(values).max()))


def comparisons(frame, max_sentences: int = 12) -> list[str]:
    """Sentences for pairs of variants whose final losses differ by more than the seed spread explains.

    Decided by Welch's t-test on log10(final loss) (losses differ by factors, and the log makes their
    spread comparable across variants), two-sided, with Holm's correction over every pair of the sweep
    at a family-wise ``ALPHA``; variants with fewer than ``MIN_RUNS`` finished runs are never compared.
    Two variants whose runs are all identical (seed-independent) differ exactly, or not at all. Runs are
    paired by seed where the sweep varies one, so "k/n seeds" counts head-to-head wins.
    """
    from scipy.stats import ttest_ind

    ok = frame[frame.status.isin(["finished", "stopped early"]) & frame.final_loss.notna()]
    seed_col = next((c for c in SEED_KEYS if c in ok.columns), None)
    groups = {label: g for label, g in ok.groupby("variant", sort=False) if len(g) >= MIN_RUNS}
    logs = {k: np.log10(np.maximum(g.final_loss.to_numpy(float), 1e-300)) for k, g in groups.items()}
    tests = []
    for a, b in itertools.combinations(groups, 2):
        la, lb = logs[a], logs[b]
        if _flat(la) and _flat(lb):  # seed-independent runs (stalled sigmoids): equal up to rounding, or not
            p = 0.0 if not _flat(np.array([la[0], lb[0]])) else 1.0
        else:
            with warnings.catch_warnings():  # one flat group makes scipy fear cancellation; its variance is ~0
                warnings.simplefilter("ignore", RuntimeWarning)
                p = float(ttest_ind(la, lb, equal_var=False).pvalue)
        tests.append((p if p == p else 1.0, a, b))
    tests.sort(key=lambda t: t[0])
    found = []
    for rank, (p, a, b) in enumerate(tests):
        if p > ALPHA / (len(tests) - rank):  # Holm: once one pair fails, every larger p-value fails too
            break
        ma, mb = float(np.median(groups[a].final_loss)), float(np.median(groups[b].final_loss))
        if ma == mb:
            continue
        better, worse = (a, b) if ma < mb else (b, a)
        gb, gw = groups[better], groups[worse]
        if seed_col is not None:
            joined = gb[[seed_col, "final_loss"]].merge(gw[[seed_col, "final_loss"]], on=seed_col, suffixes=("_b", "_w"))
            wins, n = int((joined.final_loss_b < joined.final_loss_w).sum()), len(joined)
            unit = "seeds"
        if seed_col is None or n == 0:
            wins, n = int((gb.final_loss.to_numpy()[:, None] < gw.final_loss.to_numpy()[None, :]).sum()), len(gb) * len(gw)
            unit = "pairs of runs"
        gap = abs(mb - ma) / max(min(ma, mb), 1e-300)
        found.append((gap, f"{better} reaches a lower loss than {worse} in {wins}/{n} {unit}; median "
                           f"{min(ma, mb):.3g} vs {max(ma, mb):.3g} (Welch's t-test on log loss, p = {p:.2g}, "
                           f"Holm-corrected over {len(tests)} pairs)."))
    found.sort(key=lambda t: -t[0])
    return [s for _, s in found[:max_sentences]]


# ---------------------------------------------------------------- figures


def dot_plot(frame):
    import plotly.graph_objects as go

    from ..viz.figures import log_axis

    ok = frame[frame.final_loss.notna()]
    fig = go.Figure()
    summary = summarize(frame)
    order = list(summary.sort_values("median").variant) if "median" in summary else []
    fig.add_trace(go.Scatter(x=ok.final_loss, y=ok.variant, mode="markers", name="one run (seed)",
                             marker=dict(size=7, opacity=0.55), text=ok.name, hoverinfo="text+x"))
    if order:
        s = summary.set_index("variant").loc[order]
        fig.add_trace(go.Scatter(x=s["median"], y=order, mode="markers", name="median",
                                 marker=dict(symbol="line-ns", size=18, line=dict(width=3, color="black"))))
    positive = bool(len(ok)) and bool((ok.final_loss > 0).all())
    fig.update_layout(title="Final training loss per variant", xaxis_title="final loss" + (" (log)" if positive else ""),
                      height=160 + 34 * max(1, len(order)), margin=dict(l=10, r=10, t=50, b=40),
                      yaxis=dict(categoryorder="array", categoryarray=order[::-1], automargin=True))
    if positive:
        fig.update_xaxes(**log_axis(ok.final_loss))
    return fig


def loss_curves(frame, runs: dict[str, Any]):
    """Median training loss per variant over steps, with the 25-75% band over its seeds."""
    import plotly.colors as pc
    import plotly.graph_objects as go

    from ..viz.figures import log_axis

    fig = go.Figure()
    palette = pc.qualitative.Plotly
    shown = []
    for i, (label, g) in enumerate(frame.groupby("variant", sort=False)):
        curves = [runs[r].losses for r in g.run_id if r in runs and len(runs[r].losses)]
        if not curves:
            continue
        steps = min(len(c) for c in curves)
        stack = np.stack([np.asarray(c[:steps], float) for c in curves])  # (seeds, steps)
        idx = np.unique(np.linspace(0, steps - 1, min(steps, CURVE_POINTS)).astype(int))
        lo, mid, hi = (np.nanquantile(stack[:, idx], q, axis=0) for q in (0.25, 0.5, 0.75))
        color = palette[i % len(palette)]
        fig.add_trace(go.Scatter(x=np.r_[idx, idx[::-1]], y=np.r_[hi, lo[::-1]], fill="toself", line=dict(width=0),
                                 fillcolor=color, opacity=0.2, hoverinfo="skip", showlegend=False, legendgroup=label))
        fig.add_trace(go.Scatter(x=idx, y=mid, mode="lines", name=f"{label} ({len(curves)})", line=dict(color=color),
                                 legendgroup=label))
        shown += [lo, hi]
    fig.update_layout(title="Training loss: median over seeds, band = 25-75%", xaxis_title="step",
                      yaxis_title="loss (log)", height=460, margin=dict(l=10, r=10, t=50, b=40))
    fig.update_yaxes(**log_axis(*shown))
    return fig


def _panel_xy(run: Any, frame_index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """What one animation panel draws at a frame: x, y and an optional colour per training point."""
    pred = run.frames[frame_index]  # (n, d_out)
    X = run.data.X if run.data is not None else None
    if pred.shape[1] >= 2:
        return pred[:, 0], pred[:, 1], None  # the mapped plane (notebook 000's view)
    if X is not None and X.shape[1] == 1:
        order = np.argsort(X[:, 0])
        return X[order, 0], pred[order, 0], None  # a fitted curve
    if X is not None and X.shape[1] >= 2:
        return X[:, 0], X[:, 1], pred[:, 0]  # points coloured by the output
    return np.arange(len(pred)), pred[:, 0], None


def animation_grid(frame, runs: dict[str, Any]):
    """One panel per variant (its first seed), all driven by one slider over training progress."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    panels = []
    for label, g in frame.groupby("variant", sort=False):
        run = next((runs[r] for r in g.run_id if r in runs and runs[r].frames is not None and len(runs[r].frames)), None)
        if run is not None:
            panels.append((label, run))
    panels = panels[:MAX_PANELS]
    if not panels:
        return None
    cols = min(4, len(panels))
    rows = -(-len(panels) // cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[p[0] for p in panels],
                        horizontal_spacing=0.04, vertical_spacing=0.12 / rows + 0.03)
    k = ANIMATION_FRAMES

    def fraction_index(run: Any, j: int) -> int:
        return int(round(j * (len(run.frames) - 1) / max(k - 1, 1)))

    def traces(j: int) -> list:
        out = []
        for label, run in panels:
            x, y, c = _panel_xy(run, fraction_index(run, j))
            is_curve = run.frames.shape[2] == 1 and run.data is not None and run.data.X.shape[1] == 1
            marker = dict(size=4, color=c, colorscale="RdBu", cmin=0, cmax=1) if c is not None else dict(size=4)
            out.append(go.Scatter(x=x, y=y, mode="lines+markers" if is_curve else "markers", marker=marker,
                                  showlegend=False, hoverinfo="skip"))
        return out

    for i, tr in enumerate(traces(0)):
        fig.add_trace(tr, row=i // cols + 1, col=i % cols + 1)
    for i, (_, run) in enumerate(panels):  # fix the axes to the whole animation's range
        xs, ys = zip(*[_panel_xy(run, f)[:2] for f in range(len(run.frames))])
        xs, ys = np.concatenate(xs), np.concatenate(ys)
        fin = np.isfinite(xs) & np.isfinite(ys)
        if fin.any():
            pad = lambda a: 0.05 * (a.max() - a.min() or 1.0)  # noqa: E731
            fig.update_xaxes(range=[xs[fin].min() - pad(xs[fin]), xs[fin].max() + pad(xs[fin])], row=i // cols + 1, col=i % cols + 1)
            fig.update_yaxes(range=[ys[fin].min() - pad(ys[fin]), ys[fin].max() + pad(ys[fin])], row=i // cols + 1, col=i % cols + 1)
    labels = [f"{round(100 * j / (k - 1))}%" for j in range(k)]
    fig.frames = [go.Frame(data=traces(j), name=labels[j], traces=list(range(len(panels)))) for j in range(k)]
    # the controls go below the bottom row's tick labels, in a margin kept for them
    height, top, bottom = 260 * rows + 200, 70, CONTROLS_PX
    below = -AXIS_LABELS_PX / (height - top - bottom)  # paper coordinates of a point that far under the axes
    fig.update_layout(
        title="Outputs on the training inputs as training goes (first seed of each variant)",
        height=height, margin=dict(l=10, r=10, t=top, b=bottom),
        updatemenus=[dict(type="buttons", x=0, y=below, xanchor="left", yanchor="top", direction="left", buttons=[
            dict(label="Play", method="animate", args=[None, dict(frame=dict(duration=120, redraw=False), fromcurrent=True)]),
            dict(label="Pause", method="animate", args=[[None], dict(mode="immediate", frame=dict(duration=0))]),
        ])],
        sliders=[dict(x=0.12, len=0.88, y=below, yanchor="top", currentvalue=dict(prefix="training: "), steps=[
            dict(label=lab, method="animate", args=[[lab], dict(mode="immediate", frame=dict(duration=0, redraw=False))])
            for lab in labels])],
    )
    return fig


# ---------------------------------------------------------------- the page


def collect_runs(frame, store: Any = None) -> dict[str, Any]:
    """run_id -> Run, from the frame's ``run`` column or from the store (only runs that load cleanly)."""
    runs: dict[str, Any] = {}
    if "run" in frame.columns:
        runs.update({i: r for i, r in zip(frame.run_id, frame.run) if r is not None and not _isnan(r)})
    if store is not None:
        for i in frame.run_id:
            if i not in runs and store.done(i):
                runs[i] = store.load(i)
    return runs


def write_sweep_report(frame, path: str | os.PathLike, *, store: Any = None, title: str | None = None) -> Path:
    """Write the sweep report for ``frame`` (what `mlplab.sweep.sweep` returns) to ``path`` (.html or a folder)."""
    from ..viz.report import _esc, _page, _target, figure_div

    if not hasattr(frame, "columns") or not {"run_id", "variant", "final_loss", "status"} <= set(frame.columns):
        raise SpecError("frame", "the DataFrame returned by mlplab.sweep.sweep", type(frame).__name__)
    if store is not None and not hasattr(store, "load"):
        from ..store import Store

        store = Store(store)
    runs = collect_runs(frame, store)
    heading = title or frame.attrs.get("sweep") or "sweep"
    counts = frame.status.value_counts().to_dict()
    parts = [f"<header><h1>{_esc(heading)}</h1><p class=\"sub\">{len(frame)} runs, "
             + ", ".join(f"{v} {_esc(k)}" for k, v in counts.items()) + "</p></header>"]
    sentences = comparisons(frame)
    found = "".join(f"<li>{_esc(s)}</li>" for s in sentences) or \
        "<li>No difference between variants is larger than the spread over seeds.</li>"
    parts.append(f"<section><h2>What differs beyond the seed spread</h2><ul>{found}</ul></section>")
    summary = summarize(frame)
    if len(summary):
        cols = [c for c in summary.columns if c != "variant"]
        head = "".join(f"<th>{_esc(c)}</th>" for c in ["variant"] + cols)
        body = "".join("<tr>" + f"<td>{_esc(r['variant'])}</td>" + "".join(f"<td>{_fmt(r.get(c))}</td>" for c in cols)
                       + "</tr>" for _, r in summary.iterrows())
        parts.append(f"<section><h2>Final loss per variant</h2><table><tr>{head}</tr>{body}</table></section>")
        parts.append(f'<section><div class="plot">{figure_div(dot_plot(frame))}</div></section>')
    if runs:
        parts.append(f'<section><div class="plot">{figure_div(loss_curves(frame, runs))}</div></section>')
        grid = animation_grid(frame, runs)
        if grid is not None:
            parts.append(f'<section><div class="plot">{figure_div(grid)}</div></section>')
        parts += analysis_sections(frame, runs, figure_div)
    out = _target(path, "sweep.html")
    out.write_text(_page(heading, "".join(parts), with_plotly=True), encoding="utf-8")
    return out


# Analyses in a sweep report: one run per variant (its first finished seed), at most this many variants
MAX_ANALYSED_VARIANTS = 6


def analysis_sections(frame, runs: dict[str, Any], figure_div) -> list[str]:
    """The loss landscape around each variant's trained model (a filter-normalised random slice: it
    needs only the final weights) and layer health through training (it needs recorded snapshots),
    variants side by side."""
    from .. import analysis as A
    from ..errors import MlplabError
    from ..viz.report import _esc

    chosen: dict[str, Any] = {}
    for _, row in frame.iterrows():
        run = runs.get(row["run_id"])
        if run is not None and row["status"] == "finished" and row["variant"] not in chosen:
            chosen[row["variant"]] = run
    chosen = dict(list(chosen.items())[:MAX_ANALYSED_VARIANTS])
    if not chosen:
        return []
    parts = []
    for name, title, compute in (
        ("landscape", "Loss landscape around each variant's trained model (first seed)",
         lambda r: A.landscape(r, directions="random")),
        ("health", "Layer health through training (first seed)", A.health),
    ):
        results, labels, missing = [], [], []
        for variant, run in chosen.items():
            try:
                results.append(compute(run))
                labels.append(variant)
            except MlplabError as exc:
                missing.append(f"{variant}: {exc}")
        body = f'<div class="plot">{figure_div(A.figure(results, titles=labels))}</div>' if results else ""
        note = "".join(f"<li>{_esc(m)}</li>" for m in missing[:3])
        parts.append(f"<section><h2>{_esc(title)}</h2>{body}" + (f"<ul>{note}</ul>" if note else "") + "</section>")
    return parts


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "–"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    return f"{float(v):.4g}"


def _isnan(v: Any) -> bool:
    return isinstance(v, float) and np.isnan(v)


def runs_frame(runs: Sequence[Any]):
    """A minimal sweep frame from plain Runs (variant = run name), for reports of hand-picked runs."""
    import pandas as pd

    return pd.DataFrame.from_records([{"run_id": str(i), "name": r.name, "variant": r.name, "status": r.status,
                                       "final_loss": r.final_loss, "run": r, **r.metrics} for i, r in enumerate(runs)])
