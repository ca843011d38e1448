"""Pictures of exact linear regions: the region map, its animation through training, counts vs bounds.

Polygons are drawn a few traces at a time (one per colour, polygons separated by gaps), which keeps a
map of thousands of regions fast; hover comes from one invisible marker per region at its centroid.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import SpecError
from ..geometry import Regions, default_box, linear_regions, snapshot_models

# Colours for "pattern": pastel enough for data points on top, different enough to tell apart. A map
# of regions that touch along edges is planar, so a greedy colouring in smallest-last order needs at
# most 6 colours (every planar graph has a vertex of degree <= 5); 8 leaves room for near-coincident
# lines the adjacency test joins. Maps of at most 8 regions give every region its own colour.
PALETTE = ("#8dd3c7", "#ffe680", "#bebada", "#fb8072", "#80b1d3", "#fdb462", "#b3de69", "#e5a8d0")
PALETTE_SIZE = len(PALETTE)
OUTPUT_LEVELS = 16  # colour bins for "output"
HOVER_REGIONS = 64  # animation frames name each region's pattern on hover only up to this many regions
COLORS = ("pattern", "output")


def _gapped(xy: np.ndarray, counts: np.ndarray, starts: np.ndarray, keep: np.ndarray) -> tuple[list, list]:
    """x, y lists of the kept polygons, each closed and followed by a None gap."""
    idx = np.flatnonzero(keep)
    if len(idx) == 0:
        return [], []
    cnt = counts[idx]
    # per polygon: its vertices, its first vertex again, then a gap
    pos = np.concatenate([[0], np.cumsum(cnt + 2)[:-1]])
    total = int((cnt + 2).sum())
    out = np.full((total, 2), np.nan)
    offset = np.arange(int(cnt.sum())) - np.repeat(np.cumsum(cnt) - cnt, cnt)  # index within its polygon
    src = np.repeat(starts[idx], cnt) + offset
    dst = np.repeat(pos, cnt) + offset
    out[dst] = xy[src]
    out[pos + cnt] = xy[starts[idx]]
    obj = out.astype(object)
    obj[pos + cnt + 1] = None
    return obj[:, 0].tolist(), obj[:, 1].tolist()


def _group_of(regions: Regions, color: str, colours: np.ndarray | None = None
              ) -> tuple[np.ndarray, list[str], np.ndarray | None]:
    """Colour group per region, the group colours, and the coloured value (output mode)."""
    from plotly.colors import sample_colorscale

    if color == "pattern":
        return (region_colours(regions) if colours is None else colours), list(PALETTE), None
    value = _score(regions, regions.centroids())
    lo, hi = float(value.min()), float(value.max())
    span = hi - lo if hi > lo else 1.0
    group = np.minimum(((value - lo) / span * OUTPUT_LEVELS).astype(int), OUTPUT_LEVELS - 1)
    palette = sample_colorscale("RdBu_r", [(k + 0.5) / OUTPUT_LEVELS for k in range(OUTPUT_LEVELS)])
    return group, palette, value


def region_colours(regions: Regions, previous: dict[bytes, int] | None = None) -> np.ndarray:
    """(R,) palette index per region; regions sharing an edge segment never share a colour.

    networkx's greedy colouring (smallest-last order) of the region adjacency graph; with no more
    regions than colours, each region gets its own. ``previous`` (`colour_memory` of the frame before,
    in an animation) asks each region whose activation pattern was already on screen to keep its colour
    where no neighbour holds it, so a region does not change colour from one frame to the next merely
    because the colouring was recomputed.
    """
    import networkx as nx

    from ..geometry.adjacency import region_adjacency

    n = len(regions)
    if n <= PALETTE_SIZE and not previous:
        return np.arange(n)
    graph = nx.Graph()
    graph.add_nodes_from(range(n))
    if n <= PALETTE_SIZE:  # every region its own colour: as if all touched
        graph.add_edges_from((i, j) for i in range(n) for j in range(i + 1, n))
    else:
        graph.add_edges_from(region_adjacency(regions).tolist())
    if previous:
        kept = _keep_colours(graph, regions, previous)
        if kept is not None:
            return kept
    found = nx.greedy_color(graph, strategy="smallest_last")
    colours = np.array([found[i] for i in range(n)])
    if colours.max() >= PALETTE_SIZE:  # not planar after all (near-coincident lines): try harder
        found = nx.greedy_color(graph, strategy="saturation_largest_first")
        colours = np.array([found[i] for i in range(n)])
    return colours % PALETTE_SIZE


def colour_memory(regions: Regions, colours: np.ndarray) -> dict[bytes, int]:
    """Activation pattern -> palette index, for the next frame's `region_colours`."""
    return {bits.tobytes(): int(c) for bits, c in zip(regions.pattern_bits, colours)}


