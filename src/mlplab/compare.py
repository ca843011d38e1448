"""Side-by-side studies (``kind = "compare"``): one computation beside its reference, named by ``extras["study"]``.

Training goes through `mlplab.api`; each study's figures live in `mlplab.viz.studies`.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any, Callable

import numpy as np

from .errors import SpecError
from .specs import Experiment
from .training.run import Run

GRID = 100


def compare(exp: Experiment, spec: dict[str, Any]) -> Run:
    """Run the study ``exp.extras["study"]`` (default "paths")."""
    study = exp.extras.get("study", "paths")
    if study not in STUDIES:
        raise SpecError("extras.study", f"one of {', '.join(STUDIES)}", study)
    check_sklearn(exp)  # the scikit-learn models' memory, before any run trains
    from .presets import PRESETS

    for i, name in enumerate(exp.extras.get("runs", [])):  # before the first one trains
        if name not in PRESETS:
            raise SpecError(f"extras.runs[{i}]", "a preset name (`mlplab list` shows them)", name)
    return STUDIES[study](exp, spec)


# What an MLPClassifier holds per parameter (float64): weights and gradients, plus adam's two moments or
# L-BFGS's history of ten pairs (an estimate, as `mlplab.budget`'s: arrays only, no overheads).
SKLEARN_COPIES = {"adam": 4, "sgd": 3, "lbfgs": 24}
SKLEARN_BATCH = 200  # MLPClassifier's default batch_size ("auto": min(200, n))


def check_sklearn(exp: Experiment) -> None:
    """Each ``extras.sklearn`` entry's settings and memory, refused by field before anything is fitted."""
    from .budget import ENV_LIMIT, human, memory_limit, rows

    entries = exp.extras.get("sklearn", [])
    if not isinstance(entries, list):
        raise SpecError("extras.sklearn", "a list of MLPClassifier settings (tables)", entries)
    n, limit = rows(exp.data), memory_limit()
    for i, settings in enumerate(entries):
        where = f"extras.sklearn[{i}]"
        if not isinstance(settings, dict):
            raise SpecError(where, "a table of MLPClassifier settings", settings)
        sizes = settings.get("hidden_layer_sizes", (100,))
        sizes = [sizes] if isinstance(sizes, int) and not isinstance(sizes, bool) else sizes
        if not (isinstance(sizes, (list, tuple)) and sizes
                and all(isinstance(h, int) and not isinstance(h, bool) and h > 0 for h in sizes)):
            raise SpecError(f"{where}.hidden_layer_sizes", "a positive width or a list of them", sizes)
        solver = settings.get("solver", "adam")
        widths = [exp.model.in_dim, *sizes, 1]
        params = sum((a + 1) * b for a, b in zip(widths[:-1], widths[1:]))
        batch = n if solver == "lbfgs" else min(n, int(settings.get("batch_size", SKLEARN_BATCH) or SKLEARN_BATCH))
        rows_at_once = max(batch, GRID * GRID)  # the fit's batches, then the probability map's grid
        need = 8 * (SKLEARN_COPIES.get(solver, 4) * params + 2 * rows_at_once * sum(widths))
        if need > limit:
            raise SpecError(f"{where}.hidden_layer_sizes", f"a model that fits in {human(limit)} of memory "
                            f"({ENV_LIMIT} sets the limit)", f"{list(sizes)}: about {human(need)} "
                            f"({params:,} parameters)", hint="Use fewer or narrower hidden layers")


# ------------------------------------------------------------------------- notebook 002: four paths


def paths(exp: Experiment, spec: dict[str, Any]) -> Run:
    """Run ``extras["runs"]`` (preset names) and ``extras["sklearn"]`` (MLPClassifier settings) on the same data."""
    import torch

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
    for name in exp.extras.get("runs", []):
        run = run_preset(name, progress=False, data=exp.data.model_dump())
        with torch.no_grad():
            proba = run.model(torch.from_numpy(points)).numpy()[:, 0]
        label = f"mlplab {name} ({run.engine})"
        extras[f"loss/{label}"] = run.losses
        extras[f"proba/{label}"] = proba.reshape(GRID, GRID)
        metrics[f"{name}/train_accuracy"] = run.metrics.get("train_accuracy", float("nan"))
    for i, settings in enumerate(exp.extras.get("sklearn", [])):
        settings = dict(settings)
        label = "scikit-learn " + (settings.pop("label", None) or f"#{i + 1}")
        clf = fit_sklearn(data.X, data.y, seed=exp.train.seed, **settings)
        extras[f"loss/{label}"] = np.asarray(clf.loss_curve_, dtype=np.float32)
        proba = clf.predict_proba(points.astype(np.float64))[:, 1]
        extras[f"proba/{label}"] = proba.reshape(GRID, GRID).astype(np.float32)
        metrics[f"{label}/train_accuracy"] = float(clf.score(data.X.astype(np.float64), data.y))
    return Run(spec=spec, extras=extras, metrics=metrics, data=data)


