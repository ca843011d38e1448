"""What a playground session exports: the zip (the `Run`'s files, a snippet, the page's own data as CSV)."""

from __future__ import annotations

import io
import json
import pprint
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..data import Dataset
from ..training.run import Run
from .config import Config


def export_zip(run: Run, config: Config, experiment: dict[str, Any], changes: list[dict[str, Any]] = ()) -> bytes:
    """run.json + trajectory.npz + model.pt (Run.save), snippet.py, and data.csv for own data."""
    buf = io.BytesIO()
    with tempfile.TemporaryDirectory(prefix="mlplab-export-") as tmp:
        run.save(Path(tmp) / "run")
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for p in sorted((Path(tmp) / "run").iterdir()):
                z.write(p, f"playground/{p.name}")
            z.writestr("playground/snippet.py", snippet(config, experiment, changes))
            if config.custom:
                z.writestr("playground/data.csv", data_csv(config.data))
    return buf.getvalue()


def data_csv(data: Dataset) -> str:
    """All points (training and test) as CSV: x1[, x2], then the target column(s)."""
    Xs = [data.X] + ([data.X_test] if data.X_test is not None else [])
    ys = [data.y] + ([data.y_test] if data.y_test is not None else [])
    X, y = np.concatenate(Xs), np.concatenate(ys)
    xcols = [f"x{i + 1}" for i in range(X.shape[1])]
    ycols = ["label"] if y.ndim == 1 else [f"y{i + 1}" for i in range(y.shape[1])]
    lines = [",".join(xcols + ycols)]
    for xi, yi in zip(X, y):
        tgt = [str(int(yi))] if y.ndim == 1 else [repr(float(v)) for v in yi]
        lines.append(",".join([repr(float(v)) for v in xi] + tgt))
    return "\n".join(lines) + "\n"


def snippet(config: Config, experiment: dict[str, Any], changes: list[dict[str, Any]] = ()) -> str:
    """A Python script that trains what the page trained: the experiment as it started, with the page's live
    changes (learning rates, weight edits) replayed at the steps they were made (`Replay`)."""
    exp = json.loads(json.dumps(experiment))
    if config.custom:
        d = config.data
        task = d.task
        cols = "label" if d.task != "regression" else [f"y{i + 1}" for i in range(d.d_out)]
        exp["data"] = {"name": "csv", "params": {"path": "data.csv", "y": cols, "task": task}}
    text = _python(exp)
    lines = [
        '"""Reproduce a playground run: python snippet.py (beside data.csv when the data was your own)."""',
        "import mlplab",
    ]
    if changes:
        lines.append("from mlplab.training.callbacks import Replay")
    lines += ["", f"experiment = {text}", ""]
    if changes:
        lines += ["# the page's live changes, at the steps it made them (see mlplab.training.callbacks.Replay)",
                  f"changes = {_python(list(changes))}", "",
                  "run = mlplab.run(experiment, callbacks=[Replay(changes)])"]
    else:
        lines.append("run = mlplab.run(experiment)")
    lines.append("print(run)")
    return "\n".join(lines) + "\n"


def _python(value: Any) -> str:
    """Plain values (dicts, lists, strings, numbers, booleans, None) written as a Python literal."""
    return pprint.pformat(value, indent=1, width=100, sort_dicts=False)
