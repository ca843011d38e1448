"""Sweeps: many variants of one experiment trained at once (stacked where shapes allow), stored, compared."""

from .runner import sweep
from .spec import SweepSpec, Variant, expand, load_sweep, make_sweep, sweep_presets

__all__ = ["sweep", "SweepSpec", "Variant", "expand", "load_sweep", "make_sweep", "sweep_presets"]
