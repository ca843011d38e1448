"""HTML pages: one report per run, and a gallery (index) of reports.

A report inlines plotly.js from the installed plotly package (one portable file), or, in a gallery,
loads the one copy `write_plotlyjs` puts beside the reports by a relative path; either way it opens
offline and nothing points at a CDN. The gallery itself needs no JavaScript (inline SVG thumbnails).
"""

from __future__ import annotations

import datetime as _dt
import html
import math
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from ..errors import SpecError
from . import figures as F

CSS = """
:root { --ink:#1d232b; --muted:#5b6470; --line:#e3e6ea; --bg:#f6f7f9; --card:#fff; --accent:#1f6fb4; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink);
       font:15px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; }
main { max-width:1100px; margin:0 auto; padding:28px 20px 60px; }
h1 { font-size:1.7rem; margin:0 0 4px; } h2 { font-size:1.15rem; margin:0 0 12px; }
.sub { color:var(--muted); margin:0 0 18px; }
section, .card { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:18px 20px;
                 margin:0 0 18px; box-shadow:0 1px 2px rgba(0,0,0,.03); }
table { border-collapse:collapse; width:100%; font-variant-numeric:tabular-nums; }
td, th { text-align:left; padding:6px 10px; border-bottom:1px solid var(--line); vertical-align:top; }
th { color:var(--muted); font-weight:600; width:32%; }
.status { display:inline-block; padding:1px 9px; border-radius:999px; font-size:.85em; font-weight:600;
          background:#e7f4ea; color:#1e7b34; }
.status.bad { background:#fdecea; color:#b3261e; } .status.warn { background:#fff4e0; color:#8a5a00; }
figure { margin:0; } figcaption { color:var(--muted); font-size:.92em; margin-top:6px; }
.desc p { margin:.3em 0; } .plot { width:100%; }
.grid { display:grid; grid-template-columns:repeat(auto-fill,minmax(250px,1fr)); gap:16px; }
.card { margin:0; display:flex; flex-direction:column; gap:6px; color:inherit; text-decoration:none; }
.card:hover { border-color:var(--accent); box-shadow:0 2px 8px rgba(31,111,180,.15); }
.card h3 { margin:0; font-size:1.02rem; } .card .t { color:var(--muted); font-size:.9em; min-height:1.4em; }
.card svg { width:100%; height:auto; background:#fafbfc; border-radius:6px; }
.card .row { display:flex; justify-content:space-between; align-items:center; font-size:.9em; }
footer { color:var(--muted); font-size:.85em; text-align:center; margin-top:24px; }
"""


PLOTLY_JS = "plotly.min.js"  # the shared copy's file name, beside a gallery's index.html


def _plotlyjs() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def write_plotlyjs(folder: str | os.PathLike) -> Path:
    """Write the installed plotly.js to ``folder/plotly.min.js`` (unless an identical copy is there)."""
    out = Path(folder) / PLOTLY_JS
    out.parent.mkdir(parents=True, exist_ok=True)
    text = _plotlyjs()
    if not (out.exists() and out.stat().st_size == len(text.encode("utf-8")) and out.read_text(encoding="utf-8") == text):
        tmp = out.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out)
    return out


def _target(path: str | os.PathLike, filename: str) -> Path:
    """``path`` itself when it names an .html file, else ``path/filename``; parents are created."""
    p = Path(path)
    out = p if p.suffix.lower() in (".html", ".htm") else p / filename
    out.parent.mkdir(parents=True, exist_ok=True)
    return out


