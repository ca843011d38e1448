"""Models: one spec-driven MLP family (see `mlp.py`)."""

from .mlp import ACTIVATIONS, INITS, MLP, NORMS, PolyFeatures, ResidualBlock, build_model, count_parameters, parameter_table

__all__ = [
    "ACTIVATIONS", "INITS", "MLP", "NORMS", "PolyFeatures", "ResidualBlock",
    "build_model", "count_parameters", "parameter_table",
]
