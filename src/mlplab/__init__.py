"""mlplab: see and measure how multilayer perceptrons learn.

The public API, re-exported by name::

    import mlplab
    run = mlplab.experiment("piecewise-residual").run()
    mlplab.viz.animate(run).show()
"""

__version__ = "0.1.0"

from .errors import DataFileError, MlplabError, SpecError, TrainingDiverged
from .specs import DataSpec, Experiment, ModelSpec, TrainSpec
from .data import Dataset, load_csv, make_dataset
from .models import build_model, count_parameters
from .training.run import Run, load_run
from .training.loop import train
from .presets import PRESETS, experiment
from .api import run
from . import autograd, diagnostics, geometry, store, sweep, viz
from .autograd import train_scratch

__all__ = [
    "DataFileError", "MlplabError", "SpecError", "TrainingDiverged",
    "DataSpec", "Experiment", "ModelSpec", "TrainSpec",
    "Dataset", "load_csv", "make_dataset", "build_model", "count_parameters", "Run", "load_run",
    "train", "train_scratch", "PRESETS", "experiment", "run", "autograd", "diagnostics", "geometry", "store", "sweep", "viz",
]