def figure_div(fig: Any, *, height: int | None = None) -> str:
    """The figure as a <div> + <script> that needs plotly.js already on the page; width follows the page."""
    import plotly.io as pio

    spec = fig.to_dict() if hasattr(fig, "to_dict") else dict(fig)
    layout = spec.setdefault("layout", {})
    layout.pop("width", None)  # the page's column decides the width
    h = height or layout.get("height") or 480
    return pio.to_html(spec, include_plotlyjs=False, full_html=False, auto_play=False, validate=False,
                       default_height=f"{h}px", default_width="100%",
                       config={"displaylogo": False, "responsive": True})


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _number(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return f"{int(v):,}"
    try:
        f = float(v)
    except (TypeError, ValueError):
        return _esc(v)
    return "–" if math.isnan(f) else f"{f:.6g}"


def _status_badge(status: str) -> str:
    cls = {"finished": "", "diverged": " bad", "interrupted": " warn", "stopped early": " warn"}.get(status, " warn")
    return f'<span class="status{cls}">{_esc(status)}</span>'


def _paragraphs(text: str) -> str:
    blocks = [b.strip() for b in str(text).split("\n\n") if b.strip()]
    return "".join(f"<p>{_esc(b)}</p>" for b in blocks)


def _setup(spec: dict[str, Any], own_test: int | None = None) -> list[tuple[str, str]]:
    """(label, text) rows of what the experiment set up; ``own_test``: rows of the data set's own test split
    (then test_fraction, which splits off nothing, is not shown as if there were no test data)."""
    rows = []
    data, model, train = spec.get("data") or {}, spec.get("model") or {}, spec.get("train") or {}
    # Only what the kind of experiment uses: a comparison brings its own runs' models and training,
    # prior samples have no data or training, the activation curves none of the three.
    kind = spec.get("kind", "train")
    if kind == "compare":
        model, train = {}, {}
    elif kind == "prior":
        data, train = {}, {}
    elif kind == "activations":
        data, model, train = {}, {}, {}
    if data:
        text = ", ".join(f"{k}={v}" for k, v in data.items() if v not in (None, {}, "") and not (own_test and k == "test_fraction"))
        if own_test:
            text += f"; test split: the data set's own ({own_test:,} rows)"
        rows.append(("data", text))
    if model:
        rows.append(("model", _model_summary(model)))
    if train:
        keys = ("optimizer", "lr", "loss", "epochs", "batch_size", "seed")
        rows.append(("training", ", ".join(f"{k}={train[k]}" for k in keys if train.get(k) is not None)))
    return rows


def _model_summary(model: dict[str, Any]) -> str:
    """ "2-32-1, out_activation=sigmoid", or what the model really is when it has no hidden layer."""
    hidden = list(model.get("hidden") or [])
    # with no hidden layer there is no activation, norm or skip to speak of
    keys = ("activation", "residual", "norm", "init", "out_activation") if hidden else ("init", "out_activation")
    extra = [f"{k}={model[k]}" for k in keys if k in model and model[k] not in (False, "none", "default")]
    tail = ", " + ", ".join(extra) if extra else ""
    degree = model.get("poly_degree")
    if degree and not hidden:
        return f"polynomial, degree {degree} (a linear layer on x, x^2, ..., x^{degree}){tail}"
    widths = [model.get("in_dim"), *hidden, model.get("out_dim")]
    shape = "-".join(str(w) for w in widths if w is not None)
    if degree:
        shape = f"polynomial features of degree {degree}, then {shape}"
    elif not hidden:
        shape = f"linear, {shape}"
    return shape + tail


def summary_rows(run: Any) -> list[tuple[str, str]]:
    """(label, HTML) rows of the summary table."""
    status = _status_badge(run.status) + (f" {_esc(run.message)}" if run.message else "")
    rows = [("status", status)]
    if run.steps:  # prior samples, activation curves and comparisons train nothing themselves
        rows += [("steps", _number(run.steps)), ("final loss", _number(run.final_loss))]
    if run.frames is not None:
        rows.append(("recorded frames", _number(len(run.frames))))
    rows += [(_esc(F.metric_label(k)), _number(v)) for k, v in sorted(run.metrics.items())]
    for k, v in sorted(run.timings.items()):  # "<what>_per_s" is a rate, "<what>_s" seconds
        if k.endswith("_per_s"):
            rows.append((_esc(f"{k[:-6].replace('_', ' ')} per second"), f"{float(v):,.0f}"))
        elif k.endswith("_s"):
            rows.append((_esc(f"time: {k[:-2].replace('_', ' ')}"), f"{float(v):.3f} s"))
        else:
            rows.append((_esc(k.replace("_", " ")), _number(v)))
    spec = run.spec if isinstance(run.spec, dict) else {}
    rows += [(k, _esc(v)) for k, v in _setup(spec, own_test=_own_test_rows(run, spec))]
    return rows


def _own_test_rows(run: Any, spec: dict[str, Any]) -> int | None:
    """Rows of the data set's own test split (digits, Fashion-MNIST) when the spec asked for none, else None."""
    data = getattr(run, "data", None)
    X_test = getattr(data, "X_test", None) if data is not None else None
    asked = (spec.get("data") or {}).get("test_fraction")
    return len(X_test) if X_test is not None and len(X_test) and not asked else None


def write_report(run: Any, path: str | os.PathLike, *, figures: Sequence[tuple[str, Any]] | None = None,
                 title: str | None = None, plotly_js: str | None = None) -> Path:
    """Write one HTML report of ``run`` and return its path.

    ``path``: an .html file, or a directory (then ``path/report.html``). The page holds the title, the
    experiment's description and source notebook, a summary table, the headline figure (usually the
    animation), the loss curve, and any extra ``figures`` given as (caption, figure) pairs.
    ``plotly_js``: None inlines plotly.js (a self-contained page, ~4.6 MB); a relative path such as
    "../plotly.min.js" loads the shared copy `write_plotlyjs` wrote there instead.
    """
    from .animate import figure_for_run

    extras = list(figures or [])
    for i, item in enumerate(extras):
        if not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise SpecError(f"figures[{i}]", "a (caption, figure) pair", item)
    spec = run.spec if isinstance(run.spec, dict) else {}
    heading = title or spec.get("title") or run.name
    parts = [f"<header><h1>{_esc(heading)}</h1>"]
    sub = [s for s in (run.name if heading != run.name else "", spec.get("notebook") and f"from {spec['notebook']}") if s]
    parts.append(f'<p class="sub">{_esc(" · ".join(sub))}</p></header>' if sub else "</header>")
    if spec.get("description"):
        parts.append(f'<section class="desc"><h2>About</h2>{_paragraphs(spec["description"])}</section>')
    table = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in summary_rows(run))
    parts.append(f"<section><h2>Summary</h2><table>{table}</table></section>")
    headline = figure_for_run(run)
    if headline is not None:
        parts.append(f'<section><h2>{"Training" if headline.frames else "Result"}</h2>'
                     f'<div class="plot">{figure_div(headline)}</div></section>')
    if run.steps and not (headline is not None and headline.layout.title.text == "Training loss"):
        parts.append(f'<section><h2>Loss</h2><div class="plot">{figure_div(F.loss_curve(run))}</div></section>')
    for caption, fig in extras:
        parts.append(f'<section><figure><div class="plot">{figure_div(fig)}</div>'
                     f"<figcaption>{_esc(caption)}</figcaption></figure></section>")
    out = _target(path, "report.html")
    out.write_text(_page(heading, "".join(parts), with_plotly=plotly_js or True), encoding="utf-8")
    return out


