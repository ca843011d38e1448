"""A live train/validation curve for notebooks (d2l's ProgressBoard, with plotly).

A training callback that only *shows*: it reads the trainer's losses and epoch metrics and redraws
one figure in place, at most every ``interval`` seconds, so plotting never slows the loop down.
In a kernel it is one display updated by its display id; elsewhere only ``.figure`` is kept current.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..training.callbacks import Callback
from .notebook import in_kernel, mime_bundle


# The accuracy axis on the right: 0 to 1 in fifths, no grid of its own (the loss grid is the one drawn).
ACCURACY_AXIS = dict(title="accuracy", overlaying="y", side="right", range=[0, 1.02], tickmode="array",
                     tickvals=[0, 0.2, 0.4, 0.6, 0.8, 1.0], ticktext=["0", "0.2", "0.4", "0.6", "0.8", "1"],
                     showgrid=False, zeroline=False)


class LiveCurve(Callback):
    """``mlplab.train(model, data, spec, callbacks=[LiveCurve()])`` draws the curves as training runs.

    Shows the per-step training loss (thinned to ``max_points``) and, per epoch, every epoch metric
    the trainer measures (train/validation loss and accuracy when a validation split exists).
    """

    def __init__(self, interval: float = 0.5, max_points: int = 2000, log: bool = True):
        self.interval, self.max_points, self.log = interval, max_points, log
        self.figure = None
        self._handle = None
        self._last = 0.0

    def on_train_start(self, t: Any) -> None:
        import plotly.graph_objects as go

        self.figure = go.Figure(layout=dict(
            title="Training (live)", xaxis_title="step", yaxis_title="loss", template="plotly_white",
            yaxis_type="log" if self.log else "linear", height=420,
            legend=dict(orientation="h", x=0, y=-0.22, yanchor="top"),  # below the axes: clear of the title and
            margin=dict(b=110),                                          # of the accuracy axis on the right
        ))
        self.figure.add_trace(go.Scatter(x=[], y=[], mode="lines", name="train loss (per step)"))
        self._losses = np.full(t.total_steps, np.nan, dtype=np.float32)
        self._epoch_end_steps: list[int] = []
        self._handle = _display(self.figure)
        self._last = time.perf_counter()

    def on_step_end(self, t: Any, step: int, loss: Any, pred: Any) -> None:
        self._losses[step] = float(loss.detach()) if hasattr(loss, "detach") else float(loss)
        now = time.perf_counter()
        if now - self._last >= self.interval:
            self._last = now
            self.redraw(t, upto=step + 1)

    def on_epoch_end(self, t: Any, epoch: int) -> None:
        self._epoch_end_steps.append(t.steps_done)

    def on_train_end(self, t: Any) -> None:
        self.redraw(t, upto=t.steps_done)

    def redraw(self, t: Any, upto: int) -> None:
        import plotly.graph_objects as go

        from .figures import log_axis

        stride = max(1, upto // self.max_points)
        steps = np.arange(0, upto, stride)
        with self.figure.batch_update():
            self.figure.data[0].x, self.figure.data[0].y = steps, self._losses[:upto:stride]
            history = _epoch_history(t)
            if self.log:  # ticks labelled in full for the range seen so far (figures.log_axis)
                losses = [v for k, v in history.items() if "accuracy" not in k]
                self.figure.update_layout(yaxis=log_axis(self._losses[:upto], *losses))
            for i, (name, values) in enumerate(sorted(history.items())):
                x = self._epoch_end_steps[: len(values)]
                if i + 1 < len(self.figure.data):
                    self.figure.data[i + 1].x, self.figure.data[i + 1].y = x, values
                else:
                    self.figure.add_trace(go.Scatter(x=x, y=values, mode="lines+markers", name=name,
                                                     yaxis="y2" if "accuracy" in name else "y"))
            if any("accuracy" in k for k in history):  # its own ticks: left alone, plotly lines them up with the
                self.figure.update_layout(yaxis2=ACCURACY_AXIS)  # log-loss ticks (0.193, 0.392, ... as accuracies)
        if self._handle is not None:
            self._handle.update(mime_bundle(self.figure), raw=True)


def _epoch_history(t: Any) -> dict[str, list[float]]:
    """The epoch metrics measured so far, from the trainer's EpochMetrics callback (if any)."""
    for cb in getattr(t, "callbacks", []):
        history = getattr(cb, "history", None)
        if isinstance(history, dict):
            return history
    return {}


def _display(fig: Any):
    """Display in a notebook and return a handle to update it; None outside a Jupyter kernel.

    The figure goes out as a raw MIME bundle: displaying the Figure object itself would call plotly's
    ``_ipython_display_``, which ignores ``display_id`` and appends a new output on every redraw.
    """
    if not in_kernel():
        return None
    from IPython.display import display

    bundle = mime_bundle(fig)
    return display(bundle, raw=True, display_id=True) if bundle else None
