"""mlplab: see and measure how multilayer perceptrons learn.

The public API, re-exported by name::

    import mlplab
    run = mlplab.run("piecewise-residual")
    mlplab.viz.animate(run).show()

Everything but the errors and the `Run` record loads on first use: ``import mlplab`` imports neither torch nor plotly.
"""

__version__ = "0.1.0"

import os as _os
import signal as _signal
import sys as _sys


def _early_interrupt(signum, frame) -> None:
    """Ctrl-C while the ``mlplab`` command starts: nothing is saved yet; one line, exit 130, no traceback.
    `mlplab.cli.main` hands Ctrl-C back to Python once it can say what an interruption kept."""
    _os.write(2, b"interrupted before anything was saved\n")
    _os._exit(130)


def _install_early_interrupt() -> None:
    try:
        _signal.signal(_signal.SIGINT, _early_interrupt)
    except ValueError:  # not the main thread
        pass


# Before any heavy import, this package's own included: Python imports the package first for
# `python -m mlplab` (sys.argv[0] is "-m" meanwhile) and for the `mlplab` script.
if _sys.argv and (_sys.argv[0] == "-m" or _os.path.basename(_sys.argv[0]) == "mlplab"):
    _install_early_interrupt()

import importlib
import importlib.util
from typing import Any

from .errors import DataFileError, MlplabError, SpecError, TrainingDiverged
from .training import run as _run_module

# The rest loads on first use: `mlplab --help` does not wait for torch, and a Ctrl-C while the CLI
# starts is the CLI's to handle (exit 130, no traceback). training.run needs only NumPy.
_LAZY = {
    "DataSpec": "specs", "Experiment": "specs", "ModelSpec": "specs", "TrainSpec": "specs",
    "Dataset": "data", "load_csv": "data", "make_dataset": "data",
    "build_model": "models", "count_parameters": "models",
    "Run": "training.run", "load_run": "training.run", "Interrupted": "training.run",
    "train": "training.loop", "train_stacked": "training.loop",
    "PRESETS": "presets", "experiment": "presets", "run": "api",
}


def train_scratch(model, data, spec=None, **fields: Any):
    """`train` on the from-scratch NumPy engine (``engine="numpy"``): every VJP written by hand."""
    from .training.loop import train

    return train(model, data, spec, engine="numpy", **fields)


def playground_url(experiment_or_run: Any, host: str = "127.0.0.1", port: int = 8000) -> str:
    """The playground page (``mlplab serve``) with this experiment, preset name or Run loaded."""
    return importlib.import_module(".web.url", __name__).playground_url(experiment_or_run, host, port)


def _run_html(r) -> str:
    return importlib.import_module(".viz.notebook", __name__).run_html(r)


_run_module.HTML_VIEW = _run_html  # the view layer draws a Run in a notebook; training never imports it


def _analysis_figure(result: Any, **options: Any) -> Any:
    return importlib.import_module(".viz.analysis", __name__).figure(result, **options)


# Analysis results draw themselves through the views, registered from here (analysis never imports viz).
# Only the package's light registry loads now; the analyses themselves load on first use.
_analysis_registry = importlib.import_module(".analysis._result", __name__)
_analysis_registry.register_renderer(_analysis_figure)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    elif not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        value = importlib.import_module(f".{name}", __name__)  # mlplab.viz, mlplab.presets, ...: loaded when used
    else:
        raise AttributeError(f"module 'mlplab' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "DataFileError", "MlplabError", "SpecError", "TrainingDiverged", "Interrupted",
    "DataSpec", "Experiment", "ModelSpec", "TrainSpec",
    "Dataset", "load_csv", "make_dataset", "build_model", "count_parameters", "Run", "load_run",
    "train", "train_stacked", "train_scratch", "PRESETS", "experiment", "run", "analysis", "autograd",
    "diagnostics", "geometry", "store", "sweep", "viz",
]