def _page(title: str, body: str, *, with_plotly: bool | str) -> str:
    """The page around ``body``; ``with_plotly``: True inlines plotly.js, a string loads it from that path."""
    from .. import __version__

    if isinstance(with_plotly, str):
        script = f'<script type="text/javascript" src="{_esc(with_plotly)}"></script>'
    else:
        script = f'<script type="text/javascript">{_plotlyjs()}</script>' if with_plotly else ""
    stamp = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_esc(title)}</title><style>{CSS}</style>{script}</head>"
        f"<body><main>{body}<footer>mlplab {_esc(__version__)} · {stamp}</footer></main></body></html>\n"
    )


# ---------------------------------------------------------------- gallery


def _entry(item: Any) -> dict[str, Any]:
    """A gallery card's fields from a `Run` or a dict (name, title, final_loss, losses, status, href)."""
    if isinstance(item, dict):
        if "name" not in item:
            raise SpecError("entries", "Runs or dicts with at least a 'name'", item)
        e = dict(item)
        e.setdefault("run", None)
    else:
        spec = item.spec if isinstance(item.spec, dict) else {}
        e = {"name": item.name, "title": spec.get("title", ""), "final_loss": item.final_loss,
             "losses": item.losses, "status": item.status, "run": item}
    e.setdefault("href", f"{e['name']}/report.html")
    return e


def write_gallery(entries: Iterable[Any], path: str | os.PathLike, title: str = "mlplab runs") -> Path:
    """Write ``index.html``: a responsive grid of cards, one per report, each linking to ``<name>/report.html``.

    ``entries``: Runs or dicts (name, title, final_loss, losses, status, href). Each card shows a small
    inline-SVG picture of the run's final state (when one can be drawn) and its loss curve.
    """
    cards = []
    for e in map(_entry, entries):
        run = e.get("run")
        thumb = thumbnail_svg(run) if run is not None else None
        spark = sparkline_svg(e.get("losses"))
        headline = _card_headline(e, run)
        status = _status_badge(e["status"]) if e.get("status") else ""
        cards.append(
            f'<a class="card" href="{_esc(e["href"])}"><h3>{_esc(e["name"])}</h3>'
            f'<div class="t">{_esc(e.get("title") or "")}</div>{thumb or ""}{spark}'
            f'<div class="row"><span>{headline}</span>{status}</div></a>'
        )
    body = (f'<header><h1>{_esc(title)}</h1><p class="sub">{len(cards)} run{"s" * (len(cards) != 1)}</p></header>'
            f'<div class="grid">{"".join(cards)}</div>')
    out = _target(path, "index.html")
    out.write_text(_page(title, body, with_plotly=False), encoding="utf-8")
    return out