def fit_sklearn(X: np.ndarray, y: np.ndarray, *, seed: int, **settings: Any):
    """scikit-learn's MLPClassifier fitted on (X, y), as notebook 002 does (ending at max_iter is expected)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(random_state=seed, **settings)
    with warnings.catch_warnings():  # the notebook's settings stop at max_iter on purpose
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(np.asarray(X, dtype=np.float64), y)  # the notebook fits make_moons' float64 arrays
    return clf


# --------------------------------------------------------------- notebook 002: backprop by hand

# The notebook's names for the tensors it checks, in the order it checks them.
CHECKED = ("dz2", "dw2", "da1", "dz1", "dw1")


def backprop_checks(X: np.ndarray, y: np.ndarray, w1: np.ndarray, w2: np.ndarray) -> dict[str, dict[str, Any]]:
    """Notebook 002's first hand-written backward pass (no bias, ReLU, linear output, mean squared error).

    X: (n, 2), y: (n,), w1: (2, h), w2: (h, 1), float32, laid out as the notebook's ``X @ w1``. Three
    versions of each gradient: ``autograd`` (PyTorch with ``retain_grad`` on every intermediate, the
    reference), ``notebook`` (the notebook's own torch expressions, ``dz2 = - 2 / len(z2) * (y - z2)``, ...,
    which its ``(dz2 == z2.grad).all()`` cells compare) and ``mlplab`` (the NumPy engine's VJPs,
    ``mlplab.autograd.ops``). Returns name -> those arrays, ``*_equal`` (bit for bit) and ``*_max_diff``.
    """
    import torch

    from .autograd import ops

    z1, mm1 = ops.matmul(X, w1)  # (n, 2) @ (2, h) -> (n, h)
    a1, relu_vjp = ops.relu(z1)
    z2, mm2 = ops.matmul(a1, w2)  # (n, h) @ (h, 1) -> (n, 1)
    _, loss_vjp = ops.mse(z2[:, 0], y)
    dz2 = loss_vjp(1.0)  # (n,) = -2/n (y - z2)
    da1, dw2 = mm2(dz2[:, None])
    dz1 = relu_vjp(da1)
    _, dw1 = mm1(dz1)
    engine = {"dz2": dz2, "dw2": dw2, "da1": da1, "dz1": dz1, "dw1": dw1}

    tw1, tw2 = (torch.tensor(w, requires_grad=True) for w in (w1, w2))
    tX, ty = torch.from_numpy(X), torch.from_numpy(y)
    tz1 = tX @ tw1
    tz1.retain_grad()
    ta1 = torch.relu(tz1)
    ta1.retain_grad()
    tz2 = (ta1 @ tw2).squeeze(1)  # (n,), as the notebook squeezes it
    tz2.retain_grad()
    torch.mean((ty - tz2) ** 2).backward()
    autograd = {"dz2": tz2.grad, "dw2": tw2.grad, "da1": ta1.grad, "dz1": tz1.grad, "dw1": tw1.grad}
    with torch.no_grad():  # the notebook's cells, as written there
        n_dz2 = -2 / len(tz2) * (ty - tz2)
        n_dw2 = ta1.T @ n_dz2.unsqueeze(1)
        n_da1 = n_dz2.unsqueeze(1) @ tw2.T
        n_dz1 = (tz1 > 0) * n_da1
        n_dw1 = tX.T @ n_dz1
    notebook = {"dz2": n_dz2, "dw2": n_dw2, "da1": n_da1, "dz1": n_dz1, "dw1": n_dw1}
    out = {}
    for name in CHECKED:
        ref = autograd[name].numpy()
        row: dict[str, Any] = {"autograd": ref}
        for who, value in (("notebook", notebook[name].numpy()), ("mlplab", np.asarray(engine[name], np.float32))):
            row[who] = value
            row[f"{who}_equal"] = bool(np.array_equal(value, ref))
            row[f"{who}_max_diff"] = float(np.abs(value.astype(np.float64) - ref).max())
        out[name] = row
    return out


def backprop_by_hand(exp: Experiment, spec: dict[str, Any]) -> Run:
    """The checks at the first step, then the notebook's loop (``train``: SGD on the NumPy engine)."""
    import torch

    from .api import run_experiment
    from .models import build_model

    if exp.model.bias or len(exp.model.hidden) != 1 or exp.model.in_dim != 2 or exp.model.out_dim != 1:
        raise SpecError("model", "notebook 002's 2-h-1 network without biases (bias = false)", exp.model.hidden)
    run = run_experiment(exp.replace(kind="train", extras={}))  # the study's own settings are not training's
    model0 = build_model(exp.model, seed=exp.train.seed)  # the same initial weights the training started from
    w1 = model0.net[0].weight.detach().numpy().T.copy()  # torch keeps (out, in); the notebook's w1 is (in, out)
    w2 = model0.net[2].weight.detach().numpy().T.copy()
    checks = backprop_checks(run.data.X, run.data.y.astype(np.float32), w1, w2)
    extras = dict(run.extras)
    # A linear output fitted to 0/1 labels by MSE says "class 1" above 0.5 (the notebook's colour map).
    with torch.no_grad():
        out = run.model(torch.from_numpy(run.data.X)).numpy()[:, 0]
    metrics = {**run.metrics, "train_accuracy": float(np.mean((out > 0.5) == (run.data.y == 1)))}
    for name, c in checks.items():
        for who in ("autograd", "notebook", "mlplab"):
            extras[f"check/{who}/{name}"] = c[who]
        metrics[f"{name}: notebook's expression == autograd"] = float(c["notebook_equal"])
        metrics[f"{name}: max |mlplab VJP - autograd|"] = c["mlplab_max_diff"]
    return dataclasses.replace(run, spec=spec, extras=extras, metrics=metrics)


