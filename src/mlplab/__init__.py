"""mlplab: see and measure how multilayer perceptrons learn.

The public API, re-exported by name::

    import mlplab
    run = mlplab.run("piecewise-residual")
    mlplab.viz.animate(run).show()

Views, sweeps and the run store load on first use: ``import mlplab`` does not import plotly.
"""

__version__ = "0.1.0"

import importlib
from typing import Any

from .errors import DataFileError, MlplabError, SpecError, TrainingDiverged
from .specs import DataSpec, Experiment, ModelSpec, TrainSpec
from .data import Dataset, load_csv, make_dataset
from .models import build_model, count_parameters
from .training import run as _run_module
from .training.run import Run, load_run
from .training.loop import train, train_stacked
from .presets import PRESETS, experiment
from .api import run
from . import autograd, geometry


def train_scratch(model, data, spec=None, **fields: Any) -> Run:
    """`train` on the from-scratch NumPy engine (``engine="numpy"``): every VJP written by hand."""
    return train(model, data, spec, engine="numpy", **fields)


def _run_html(r: Run) -> str:
    return importlib.import_module(".viz.notebook", __name__).run_html(r)


_run_module.HTML_VIEW = _run_html  # the view layer draws a Run in a notebook; training never imports it


def _analysis_figure(result: Any) -> Any:
    return importlib.import_module(".viz.analysis", __name__).figure(result)


# Analysis results draw themselves through the views, registered from here (analysis never imports viz).
# Only the package's light registry loads now; the analyses themselves load on first use.
_analysis_registry = importlib.import_module(".analysis._result", __name__)
_analysis_registry.register_renderer(_analysis_figure)

_LAZY = {"viz", "sweep", "store", "diagnostics", "analysis", "explain"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'mlplab' has no attribute {name!r}")


__all__ = [
    "DataFileError", "MlplabError", "SpecError", "TrainingDiverged",
    "DataSpec", "Experiment", "ModelSpec", "TrainSpec",
    "Dataset", "load_csv", "make_dataset", "build_model", "count_parameters", "Run", "load_run",
    "train", "train_stacked", "train_scratch", "PRESETS", "experiment", "run", "analysis", "autograd",
    "diagnostics", "geometry", "store", "sweep", "viz",
]