def _keep_colours(graph, regions: Regions, previous: dict[bytes, int]) -> np.ndarray | None:
    """Greedy colouring in smallest-last order where each region first tries its previous colour; None
    when that would need more colours than the palette has (the caller then colours afresh)."""
    import networkx as nx

    colours = np.full(len(regions), -1)
    for node in nx.coloring.strategy_smallest_last(graph, {}):
        used = {int(colours[m]) for m in graph[node] if colours[m] >= 0}
        want = previous.get(regions.pattern_bits[node].tobytes())
        if want is not None and want not in used:
            colours[node] = want
            continue
        free = next((c for c in range(PALETTE_SIZE) if c not in used), None)
        if free is None:
            return None
        colours[node] = free
    return colours


def _score(regions: Regions, points: np.ndarray) -> np.ndarray:
    """The coloured scalar at points of each region: the logit, or the logit margin of class 1 over 0."""
    out = np.einsum("rok,rk->ro", regions.A, points) + regions.c  # (R, d_out)
    return out[:, 0] if out.shape[1] == 1 else out[:, 1] - out[:, 0] if out.shape[1] == 2 else out.argmax(1)


def boundary_segments(regions: Regions) -> np.ndarray:
    """(m, 2, 2) pieces of the exact decision boundary (logit = 0, or logit_1 = logit_0), one per region.

    Only for one or two outputs (binary classification); empty otherwise.
    """
    d_out = regions.A.shape[1]
    if d_out not in (1, 2):
        return np.zeros((0, 2, 2))
    a = regions.A[:, 0] if d_out == 1 else regions.A[:, 1] - regions.A[:, 0]  # (R, 2)
    b = regions.c[:, 0] if d_out == 1 else regions.c[:, 1] - regions.c[:, 0]
    counts = regions.counts
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pid = np.repeat(np.arange(len(counts)), counts)
    xy = regions.xy
    s = (xy * a[pid]).sum(1) + b[pid]  # (nv,) the score at every vertex of its own region
    nxt = np.arange(len(xy)) + 1
    nxt[starts + counts - 1] = starts
    up = s > 0
    cross = np.flatnonzero(up != up[nxt])
    t = s[cross] / (s[cross] - s[nxt[cross]])
    p = xy[cross] + t[:, None] * (xy[nxt[cross]] - xy[cross])  # (k, 2)
    owner = pid[cross]
    two = np.flatnonzero(np.bincount(owner, minlength=len(counts)) == 2)  # a convex region is crossed twice
    first = np.searchsorted(owner, two)
    return np.stack([p[first], p[first + 1]], axis=1)


def regions_phrase(n: int) -> str:
    """ "1 linear region", "4 linear regions"."""
    return f"{n:,} linear region{'s' * (n != 1)}"


THIN = 0.006  # a region narrower than this share of the box's shorter side is a hairline on a ~600 px map


def thin_regions(regions: Regions, share: float = THIN) -> np.ndarray:
    """(R,) bool: regions too thin to see filled, their mean width (2 area / perimeter: a sliver's width,
    half a square's side) under ``share`` of the box's shorter side. The map outlines them."""
    (x0, x1), (y0, y1) = regions.box
    starts = np.concatenate([[0], np.cumsum(regions.counts)[:-1]]).astype(np.int64)
    nxt = np.arange(len(regions.xy)) + 1
    nxt[starts + regions.counts - 1] = starts  # each polygon's last vertex joins its first
    edges = np.sqrt(((regions.xy[nxt] - regions.xy) ** 2).sum(1))
    perimeter = np.add.reduceat(edges, starts) if len(starts) else np.zeros(0)
    width = 2 * regions.areas / np.maximum(perimeter, 1e-300)
    return width < share * min(x1 - x0, y1 - y0)


