"""Side-by-side experiments: several mlplab training paths and scikit-learn on the same data.

Notebook 002 fits the moons three ways (torch optimizer, hand-written update, hand-written backprop)
after two scikit-learn ``MLPClassifier`` fits; ``compare`` runs them all and keeps, per path, the loss
curve and the predicted probability on one grid, so one report can put them side by side.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .errors import SpecError
from .specs import Experiment
from .training.run import Run

GRID = 100


def compare(exp: Experiment, spec: dict[str, Any]) -> Run:
    """Run ``extras["runs"]`` (preset names) and ``extras["sklearn"]`` (MLPClassifier settings) on the same data."""
    from .api import run as run_preset
    from .data import make_dataset

    data = make_dataset(exp.data)
    if data.task != "binary" or data.d_in != 2:
        raise SpecError("data", "a binary 2-D data set for a comparison", data.name)
    (x0, x1), (y0, y1) = data.bounds(margin=0.1)
    gx, gy = np.linspace(x0, x1, GRID, dtype=np.float32), np.linspace(y0, y1, GRID, dtype=np.float32)
    xx, yy = np.meshgrid(gx, gy)
    points = np.stack([xx.ravel(), yy.ravel()], axis=1)  # (GRID*GRID, 2), rows follow y
    extras: dict[str, np.ndarray] = {"grid_x": gx, "grid_y": gy}
    metrics: dict[str, float] = {}
    labels: list[str] = []
    for name in exp.extras.get("runs", []):
        run = run_preset(name, progress=False, data=exp.data.model_dump())
        import torch

        with torch.no_grad():
            proba = run.model(torch.from_numpy(points)).numpy()[:, 0]
        label = f"mlplab {name} ({run.engine})"
        labels.append(label)
        extras[f"loss/{label}"] = run.losses
        extras[f"proba/{label}"] = proba.reshape(GRID, GRID)
        metrics[f"{name}/train_accuracy"] = run.metrics.get("train_accuracy", float("nan"))
    for i, settings in enumerate(exp.extras.get("sklearn", [])):
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier

        settings = dict(settings)
        label = "scikit-learn " + (settings.pop("label", None) or f"#{i + 1}")
        clf = MLPClassifier(random_state=exp.train.seed, **settings)
        with warnings.catch_warnings():  # the seed's settings stop at max_iter on purpose
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(data.X, data.y)
        labels.append(label)
        extras[f"loss/{label}"] = np.asarray(clf.loss_curve_, dtype=np.float32)
        extras[f"proba/{label}"] = clf.predict_proba(points)[:, 1].reshape(GRID, GRID).astype(np.float32)
        metrics[f"{label}/train_accuracy"] = float(clf.score(data.X, data.y))
    return Run(spec=spec, extras=extras, metrics=metrics, data=data)