# ----------------------------------------------------------------------- notebook 002: VJP of sin


def vjp_sin(exp: Experiment, spec: dict[str, Any]) -> Run:
    """``f = sin(x)`` on [0, 2 pi]: autograd's ``x.grad`` after ``f.backward(v)``, ``f.grad_fn(v)``, ``v * cos(x)``
    and mlplab's NumPy VJP, with v = ones (notebook 002's cells)."""
    import torch

    from .autograd import ops

    n = int(exp.extras.get("points", 100))
    x = torch.linspace(0, 2 * np.pi, n, requires_grad=True)
    f = torch.sin(x)
    v = torch.ones_like(f)
    by_hand = v * torch.cos(x)
    grad_fn = f.grad_fn(v)
    f.backward(v)
    xs = x.detach().numpy().copy()
    _, engine_vjp = ops.sin(xs)
    extras = {"x": xs, "f": f.detach().numpy().copy(), "x.grad": x.grad.numpy().copy(),
              "v * cos(x)": by_hand.detach().numpy().copy(), "f.grad_fn(v)": grad_fn.detach().numpy().copy(),
              "mlplab ops.sin VJP": engine_vjp(np.ones_like(xs))}
    ref = extras["x.grad"]
    metrics = {f"max |{k} - x.grad|": float(np.abs(extras[k] - ref).max())
               for k in ("v * cos(x)", "f.grad_fn(v)", "mlplab ops.sin VJP")}
    return Run(spec=spec, extras=extras, metrics=metrics)


# -------------------------------------------------------------- notebook 004: gradients through depth


def depth_gradients(exp: Experiment, spec: dict[str, Any]) -> Run:
    """||dL/dW|| per layer at initialisation for each activation x initialisation in ``extras`` (one batch)."""
    from .data import make_dataset
    from .diagnostics import layer_gradient_norms

    data = make_dataset(exp.data)
    if data.task != "multiclass":
        raise SpecError("data", "a multiclass data set (the gradient of cross-entropy is measured)", data.name)
    ex = exp.extras
    n = min(int(ex.get("batch", 256)), data.n)
    X, y = data.X[:n], data.y[:n]
    base = exp.model.model_dump() | {"in_dim": data.d_in, "out_dim": data.d_out}
    extras: dict[str, np.ndarray] = {"layer": np.arange(1, len(exp.model.hidden) + 2)}
    metrics: dict[str, float] = {}
    for act in ex.get("activations", ["sigmoid", "relu"]):
        for init in ex.get("inits", ["default", "xavier_uniform"]):
            norms = layer_gradient_norms({**base, "activation": act, "init": init}, X, y, seed=exp.train.seed)
            label = f"{act}, {init}"
            extras[f"norm/{label}"] = norms
            metrics[f"{label}: first / last layer"] = float(norms[0] / norms[-1])
    return Run(spec=spec, extras=extras, metrics=metrics)  # no data: the report draws the norms, not the images


# -------------------------------------------------------------- notebook 003: optimizers on the sine


def optimizers(exp: Experiment, spec: dict[str, Any]) -> Run:
    """The presets in ``extras["runs"]`` on the same data: loss per step and wall time of each optimizer."""
    import time

    from .api import run as run_preset

    extras: dict[str, np.ndarray] = {}
    metrics: dict[str, float] = {}
    data = None
    for name in exp.extras.get("runs", []):
        started = time.perf_counter()
        run = run_preset(name, progress=False, data=exp.data.model_dump())
        seconds = time.perf_counter() - started
        label = f"{name} ({run.spec['train']['optimizer']}, {run.engine} engine)"
        extras[f"loss/{label}"] = run.losses
        if run.grid_frames is not None:
            extras[f"fit/{label}"] = run.grid_frames[-1][:, 0]
            extras["fit_x"] = run.grid_axes[0]
        metrics[f"{name}/final_loss"] = float(run.final_loss)
        metrics[f"{name}/steps"] = float(run.steps)
        metrics[f"{name}/seconds"] = seconds
        data = run.data
    return Run(spec=spec, extras=extras, metrics=metrics, data=data)


# study name -> the function that runs it; the presets name these in extras["study"].
STUDIES: dict[str, Callable[[Experiment, dict[str, Any]], Run]] = {
    "paths": paths,
    "backprop-by-hand": backprop_by_hand,
    "vjp-sin": vjp_sin,
    "depth-gradients": depth_gradients,
    "optimizers": optimizers,
}
