"""mlplab: see and measure how multilayer perceptrons learn.

The public API, re-exported by name::

    import mlplab
    run = mlplab.experiment("piecewise-residual").run()
    mlplab.viz.animate(run).show()
"""

__version__ = "0.1.0"

from .errors import DataFileError, MlplabError, SpecError, TrainingDiverged
from .specs import DataSpec, Experiment, ModelSpec, TrainSpec
from .data import Dataset, make_dataset
from .models import build_model, count_parameters
from .training.run import Run, load_run

__all__ = [
    "DataFileError", "MlplabError", "SpecError", "TrainingDiverged",
    "DataSpec", "Experiment", "ModelSpec", "TrainSpec",
    "Dataset", "make_dataset", "build_model", "count_parameters", "Run", "load_run",
]