def _card_headline(entry: dict[str, Any], run: Any) -> str:
    """The card's one number: the final loss, or for runs that train nothing, what they hold."""
    if entry.get("final_loss") is not None:
        return f"final loss {_number(entry['final_loss'])}"
    accuracies = {k.split("/")[0]: v for k, v in (getattr(run, "metrics", None) or {}).items() if k.endswith("/train_accuracy")}
    if accuracies:
        return f"{len(accuracies)} fits, accuracy {min(accuracies.values()):.2f}-{max(accuracies.values()):.2f}"
    extras = getattr(run, "extras", None) or {}
    if extras.get("samples") is not None:
        return f"{len(extras['samples'])} prior samples"
    grads = [k for k in extras if k.endswith("_grad")]
    return f"{len(grads)} functions and their gradients" if grads else ""


def _scale(values: np.ndarray, lo: float, hi: float, a: float, b: float) -> np.ndarray:
    return a + (values - lo) / max(hi - lo, 1e-12) * (b - a)


def sparkline_svg(losses: Any, width: int = 240, height: int = 48) -> str:
    """The loss on a log scale as a tiny inline SVG polyline ('' when there is nothing to draw)."""
    if losses is None:
        return ""
    v = np.asarray(losses, dtype=np.float64)
    v = v[np.isfinite(v) & (v > 0)]
    if len(v) < 2:
        return ""
    step = max(1, len(v) // 200)  # ~200 points is plenty at this size
    v = np.log10(v[::step])
    x = _scale(np.arange(len(v)), 0, len(v) - 1, 2, width - 2)
    y = _scale(v, v.min(), v.max(), height - 3, 3)
    pts = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(x, y))
    return (f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="loss curve (log scale)">'
            f'<polyline fill="none" stroke="#1f6fb4" stroke-width="1.5" points="{pts}"/></svg>')


def thumbnail_svg(run: Any, size: int = 240) -> str | None:
    """A small inline SVG of the run's final state: points, curves, or prior samples; None if not drawable."""
    try:
        layers = _thumbnail_layers(run.framed() if hasattr(run, "framed") else run)
    except (SpecError, ValueError, IndexError, KeyError, TypeError, AttributeError):
        return None
    if not layers:
        return None
    xs = np.concatenate([np.asarray(l[1], np.float64).ravel() for l in layers])
    ys = np.concatenate([np.asarray(l[2], np.float64).ravel() for l in layers])
    ok = np.isfinite(xs) & np.isfinite(ys)
    if not ok.any():
        return None
    (x0, x1), (y0, y1) = F.padded_range(xs[ok]), F.padded_range(ys[ok])
    h = int(size * 0.62)
    out = [f'<svg viewBox="0 0 {size} {h}" role="img" aria-label="final state">']
    for kind, x, y, color in layers:
        px = _scale(np.asarray(x, np.float64), x0, x1, 0, size)
        py = _scale(np.asarray(y, np.float64), y0, y1, h, 0)
        if kind == "cells":  # a coarse probability map, red (0) to blue (1): one path of unit squares per
            # colour level, scaled into place (a rect per cell costs ~5x the bytes)
            xs_, ys_ = np.asarray(x, np.float64), np.asarray(y, np.float64)
            dx, dy = xs_[1] - xs_[0], ys_[1] - ys_[0]
            sx, sy = size * dx / (x1 - x0), h * dy / (y1 - y0)  # one cell in SVG units
            ox, oy = _scale(np.array([xs_[0] - dx / 2]), x0, x1, 0, size)[0], _scale(np.array([ys_[0] - dy / 2]), y0, y1, h, 0)[0]
            level = np.clip(np.round(np.nan_to_num(np.asarray(color, np.float64), nan=0.5) * 10), 0, 10).astype(int)
            out.append(f'<g transform="translate({ox:.1f} {oy:.1f}) scale({sx:.3f} {-sy:.3f})">')
            for v in np.unique(level):
                jj, ii = np.nonzero(level == v)
                d = "".join(f"M{i} {j}h1.05v1.05h-1.05z" for i, j in zip(ii, jj))
                out.append(f'<path fill="{_prob_colour(v / 10)}" d="{d}"/>')
            out.append("</g>")
            continue
        ok = np.isfinite(px) & np.isfinite(py)
        if kind == "line":
            pts = " ".join(f"{a:.0f},{b:.0f}" for a, b in zip(px[ok], py[ok]))
            out.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.4" points="{pts}"/>')
        else:  # dots: one path per colour, each dot a zero-length stroke with round caps
            colors = np.asarray(color if isinstance(color, list) else [color] * len(px))
            for c in dict.fromkeys(colors[ok].tolist()):
                sel = ok & (colors == c)
                d = "".join(f"M{a:.0f} {b:.0f}h0" for a, b in zip(px[sel], py[sel]))
                out.append(f'<path stroke="{c}" stroke-width="3.6" stroke-linecap="round" d="{d}"/>')
    out.append("</svg>")
    return "".join(out)


