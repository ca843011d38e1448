"""Views: plotly figures of runs and analyses, self-contained HTML reports, image/video exports.

Views take a `Run` (or an analysis result) and return a `plotly.graph_objects.Figure`; they never train.
"""

from __future__ import annotations

from typing import Any

from .animate import animate, animation_kind, figure_for_run
from .export import export_animation, export_png
from .figures import activations, decision_boundary, fitted_curve, loss_curve, mapping, prior_samples
from .images import confusion_matrix, images_grid, per_class_accuracy
from .live import LiveCurve
from .notebook import use_offline_renderer
from .panels import extra_figures
from .report import write_gallery, write_report


def init_scales_figure(*args: Any, **kwargs: Any):
    """See `mlplab.viz.init_scales.init_scales_figure` (imported on first use)."""
    from .init_scales import init_scales_figure as impl

    return impl(*args, **kwargs)


def region_map(*args: Any, **kwargs: Any):
    """See `mlplab.viz.regions.region_map` (imported on first use)."""
    from .regions import region_map as impl

    return impl(*args, **kwargs)


def region_animation(*args: Any, **kwargs: Any):
    """See `mlplab.viz.regions.region_animation` (imported on first use)."""
    from .regions import region_animation as impl

    return impl(*args, **kwargs)


def region_count_figure(*args: Any, **kwargs: Any):
    """See `mlplab.viz.regions.region_count_figure` (imported on first use)."""
    from .regions import region_count_figure as impl

    return impl(*args, **kwargs)


__all__ = [
    "animate", "animation_kind", "figure_for_run", "loss_curve", "decision_boundary", "fitted_curve",
    "activations", "prior_samples", "mapping", "images_grid", "confusion_matrix", "per_class_accuracy",
    "write_report", "write_gallery", "export_animation", "export_png", "LiveCurve", "extra_figures", "init_scales_figure",
    "region_map", "region_animation", "region_count_figure", "use_offline_renderer",
]

use_offline_renderer()  # in a Jupyter kernel: figures display offline (see viz/notebook.py); elsewhere a no-op
