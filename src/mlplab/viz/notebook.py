"""How a `Run` shows itself in a notebook: its headline figure, offline (registered by `mlplab`)."""

from __future__ import annotations

from typing import Any

_PLOTLYJS_SHOWN = False  # has a Run's notebook display already carried plotly.js in this process?


def run_html(run: Any) -> str:
    """A line of summary and the headline figure; plotly.js is inlined with the first run shown in this
    process (from the installed package), later ones reuse it; never a CDN."""
    global _PLOTLYJS_SHOWN
    from .animate import figure_for_run

    fig = figure_for_run(run)
    loss = f"{run.final_loss:.6g}" if run.final_loss is not None else "-"
    head = f"<p><b>{run.name}</b>: {run.status}, {run.steps} steps, final loss {loss}, engine {run.engine}</p>"
    if fig is None:
        return head
    body = fig.to_html(full_html=False, include_plotlyjs=not _PLOTLYJS_SHOWN, auto_play=False)
    _PLOTLYJS_SHOWN = True
    return head + body
