"""Analyses of recorded runs: loss landscapes, spectral bias, layer health and sharpness.

They read a `Run` (its snapshots, frames and data) and never train. Each returns a result holding
arrays or a DataFrame, and ``figure()`` (drawn by `mlplab.viz.analysis`, registered from above). The
analyses live in private modules (``_landscape.py``, ...) and load on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from ._result import Result, register_renderer, render

ANALYSES = ("landscape", "spectrum", "health", "sharpness")
_WHERE = {
    "_landscape": ("landscape", "interpolation", "Landscape", "Interpolation", "filter_normalised_direction",
                   "pca_directions"),
    "_spectrum": ("spectrum", "Spectrum", "amplitudes", "TARGETS"),
    "_health": ("health", "Health", "layer_health"),
    "_sharpness": ("sharpness", "Sharpness", "top_eigenvalues"),
}
_MODULE = {name: module for module, names in _WHERE.items() for name in names}


def __getattr__(name: str) -> Any:
    if name not in _MODULE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{_MODULE[name]}", __name__), name)
    globals()[name] = value
    return value


def figure(result: Any, titles: list[str] | None = None) -> Any:
    """The figure of a result, or of a list of results of one kind side by side; ``titles`` name them
    (one per result; default: the run names)."""
    return render(result, titles=titles)


__all__ = ["ANALYSES", "Result", "register_renderer", "figure", *_MODULE]
