"""The base of every analysis result: data fields plus ``.figure()``, drawn by a renderer registered from above.

Analyses sit below the views, so a result cannot import plotly code; `mlplab/__init__` registers
`mlplab.viz.analysis.figure` here, imported only when a figure is asked for.
"""

from __future__ import annotations

from typing import Any, Callable

from ..errors import MlplabError

_RENDERER: list[Callable[[Any], Any]] = []


def register_renderer(fn: Callable[[Any], Any]) -> None:
    """Set the function that turns a result into a plotly figure (the views' `figure`)."""
    _RENDERER[:] = [fn]


def render(result: Any, **options: Any) -> Any:
    """A result, or a list of results of one kind drawn side by side, as a figure (``titles=``: one per result)."""
    if not _RENDERER:
        raise MlplabError("no renderer for analysis figures: import mlplab (or mlplab.viz.analysis) first")
    return _RENDERER[0](result, **options)


class Result:
    """Common to every analysis result: ``figure()`` and a short repr."""

    run_name: str

    def figure(self) -> Any:
        """A plotly figure of this result (`mlplab.viz.analysis.figure`)."""
        return render(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.run_name!r})"