def regions_title(regions: Regions) -> str:
    """ "9 linear regions (7 too thin to see filled: outlined in black)", or just the count."""
    thin = int(thin_regions(regions).sum())
    note = f" ({thin} too thin to see filled: outlined in black)" if thin else ""
    return regions_phrase(len(regions)) + note


def region_traces(
    regions: Regions, data: Any = None, *, color: str = "pattern", show_boundary: bool = True, hover: str = "full",
    colours: np.ndarray | None = None,
) -> list:
    """The traces of a region map, always in the same number and order (so frames can swap them).

    ``show_boundary``: draw the decision boundary (only meaningful for a binary classifier; the trace is
    there, empty, otherwise). ``hover``: "full" (pattern, area and affine map) or "pattern" (animations:
    a fraction of the bytes; nothing beyond HOVER_REGIONS regions).
    """
    import plotly.graph_objects as go

    if color not in COLORS:
        raise SpecError("color", f"one of {', '.join(COLORS)}", color)
    group, palette, value = _group_of(regions, color, colours)
    starts = np.concatenate([[0], np.cumsum(regions.counts)[:-1]])
    traces: list = []
    edge = dict(color="rgba(255,255,255,0.9)", width=0.6)
    for k, col in enumerate(palette):
        x, y = _gapped(regions.xy, regions.counts, starts, group == k)
        traces.append(
            go.Scatter(x=x, y=y, mode="lines", fill="toself", fillcolor=col, line=edge, hoverinfo="skip",
                       showlegend=False, name=f"regions {k}")
        )
    thin = thin_regions(regions)  # hairline regions: a dark outline, so a map never hides most of its count
    x, y = _gapped(regions.xy, regions.counts, starts, thin)
    traces.append(go.Scatter(x=x, y=y, mode="lines", line=dict(color="#222", width=1.2), hoverinfo="skip",
                             name=f"thin regions, outlined ({int(thin.sum())})", showlegend=bool(thin.any())))
    seg = boundary_segments(regions) if show_boundary else np.zeros((0, 2, 2))
    bx = np.full((len(seg), 3), np.nan).astype(object)
    by = bx.copy()
    bx[:, :2], by[:, :2] = seg[:, :, 0], seg[:, :, 1]
    bx[:, 2] = by[:, 2] = None
    traces.append(
        go.Scatter(x=bx.ravel().tolist(), y=by.ravel().tolist(), mode="lines", line=dict(color="black", width=2.5),
                   name="decision boundary", hoverinfo="skip", showlegend=len(seg) > 0)
    )
    cen = regions.centroids()
    patterns = regions.pattern_strings()
    if hover == "full":
        text = [
            f"pattern {p}<br>area {ar:.3g}<br>" + "<br>".join(
                f"y{o} = {A[o, 0]:+.3g} x1 {A[o, 1]:+.3g} x2 {c[o]:+.3g}" for o in range(min(len(c), 4))
            )
            for p, ar, A, c in zip(patterns, regions.areas, regions.A, regions.c)
        ]
    elif len(regions) <= HOVER_REGIONS:
        text = patterns
    else:  # a big map in an animation: hovering its static map (full detail) is the way in
        cen, text = cen[:0], []
    marker: dict[str, Any] = dict(size=6, opacity=0)
    if value is not None:  # the colour bar of the "output" colouring (its range holds without markers too)
        marker.update(color=value[: len(cen)], cmin=float(value.min()), cmax=float(value.max()), colorscale="RdBu_r",
                      showscale=True, colorbar=dict(title="logit", thickness=12))
    traces.append(
        go.Scatter(x=cen[:, 0].astype(np.float32), y=cen[:, 1].astype(np.float32), mode="markers", marker=marker,
                   hovertext=text, hoverinfo="text", name="regions", showlegend=False)
    )
    traces.extend(_data_traces(regions, data, colorbar=value is None))
    return traces


