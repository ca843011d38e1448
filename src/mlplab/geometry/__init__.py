"""Exact linear-region geometry of piecewise-linear MLPs, and the known bounds on region counts."""

from .bounds import bounds, residual_upper, serra_upper, upper_bound
from .polygons import Region, Regions
from .regions import (
    TOL,
    activation_patterns,
    count_on_segment,
    Pieces1D,
    linear_pieces_1d,
    linear_regions,
    linear_regions_slice,
    plane_basis,
    segment_breakpoints,
)
from .training import default_box, default_interval, regions_over_training, snapshot_models

__all__ = [
    "TOL", "Pieces1D", "Region", "Regions", "activation_patterns", "bounds", "count_on_segment", "default_box", "default_interval",
    "linear_pieces_1d", "linear_regions", "linear_regions_slice", "plane_basis", "regions_over_training", "segment_breakpoints",
    "residual_upper", "serra_upper", "snapshot_models", "upper_bound",
]
