"""Analyses of recorded runs: loss landscapes, spectral bias, layer health and sharpness.

They read a `Run` (its snapshots, frames and data) and never train. Each returns a result holding
arrays or a DataFrame, and ``figure()`` (drawn by `mlplab.viz.analysis`, registered from above).
"""

from __future__ import annotations

from typing import Any

from ._result import Result, register_renderer, render
from .health import Health, health
from .landscape import Interpolation, Landscape, filter_normalised_direction, interpolation, landscape, pca_directions
from .sharpness import Sharpness, sharpness, top_eigenvalues
from .spectrum import TARGETS, Spectrum, amplitudes, spectrum

ANALYSES = ("landscape", "spectrum", "health", "sharpness")


def figure(result: Any) -> Any:
    """The figure of a result, or of a list of results of one kind side by side."""
    return render(result)


__all__ = [
    "ANALYSES", "Result", "register_renderer", "figure", "landscape", "interpolation", "Landscape", "Interpolation",
    "filter_normalised_direction", "pca_directions", "spectrum", "Spectrum", "amplitudes", "TARGETS",
    "health", "Health", "sharpness", "Sharpness", "top_eigenvalues",
]
