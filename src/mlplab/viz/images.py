"""Image mosaics with their labels and predictions, confusion matrices and per-class accuracy."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import plotly.graph_objects as go

from ..errors import SpecError
from .figures import _figure, compact

# Image mosaics: each cell is CELL_PX wide on screen, captions CAPTION_FONT px text in CAPTION_PX-high
# lines; "T-shirt/top" (11 characters, ~70 px) fits a cell with room to spare.
CELL_PX, CAPTION_FONT, CAPTION_PX = 96, 11, 15


def images_grid(images: Any, labels: Any, preds: Any = None, class_names: Sequence[str] | None = None,
                shape: tuple[int, int] = (8, 8)) -> go.Figure:
    """A mosaic of the first rows*cols ``images`` (N, H, W) or (N, H*W square), captioned with labels.

    With ``preds``, each caption reads "label/pred" and mistakes are shown in red. One heatmap trace
    holds the whole mosaic (far smaller than a subplot per image).
    """
    imgs = np.asarray(images, dtype=np.float32)
    if imgs.ndim == 2:
        side = int(round(np.sqrt(imgs.shape[1])))
        if side * side != imgs.shape[1]:
            raise SpecError("images", "(N, H, W) images or (N, H*W) rows of square images", f"shape {imgs.shape}")
        imgs = imgs.reshape(len(imgs), side, side)  # (N, H*W) -> (N, H, W)
    if imgs.ndim != 3:
        raise SpecError("images", "(N, H, W) images or (N, H*W) rows of square images", f"shape {imgs.shape}")
    rows, cols = shape
    k = min(len(imgs), rows * cols)
    rows = int(np.ceil(k / cols))
    labels = np.asarray(labels).reshape(-1)
    h, w = imgs.shape[1:]
    # a blank band above each image holds its caption: the label, and under it a wrong prediction
    lines = 2 if preds is not None else 1
    unit = CELL_PX / (w + 1)  # screen pixels per image pixel (the axes keep pixels square)
    cap = int(np.ceil((CAPTION_PX * lines + 2) / unit))  # the band, in image rows
    row_px = (h + cap) * unit
    mosaic = np.full((rows * (h + cap), cols * (w + 1)), np.nan, dtype=np.float32)  # NaN: drawn as background
    names = (lambda c: class_names[int(c)]) if class_names else (lambda c: str(int(c)))
    notes = []
    for i in range(k):
        r, c = divmod(i, cols)
        top = r * (h + cap) + cap
        mosaic[top: top + h, c * (w + 1): c * (w + 1) + w] = imgs[i]
        text = names(labels[i])
        if preds is not None:
            p = np.asarray(preds).reshape(-1)[i]
            if int(p) != int(labels[i]):
                text += f"<br><span style='color:#d62728'>{names(p)}</span>"
        notes.append(dict(x=c * (w + 1) + w / 2 - 0.5, y=top - 0.5, text=text, showarrow=False,
                          font=dict(size=CAPTION_FONT, color="#222"), yanchor="bottom", yshift=1))
    title = "label (above each image); the prediction in red under it where it is wrong" if preds is not None else "labels"
    width = cols * CELL_PX + 20
    fig = _figure(title, width=width, height=int(np.ceil(rows * row_px)) + 70, margin=dict(l=10, r=10, t=60, b=10))
    fig.add_trace(go.Heatmap(z=compact(mosaic, 3), colorscale="Greys", showscale=False,
                             hovertemplate="%{z:.2f}<extra></extra>"))
    fig.update_layout(annotations=notes, plot_bgcolor="white")
    fig.update_yaxes(autorange="reversed", visible=False, scaleanchor="x", constrain="domain")
    fig.update_xaxes(visible=False, constrain="domain")
    return fig


def confusion_counts(y_true: Any, y_pred: Any, n_classes: int | None = None) -> np.ndarray:
    """(C, C) counts: row = true class, column = predicted class."""
    t, p = np.asarray(y_true, dtype=np.int64).reshape(-1), np.asarray(y_pred, dtype=np.int64).reshape(-1)
    if len(t) != len(p):
        raise SpecError("y_pred", f"{len(t)} predictions (one per true label)", f"{len(p)}")
    c = n_classes or int(max(t.max(initial=0), p.max(initial=0)) + 1)
    return np.bincount(t * c + p, minlength=c * c).reshape(c, c)


def confusion_matrix(y_true: Any, y_pred: Any, class_names: Sequence[str] | None = None) -> go.Figure:
    """Heatmap of `confusion_counts` with the count written in each cell."""
    counts = confusion_counts(y_true, y_pred, len(class_names) if class_names else None)
    names = list(class_names) if class_names else [str(i) for i in range(len(counts))]
    fig = _figure("Confusion matrix", width=560, height=520)
    fig.add_trace(go.Heatmap(
        z=counts.astype(np.int32), x=names, y=names, colorscale="Blues", text=counts.astype(str),
        texttemplate="%{text}", hovertemplate="true %{y}<br>predicted %{x}<br>%{z}<extra></extra>",
    ))
    fig.update_xaxes(title_text="predicted", type="category")
    fig.update_yaxes(title_text="true", autorange="reversed", type="category")
    return fig


def class_accuracies(y_true: Any, y_pred: Any, n_classes: int | None = None) -> np.ndarray:
    """(C,) fraction of each true class predicted correctly (NaN for a class with no examples)."""
    counts = confusion_counts(y_true, y_pred, n_classes)
    totals = counts.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, np.diag(counts) / np.maximum(totals, 1), np.nan)


def per_class_accuracy(y_true: Any, y_pred: Any, class_names: Sequence[str] | None = None) -> go.Figure:
    """Bar chart of `class_accuracies`."""
    acc = class_accuracies(y_true, y_pred, len(class_names) if class_names else None)
    names = list(class_names) if class_names else [str(i) for i in range(len(acc))]
    fig = _figure("Accuracy per class", width=640, height=400)
    fig.add_trace(go.Bar(x=names, y=acc, marker_color="#1f77b4", text=[f"{a:.0%}" for a in np.nan_to_num(acc)],
                         textposition="outside", hovertemplate="%{x}: %{y:.4f}<extra></extra>"))
    fig.update_yaxes(range=[0, 1.1], title_text="accuracy")
    fig.update_xaxes(type="category", title_text="class")
    return fig