def _data_traces(regions: Regions, data: Any, colorbar: bool = True) -> list:
    import plotly.graph_objects as go

    from .figures import CLASS_COLORS

    if data is None:
        return []
    X, y = (data.X, data.y) if hasattr(data, "X") else data
    X = np.asarray(X, dtype=np.float64)
    if regions.basis is not None:  # a slice: show the data projected onto the plane
        X = (X - regions.origin) @ regions.basis
    if X.ndim != 2 or X.shape[1] != 2:
        raise SpecError("data", "inputs with 2 columns (or a slice's input size)", f"shape {X.shape}")
    y = np.asarray(y)
    style = dict(size=6, line=dict(color="white", width=0.6))
    if y.ndim == 1 and y.dtype.kind in "iub":
        return [
            go.Scatter(x=X[y == c, 0], y=X[y == c, 1], mode="markers", name=f"class {c}",
                       marker=dict(color=CLASS_COLORS[int(c) % len(CLASS_COLORS)], **style))
            for c in np.unique(y)
        ]
    # regression: each training input, coloured by its target's first coordinate (say so on the map)
    target = y.reshape(len(y), -1)[:, 0].astype(np.float32)
    what = "target y1" if y.reshape(len(y), -1).shape[1] > 1 else "target y"
    bar = dict(title=dict(text=what), thickness=12, x=1.02) if colorbar else None
    return [go.Scatter(x=X[:, 0].astype(np.float32), y=X[:, 1].astype(np.float32), mode="markers",
                       name=f"training inputs, coloured by {what}",
                       marker=dict(color=target, colorscale="Viridis", showscale=colorbar, colorbar=bar, **style),
                       hovertemplate=f"(%{{x:.3g}}, %{{y:.3g}})<br>{what} %{{marker.color:.3g}}<extra></extra>")]


def _layout(fig, regions: Regions, title: str) -> None:
    (x0, x1), (y0, y1) = regions.box
    axis = "u" if regions.basis is not None else "x"
    fig.update_layout(
        title=title, template="plotly_white", width=640, height=600,
        xaxis=dict(range=[x0, x1], title=f"{axis}1", constrain="domain"),
        yaxis=dict(range=[y0, y1], title=f"{axis}2", scaleanchor="x", scaleratio=1),
        legend=dict(orientation="h", x=0, y=1.0, yanchor="bottom"),  # above: the controls of an animation go below
    )


def _is_binary(regions: Regions, data: Any) -> bool:
    """Whether a decision boundary means something: a binary classifier (class labels, or a sigmoid /
    two-way softmax output). A 2-D -> 2-D regression has none."""
    if regions.A.shape[1] not in (1, 2):
        return False
    if data is not None:
        y = np.asarray(data.y if hasattr(data, "y") else data[1])
        return y.ndim == 1 and y.dtype.kind in "iub" and len(np.unique(y)) <= 2
    return regions.out_activation in ("Sigmoid", "Softmax")


def region_map(regions: Regions, data: Any = None, color: str = "pattern", show_boundary: bool | None = None):
    """Every linear region filled (by pattern, or by the logit at its centroid), the data on top, and
    the exact decision boundary of a binary classifier. Hover a region for its pattern and map.

    data: a Dataset, or (X, y) with X (n, 2) (or the slice's input size, projected).
    show_boundary: default: only for a binary classifier.
    """
    import plotly.graph_objects as go

    if show_boundary is None:
        show_boundary = _is_binary(regions, data)

    fig = go.Figure(region_traces(regions, data, color=color, show_boundary=show_boundary))
    extra = f", {regions.slivers} slivers merged" if regions.slivers else ""
    _layout(fig, regions, f"{regions_title(regions)}{extra}")
    return fig


def _snapshots(run, box, max_frames: int) -> list[tuple[int, Regions]]:
    box = default_box(run) if box is None else box
    found = [(step, linear_regions(model, box)) for step, model in snapshot_models(run)]
    if len(found) > max_frames:
        keep = np.unique(np.linspace(0, len(found) - 1, max_frames).round().astype(int))
        found = [found[i] for i in keep]
    return found


