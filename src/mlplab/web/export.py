"""What a playground session exports: the zip (the `Run`'s files, a snippet, the page's own data as CSV)."""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from ..data import Dataset
from ..training.run import Run
from .config import Config


def export_zip(run: Run, config: Config, epochs: int) -> bytes:
    """run.json + trajectory.npz + model.pt (Run.save), snippet.py, and data.csv for own data."""
    buf = io.BytesIO()
    with tempfile.TemporaryDirectory(prefix="mlplab-export-") as tmp:
        run.save(Path(tmp) / "run")
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for p in sorted((Path(tmp) / "run").iterdir()):
                z.write(p, f"playground/{p.name}")
            z.writestr("playground/snippet.py", snippet(config, epochs))
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


def snippet(config: Config, epochs: int) -> str:
    """A Python script that trains the same experiment with `mlplab.run`."""
    exp = json.loads(json.dumps(config.experiment))
    exp["train"]["epochs"] = max(1, epochs)
    if config.custom:
        d = config.data
        task = d.task
        cols = "label" if d.task != "regression" else [f"y{i + 1}" for i in range(d.d_out)]
        exp["data"] = {"name": "csv", "params": {"path": "data.csv", "y": cols, "task": task}}
    text = json.dumps(exp, indent=4).replace("true", "True").replace("false", "False").replace("null", "None")
    return (
        '"""Reproduce a playground run: python snippet.py (beside data.csv when the data was your own)."""\n'
        "import mlplab\n\n"
        f"experiment = {text}\n\n"
        "run = mlplab.run(experiment)\n"
        "print(run)\n"
    )
