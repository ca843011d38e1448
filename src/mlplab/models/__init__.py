"""Models: one spec-driven MLP family (see `mlp.py`)."""

from .mlp import (ACTIVATIONS, INITS, MLP, NORMS, InputFeatures, PolyFeatures, ResidualBlock, build_model,
                  count_parameters, parameter_table, uses_features)

__all__ = [
    "ACTIVATIONS", "INITS", "MLP", "NORMS", "InputFeatures", "PolyFeatures", "ResidualBlock", "uses_features",
    "build_model", "count_parameters", "parameter_table",
]