def region_animation(run, box=None, *, color: str = "pattern", show_boundary: bool | None = None,
                     max_frames: int = 60):
    """The region map at every recorded snapshot of ``run`` (at most ``max_frames``), with a slider."""
    import plotly.graph_objects as go

    from .animate import controls

    data = getattr(run, "data", None)
    if data is not None and np.asarray(data.X).shape[1:] != (2,):
        data = None
    shots = _snapshots(run, box, max_frames)
    if show_boundary is None:
        show_boundary = _is_binary(shots[0][1], data)
    # frames swap the region traces only; the data points after them stay as drawn first
    frames = []
    palettes = stable_colours([r for _, r in shots]) if color == "pattern" else [None] * len(shots)
    for (step, r), col in zip(shots, palettes):
        moving = region_traces(r, None, color=color, show_boundary=show_boundary, hover="pattern", colours=col)
        frames.append(go.Frame(data=moving, traces=list(range(len(moving))), name=str(step),
                               layout=dict(title=f"step {step}: {regions_title(r)}")))
    first = region_traces(shots[0][1], data, color=color, show_boundary=show_boundary, hover="pattern",
                          colours=palettes[0])
    fig = go.Figure(data=first, frames=frames)
    _layout(fig, shots[0][1], frames[0].layout.title.text)
    fig.update_layout(height=680)
    controls(fig, [f.name for f in frames], 200, redraw=True, prefix="step ")
    return fig


def stable_colours(maps: list[Regions]) -> list[np.ndarray]:
    """`region_colours` of each map of an animation, each region keeping its colour from the map before
    where its activation pattern was there too and no neighbour takes it."""
    out, memory = [], None
    for regions in maps:
        colours = region_colours(regions, memory)
        memory = colour_memory(regions, colours)
        out.append(colours)
    return out


def count_axis(*values: Any) -> dict[str, Any]:
    """An axis for region counts, with integer ticks only: linear from 0 when the counts (and bound)
    lie within a factor 10, else log with ticks at 1, 2, 5 x 10^k or powers of ten, never the "2" and
    "5" digits plotly writes inside a decade."""
    from .figures import log_axis

    v = np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in values] or [np.ones(1)])
    v = v[np.isfinite(v) & (v > 0)]
    top = float(v.max()) if len(v) else 1.0
    if len(v) and top / v.min() >= 10:
        return log_axis(v, integer=True)
    raw = max(1.0, top / 6)  # about six ticks
    power = 10.0 ** np.floor(np.log10(raw))
    step = int(next(m * power for m in (1, 2, 5, 10) if m * power >= raw))
    return dict(type="linear", range=[0, top * 1.12 + 0.5], dtick=step, tick0=0, tickformat="d")


def architecture_bound(spec: dict[str, Any]) -> tuple[int, str] | None:
    """(upper bound, its name) proven for the model ``spec`` (a dict), or None for non-ReLU networks."""
    from ..geometry.bounds import upper_bound

    if spec.get("activation", "relu") not in ("relu", "leaky_relu") or spec.get("poly_degree") or not spec.get("hidden"):
        return None
    return upper_bound(int(spec.get("in_dim", 2)), list(spec["hidden"]), residual=bool(spec.get("residual", False)),
                       leaky=spec.get("activation") == "leaky_relu")


def region_count_figure(run, box=None, *, tol: float | None = None):
    """Region count at each snapshot against the upper bound proven for the architecture, log scale
    (Serra et al. 2018 for plain ReLU nets, `geometry.bounds.residual_upper` for residual ones)."""
    box = default_box(run) if box is None else box
    count = (lambda m: len(linear_regions(m, box))) if tol is None else (lambda m: len(linear_regions(m, box, tol=tol)))
    return _count_figure(run, count, "regions", "Linear regions during training")