def _prob_colour(p: float) -> str:
    """RdBu-like: red for p(class 1) = 0, white at 0.5, blue at 1 (light, so points stay visible)."""
    p = float(np.clip(p, 0, 1))
    if p < 0.5:
        t = p / 0.5
        return f"rgb({int(244 + 11 * t)},{int(165 + 90 * t)},{int(130 + 125 * t)})"
    t = (p - 0.5) / 0.5
    return f"rgb({int(255 - 109 * t)},{int(255 - 58 * t)},{int(255 - 30 * t)})"


def _thumbnail_layers(run: Any) -> list[tuple[str, Any, Any, Any]]:
    """("points" | "line", x, y, colour or colours) layers of the run's final picture (at most ~400 points)."""
    from .animate import animation_kind, curve_frames

    spec = run.spec if isinstance(run.spec, dict) else {}
    if spec.get("kind") == "prior" and "samples" in run.extras:
        return [("line", run.extras["x"], s, "rgba(31,119,180,.6)") for s in run.extras["samples"]]
    if spec.get("kind") == "compare" and "grid_x" in run.extras and run.data is not None:
        first = next((k for k in run.extras if k.startswith("proba/")), None)
        if first is None:
            return []
        step = max(1, len(run.extras["grid_x"]) // 24)
        cells = ("cells", run.extras["grid_x"][::step], run.extras["grid_y"][::step], run.extras[first][::step, ::step])
        return [cells, ("points", run.data.X[:, 0], run.data.X[:, 1], F.class_color(run.data.y))]
    if spec.get("kind") == "activations" and "x" in run.extras:
        names = [n for n in ("relu", "sigmoid", "tanh") if n in run.extras]
        return [("line", run.extras["x"], run.extras[n], F.TEMPLATE.layout.colorway[i]) for i, n in enumerate(names)]
    if run.frames is None or run.data is None or not len(run.frames):
        return []
    data = run.data
    keep = slice(None, None, max(1, data.n // 400))
    kind = animation_kind(run)
    if kind == "mapping":
        final = run.frames[-1][keep]
        return [("points", data.y[keep, 0], data.y[keep, 1], "rgba(214,39,40,.45)"),
                ("points", final[:, 0], final[:, 1], "#1f77b4")]
    if kind == "curve":  # in the data's y-range, as the report's view: a wild fit runs along the edge
        x, curves = curve_frames(run, np.array([len(run.frames) - 1]))
        lo, hi = F.data_y_range(data)
        return [("points", data.X[keep, 0], data.y[keep, 0], "#555"), ("line", x, np.clip(curves[0], lo, hi), "#1f77b4")]
    if kind == "boundary":
        model, train = spec.get("model", {}) or {}, spec.get("train", {}) or {}
        layers = []
        if run.grid_frames is not None and run.grid_frames.ndim == 4 and run.grid_frames.shape[-1] == 1:
            g = run.grid_frames.shape[1]
            step = max(1, g // 24)  # about 24 x 24 cells: enough to see the boundary, small as text
            gx, gy = (np.asarray(a)[::step] for a in run.grid_axes)
            probs = F.probabilities(run.grid_frames[-1], model.get("out_activation"), train.get("loss"))[::step, ::step, 0]
            layers.append(("cells", gx, gy, probs))
        p = F.probabilities(run.frames[-1], model.get("out_activation"), train.get("loss"))
        pred = (p[:, 0] > 0.5).astype(int) if p.shape[-1] == 1 else p.argmax(-1)
        colours = F.class_color(data.y[keep]) if layers else F.class_color(pred[keep])  # truth over the map
        return layers + [("points", data.X[keep, 0], data.X[keep, 1], colours)]
    final = run.frames[-1][keep, 0]
    return [("points", data.y[keep, 0], final, "#1f77b4")]