def _count_figure(run, count, unit: str, title: str):
    """``count(model)`` at each snapshot of ``run``, and the architecture's bound as a dashed line."""
    import plotly.graph_objects as go

    steps, counts = [], []
    for step, model in snapshot_models(run):
        steps.append(step)
        counts.append(count(model))
    fig = go.Figure(go.Scatter(x=steps, y=counts, mode="lines+markers", name=f"exact count in the {'box' if unit == 'regions' else 'interval'}",
                               line=dict(color="#1f77b4"), hovertemplate="step %{x}: %{y} " + unit + "<extra></extra>"))
    found = architecture_bound(run.spec["model"])
    shown = list(counts)
    if found is not None:
        upper, label = found
        shown.append(upper)
        fig.add_trace(
            go.Scatter(x=[steps[0], steps[-1]], y=[upper, upper], mode="lines", line=dict(dash="dash", color="gray"),
                       name=f"{label}: {upper:,}")
        )
    fig.update_layout(
        title=title, template="plotly_white",
        xaxis=dict(title="step", tickformat="d"),
        yaxis=dict(title=unit, **count_axis(shown)), legend=dict(orientation="h", y=-0.2),
    )
    return fig


def pieces_phrase(n: int) -> str:
    """ "1 linear piece", "7 linear pieces"."""
    return f"{n:,} linear piece{'s' * (n != 1)}"


def pieces_figure(run, interval=None):
    """A 1-input ReLU run's fitted curve drawn piece by piece (exact, `linear_pieces_1d`): alternate pieces
    in two colours, a tick at every breakpoint, the data behind, the count against the 1-D bound."""
    import plotly.graph_objects as go

    from ..geometry import default_interval, linear_pieces_1d

    lo, hi = default_interval(run) if interval is None else interval
    pieces = linear_pieces_1d(run.model, (lo, hi))
    model = run.spec.get("model", {}) if isinstance(run.spec, dict) else {}
    out_act = model.get("out_activation") or "none"
    fig = go.Figure()
    data = run.data
    if data is not None and data.d_in == 1 and out_act == "none":
        y = np.asarray(data.y).reshape(len(data.X), -1)[:, 0]
        fig.add_trace(go.Scatter(x=data.X[:, 0], y=y, mode="markers", name="training data",
                                 marker=dict(size=6, color="#555", opacity=0.6)))
    e = pieces.edges
    for parity, colour in ((0, "#1f77b4"), (1, "#ff7f0e")):
        idx = np.arange(parity, len(pieces), 2)
        x = np.stack([e[idx], e[idx + 1], np.full(len(idx), np.nan)], 1).ravel()  # each piece, then a gap
        y = pieces.slopes[np.repeat(idx, 3), 0] * x + pieces.intercepts[np.repeat(idx, 3), 0]
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", line=dict(color=colour, width=2.5), connectgaps=False,
                                 name="pieces " + ("1, 3, 5, ..." if parity == 0 else "2, 4, 6, ..."),
                                 hovertemplate="x %{x:.4g}: %{y:.4g}<extra></extra>"))
    b = pieces.breakpoints
    fig.add_trace(go.Scatter(x=b, y=pieces(b)[:, 0], mode="markers", name=f"breakpoints ({len(b):,})",
                             marker=dict(symbol="line-ns-open", size=11, color="black", line=dict(width=1.5)),
                             hovertemplate="breakpoint at x = %{x:.6g}<extra></extra>"))
    found = architecture_bound(model)
    bound = f"<br><sup>bound {found[0]:,}: {found[1]}</sup>" if found else ""
    fig.update_layout(title=dict(text=f"{pieces_phrase(len(pieces))} on [{lo:.3g}, {hi:.3g}], exact{bound}"),
                      template="plotly_white", xaxis_title="x", height=440, legend=dict(orientation="h", y=-0.2),
                      yaxis_title="output" if out_act == "none" else f"output before the final {out_act}")
    return fig


def pieces_count_figure(run, interval=None):
    """Linear pieces of a 1-input run on its interval at each snapshot, against the 1-D bound."""
    from ..geometry import default_interval, linear_pieces_1d

    interval = default_interval(run) if interval is None else interval
    return _count_figure(run, lambda model: len(linear_pieces_1d(model, interval)), "pieces",
                         "Linear pieces of the curve during training")
