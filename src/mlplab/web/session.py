"""One playground page's state: its configuration, data, model and the worker thread that trains it.

Training goes through `mlplab.train` only; a `PlaygroundCallback` pauses it, changes its learning
rate, stops it, and turns the model into bounded-rate frames for the page. No HTTP here (see app.py).
"""

from __future__ import annotations

import base64
import io
import json
import math
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..data import Dataset, make_dataset
from ..errors import DataFileError, SpecError
from ..specs import FEATURES, DataSpec, ModelSpec, TrainSpec, validate
from ..training.callbacks import Callback, StopTraining
from ..training import metrics as M
from ..training.loop import LOSS_OUTPUT, TASK_LOSSES, train
from ..training.run import Run
from .scheduler import Scheduler, Turn
from .state import StateMachine

# Limits: each keeps one page from taking the server; every one is answered with a SpecError.
MAX_POINTS = 5000  # training + test points of any data set, uploaded or drawn
MAX_DEPTH = 10
MAX_WIDTH = 128
MAX_EPOCHS = 100_000
MAX_STEPS = 2_000_000  # epochs x batches per epoch: the loop preallocates one float per step
MAX_CLASSES = 10
FRAME_INTERVAL_S = 1 / 30  # at most ~30 frames a second reach a page
UNITS_INTERVAL_S = 0.5  # hidden-unit thumbnails are dearer: twice a second
REGIONS_INTERVAL_S = 1.0  # exact linear regions: at most once a second
PAUSED = "paused"  # the status of a `train` call that a pause ended (the session resumes it)
MAX_REGION_UNITS = 256  # skip exact regions above this many hidden units (enumeration grows fast)
DIAGRAM_UNITS = 16  # the network diagram draws the first this many units of each layer (and their links)
MAX_WEIGHT = 1000.0  # a weight typed into the diagram
XOR_DATA = ("xor", "tf-xor")  # a test split must leave training points in all four quadrants
HISTORY_FRAMES = 100  # frames kept for export (~4 MB with the grid); halved (every other kept) when full
GRID = 100  # heatmap resolution of the input-space view
UNIT_GRID = 24  # resolution of each hidden unit's thumbnail
CURVE_POINTS = 200
MAPPING_LINES = 11  # the 2D->2D view maps an 11 x 11 grid of lines through the model

PIECEWISE_LINEAR = {"relu", "leaky_relu", "identity"}
DATA_KEYS = {"name", "n", "noise", "seed", "test_fraction", "X", "y", "task"}
EXCLUDED_DATA = {"csv", "digits", "mnist", "fashion-mnist"}  # not 2-D, or files: the page uploads instead
TOP_KEYS = {"preset", "data", "model", "train", "stop"}
MODEL_KEYS = {"hidden", "activation", "residual", "norm", "init", "leaky_slope", "features"}
TRAIN_KEYS = {"optimizer", "lr", "momentum", "batch_size", "weight_decay", "l1", "loss", "seed"}
STOP_KEYS = {"epochs", "loss"}


def playground_datasets() -> list[dict[str, Any]]:
    """Every generator with 1-D or 2-D inputs: name, task, input and output sizes, default n/noise."""
    from ..data import GENERATORS

    out = []
    for name in sorted(GENERATORS):
        if name in EXCLUDED_DATA:
            continue
        ds = make_dataset(name)
        if ds.d_in not in (1, 2):
            continue
        out.append({"name": name, "task": ds.task, "d_in": ds.d_in, "d_out": ds.d_out,
                    "n": ds.params.get("n", ds.n), "noise": ds.params.get("noise", 0.0)})
    return out


def playground_presets() -> list[dict[str, Any]]:
    """Seed presets a page can start from: trained experiments with 1-D or 2-D inputs."""
    from ..presets import PRESETS

    out = []
    for name, exp in PRESETS.items():
        if exp.kind == "train" and exp.model.in_dim in (1, 2) and exp.data.name not in EXCLUDED_DATA:
            out.append({"name": name, "title": exp.title, "data": exp.data.name})
    return out


# ---------------------------------------------------------------------------------------------
# configuration: the page's JSON -> a validated experiment and a Dataset


@dataclass
class Config:
    """A page's validated settings. ``experiment`` is a plain Experiment dict (data, model, train)."""

    experiment: dict[str, Any]
    data: Dataset
    custom: bool  # data came from an upload or drawing: exported as data.csv
    stop_epochs: int
    stop_loss: float | None
    raw: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # adjustments the page should tell the user about


def _table(value: Any, param: str, allowed: set[str]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SpecError(param, "a JSON object", value)
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise SpecError(f"{param}.{unknown[0]}", f"one of the fields {', '.join(sorted(allowed))}", value[unknown[0]])
    return value


def _finite_number(value: Any, param: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(param, f"a finite number in [{lo}, {hi}]", value)
    try:
        x = float(value)
    except OverflowError:  # a JSON integer of hundreds of digits
        raise SpecError(param, f"a number in [{lo}, {hi}]", value) from None
    if not math.isfinite(x):
        raise SpecError(param, f"a finite number in [{lo}, {hi}]", value)
    if not lo <= x <= hi:
        raise SpecError(param, f"a number in [{lo}, {hi}]", value)
    return x


def _integer(value: Any, param: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise SpecError(param, f"a whole number in [{lo}, {hi}]", value)
    return value


def custom_dataset(values: dict[str, Any], where: str = "data") -> Dataset:
    """Points given as ``X`` [[x1, x2], ...] (or [[x], ...]) and ``y`` (labels or targets) with a ``task``."""
    task = values.get("task", "binary")
    if task not in ("binary", "multiclass", "regression"):
        raise SpecError(f"{where}.task", "one of binary, multiclass, regression", task)
    X, y = values.get("X"), values.get("y")
    if not isinstance(X, list) or not X:
        raise SpecError(f"{where}.X", "a non-empty list of points [[x1, x2], ...]", X)
    if not isinstance(y, list) or len(y) != len(X):
        raise SpecError(f"{where}.y", f"a list of {len(X)} targets (one per point)", y if not isinstance(y, list) else f"{len(y)} targets")
    if len(X) > MAX_POINTS:
        raise SpecError(f"{where}.X", f"at most {MAX_POINTS} points", f"{len(X)} points")
    width = len(X[0]) if isinstance(X[0], list) else -1
    if width not in (1, 2):
        raise SpecError(f"{where}.X", "points with 1 or 2 coordinates", X[0])
    for i, p in enumerate(X):
        if not isinstance(p, list) or len(p) != width:
            raise SpecError(f"{where}.X[{i}]", f"a list of {width} numbers", p)
        for v in p:
            _finite_number(v, f"{where}.X[{i}]", -1e6, 1e6)
    if task == "regression":
        rows = [t if isinstance(t, list) else [t] for t in y]
        d_out = len(rows[0])
        for i, t in enumerate(rows):
            if len(t) != d_out or d_out not in (1, 2):
                raise SpecError(f"{where}.y[{i}]", "1 or 2 target numbers, the same for every point", y[i])
            for v in t:
                _finite_number(v, f"{where}.y[{i}]", -1e6, 1e6)
        targets = np.asarray(rows, dtype=np.float32)
    else:
        for i, t in enumerate(y):
            _integer(t, f"{where}.y[{i}]", 0, MAX_CLASSES - 1)
        targets = np.asarray(y, dtype=np.int64)
        k = int(targets.max()) + 1
        if task == "binary" and k > 2:
            raise SpecError(f"{where}.task", "multiclass for labels above 1", task, hint="use task='multiclass'")
        if len(set(y)) < 2:
            raise SpecError(f"{where}.y", "points of at least two classes", f"only class {y[0]}")
    return Dataset(np.asarray(X, dtype=np.float32), targets, task, "custom",
                   n_classes=None if task == "regression" else max(2, int(targets.max()) + 1))


# The JSON type of each setting the page sends (None always means "the default"). The specs would
# quietly read "yes" as true and "0.3" as 0.3; a page that sends those has a bug worth naming.
NUMBER = "a number"
FIELD_TYPES: dict[str, tuple[str, tuple[type, ...]]] = {
    "data.name": ("a string", (str,)), "data.task": ("a string", (str,)),
    "data.n": ("a whole number", (int,)), "data.seed": ("a whole number", (int,)),
    "data.noise": (NUMBER, (int, float)), "data.test_fraction": (NUMBER, (int, float)),
    "model.activation": ("a string", (str,)), "model.norm": ("a string", (str,)), "model.init": ("a string", (str,)),
    "model.residual": ("true or false", (bool,)), "model.leaky_slope": (NUMBER, (int, float)),
    "train.optimizer": ("a string", (str,)), "train.loss": ("a string", (str,)),
    "train.lr": (NUMBER, (int, float)), "train.momentum": (NUMBER, (int, float)),
    "train.weight_decay": (NUMBER, (int, float)), "train.l1": (NUMBER, (int, float)),
    "model.features": ("a list of feature names", (list,)), "train.batch_size": ("a whole number", (int,)),
    "train.seed": ("a whole number", (int,)), "stop.epochs": ("a whole number", (int,)), "stop.loss": (NUMBER, (int, float)),
}


def _check_types(tables: dict[str, dict[str, Any]]) -> None:
    for where, values in tables.items():
        for key, value in values.items():
            expected = FIELD_TYPES.get(f"{where}.{key}")
            if expected is None or value is None:
                continue
            what, types = expected
            if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
                raise SpecError(f"{where}.{key}", what, value)


def parse_config(raw: Any) -> Config:
    """Validate a page's settings; any problem is one SpecError naming the field."""
    from ..api import resolve

    raw = _table(raw, "config", TOP_KEYS)
    data_in = dict(_table(raw.get("data"), "data", DATA_KEYS))
    model_in = _table(raw.get("model"), "model", MODEL_KEYS)
    train_in = _table(raw.get("train"), "train", TRAIN_KEYS)
    stop_in = _table(raw.get("stop"), "stop", STOP_KEYS)
    _check_types({"data": data_in, "model": model_in, "train": train_in, "stop": stop_in})
    preset = raw.get("preset")
    base: dict[str, Any] = {}
    if preset is not None:
        names = {p["name"] for p in playground_presets()}
        if not isinstance(preset, str) or preset not in names:
            raise SpecError("preset", f"a trainable 1-D or 2-D preset ({', '.join(sorted(names))})", preset)
        base = resolve(preset).model_dump()

    notes: list[str] = []
    custom = data_in.get("name") == "custom"
    if custom:
        data = custom_dataset(data_in)
        seed = _integer(data_in.get("seed", 0), "data.seed", 0, 2**32 - 1)
        frac = _finite_number(data_in.get("test_fraction", 0.0), "data.test_fraction", 0.0, 0.9)
        data = data.split(frac, seed=seed) if frac and data.n >= 4 else data
        data_spec = {"name": "csv", "params": {"path": "data.csv"}}
    else:
        for key in ("X", "y", "task"):
            if key in data_in:
                raise SpecError(f"data.{key}", "no points unless data.name is 'custom'", "points")
        merged = {**base.get("data", {}), **data_in} if base else data_in
        spec = validate(DataSpec, {k: v for k, v in merged.items() if k != "params" or v}, "data")
        if spec.name in EXCLUDED_DATA:
            raise SpecError("data.name", "a 1-D or 2-D generated data set (upload a CSV for files)", spec.name)
        if spec.n is not None and spec.n > MAX_POINTS:
            raise SpecError("data.n", f"at most {MAX_POINTS} points in the playground", spec.n)
        data = make_dataset(spec)
        if data.d_in not in (1, 2):
            raise SpecError("data.name", "a data set with 1 or 2 inputs", spec.name)
        if spec.name in XOR_DATA and data.X_test is not None and min(xor_quadrants(data)) < 1:
            # A split that empties a quadrant leaves a problem a straight line can solve: no longer XOR.
            notes.append(f"test split dropped: {spec.name} with {spec.n or data.n + len(data.X_test)} points and "
                         f"test_fraction {spec.test_fraction} would leave a quadrant without training points "
                         "(then it is no longer XOR); add points for a test split")
            spec = spec.model_copy(update={"test_fraction": 0.0})
            data = make_dataset(spec)
        total = data.n + (0 if data.X_test is None else len(data.X_test))
        if total > MAX_POINTS:
            raise SpecError("data.n", f"at most {MAX_POINTS} points in the playground", total)
        data_spec = spec.model_dump()
    if data.n < 2 and data.X_test is None:
        raise SpecError("data.X" if custom else "data.n", "at least 2 training points", data.n)
    if data.n < 2:
        total = data.n + len(data.X_test)
        raise SpecError("data.test_fraction", "a test split that leaves at least 2 training points",
                        f"{data.n} training points of {total}", hint="lower data.test_fraction or add points")

    model_base = dict(base.get("model", {})) if base else {}
    train_base = dict(base.get("train", {})) if base else {}
    # A preset's own loss only carries over while the task is the same one.
    loss = train_in.get("loss", train_base.get("loss"))
    if loss not in TASK_LOSSES[data.task]:
        if "loss" in train_in:
            raise SpecError("train.loss", f"one of {', '.join(TASK_LOSSES[data.task])} for {data.task} data", loss)
        loss = {"regression": "mse", "binary": "bce", "multiclass": "ce"}[data.task]
    features = model_in.get("features", model_base.get("features", [])) or []
    for i, name in enumerate(features):
        if name not in FEATURES:
            raise SpecError(f"model.features[{i}]", f"one of {', '.join(FEATURES)}", name)
    if len(set(features)) != len(features):
        raise SpecError("model.features", "each feature at most once", features)
    if features and data.d_in != 2:
        raise SpecError("model.features", "[] for 1-D data (the features are of x1 and x2)", features)
    model_in = {k: v for k, v in model_in.items() if k != "features"}
    if features:
        model_in["features"] = list(features)
    hidden = model_in.get("hidden", model_base.get("hidden", [8, 8]))
    if not isinstance(hidden, list) or len(hidden) > MAX_DEPTH:
        raise SpecError("model.hidden", f"a list of at most {MAX_DEPTH} widths", hidden)
    for i, h in enumerate(hidden):
        _integer(h, f"model.hidden[{i}]", 1, MAX_WIDTH)
    out_act = LOSS_OUTPUT.get(loss, "none")
    if data.task == "multiclass":
        out_act = "none"
    model_fields = {**{k: v for k, v in model_base.items() if k in MODEL_KEYS - {"features"} | {"norm_position", "norm_stem", "bias", "init_std_w", "init_std_b", "init_value"}},
                    **model_in, "hidden": hidden, "in_dim": data.d_in, "out_dim": data.d_out, "out_activation": out_act}
    model_spec = validate(ModelSpec, model_fields, "model")
    if model_spec.poly_degree:
        raise SpecError("model.poly_degree", "0 in the playground", model_spec.poly_degree)
    train_fields = {**{k: v for k, v in train_base.items() if k in TRAIN_KEYS}, **train_in, "loss": loss}
    for key in ("lr", "weight_decay", "momentum", "l1"):
        if key in train_fields:
            _finite_number(train_fields[key], f"train.{key}", 0.0, 100.0)
    train_spec = validate(TrainSpec, train_fields, "train")
    if model_spec.norm == "batch" and train_spec.batch_size == 1:
        raise SpecError("train.batch_size", "at least 2 with batch norm", 1)

    # A preset keeps its notebook's epochs unless the page sets its own stop.
    default_epochs = min(int(train_base.get("epochs", MAX_EPOCHS)), MAX_EPOCHS) if base else MAX_EPOCHS
    stop_epochs = _integer(stop_in.get("epochs", default_epochs), "stop.epochs", 1, MAX_EPOCHS)
    batch = data.n if train_spec.batch_size is None else min(train_spec.batch_size, data.n)
    steps = stop_epochs * -(-data.n // batch)
    if steps > MAX_STEPS:
        raise SpecError("stop.epochs", f"at most {MAX_STEPS // -(-data.n // batch)} epochs with this batch size "
                        f"({MAX_STEPS} steps)", stop_epochs, hint="raise train.batch_size or lower stop.epochs")
    stop_loss = stop_in.get("loss")
    if stop_loss is not None:
        stop_loss = _finite_number(stop_loss, "stop.loss", 0.0, 1e9)
    experiment = {
        "name": preset or "playground",  # the preset it started from, so a URL of it maps back to it
        "kind": "train", "data": data_spec,
        "model": model_spec.model_dump(), "train": {**train_spec.model_dump(), "epochs": stop_epochs},
    }
    return Config(experiment, data, custom, stop_epochs, stop_loss, raw, notes)


def xor_quadrants(data: Dataset) -> list[int]:
    """Training points in each quadrant around the middle of all the points (training and test)."""
    X = data.X if data.X_test is None else np.concatenate([data.X, data.X_test])
    mid = (X.min(0) + X.max(0)) / 2
    right, up = data.X[:, 0] > mid[0], data.X[:, 1] > mid[1]
    return [int((r & u).sum()) for r in (right, ~right) for u in (up, ~up)]


# ---------------------------------------------------------------------------------------------
# frames: what the page draws, computed from the model


def b64(a: np.ndarray) -> str:
    """float32 little-endian bytes in base64 (a Float32Array on the page)."""
    return base64.b64encode(np.ascontiguousarray(a, dtype="<f4").tobytes()).decode("ascii")


def quantise(maps: np.ndarray) -> tuple[str, list[float], list[float]]:
    """Each row as 0..255 between its own min and max (the page colours every map by its own range, so
    this is all it needs; 10 x 16 unit maps stay ~120 kB): base64 bytes, the minima, the maxima."""
    if not maps.size:
        return "", [], []
    lo, hi = maps.min(1, keepdims=True), maps.max(1, keepdims=True)
    span = np.where(hi > lo, hi - lo, 1)
    q = np.rint((maps - lo) / span * 255).astype(np.uint8)
    return base64.b64encode(q.tobytes()).decode("ascii"), [float(v) for v in lo[:, 0]], [float(v) for v in hi[:, 0]]


def piecewise_linear(spec: ModelSpec) -> bool:
    return regions_reason(spec) is None


def regions_reason(spec: ModelSpec) -> str | None:
    """Why the exact linear regions cannot be drawn for this model (None: they can)."""
    from ..models.mlp import uses_features

    if spec.in_dim != 2:
        return "only for models of 2 inputs (this one has 1)"
    if spec.activation not in PIECEWISE_LINEAR:
        return f"{spec.activation} is not piecewise linear (ReLU, leaky ReLU or identity are)"
    if spec.norm == "layer":
        return "layer norm is not piecewise linear"
    if spec.poly_degree:
        return "polynomial features are not piecewise linear"
    if uses_features(spec):
        return (f"they do not apply with the input features {', '.join(spec.features)}: those bend the regions' "
                "edges in the input plane (only the raw inputs x1, x2 draw them)")
    units = sum(spec.hidden) * (2 if spec.residual else 1)
    if units > MAX_REGION_UNITS:
        return (f"{units} hidden units, above the cap of {MAX_REGION_UNITS} for exact enumeration "
                "(the count grows too fast to stay live)")
    return None


def view_kind(data: Dataset) -> str:
    if data.d_in == 1:
        return "curve"
    if data.task == "regression":
        return "mapping" if data.d_out == 2 else "heatmap"
    return "boundary"


class Frames:
    """Turns a model into the page's frame: loss, metrics, the input-space view, units, regions."""

    def __init__(self, data: Dataset, loss: str, box: list[tuple[float, float]]):
        self.data, self.loss_name, self.box = data, loss, box
        self.X = torch.from_numpy(np.ascontiguousarray(data.X, dtype=np.float32))
        self.Y = M.targets(data.y, data.task, loss)
        self.Xt = self.Yt = None
        if data.X_test is not None and len(data.X_test):
            self.Xt = torch.from_numpy(np.ascontiguousarray(data.X_test, dtype=np.float32))
            self.Yt = M.targets(data.y_test, data.task, loss)
        self.kind = view_kind(data)
        if data.d_in == 1:
            self.grid_x = np.linspace(box[0][0], box[0][1], CURVE_POINTS, dtype=np.float32)
            self.grid = torch.from_numpy(self.grid_x[:, None])  # (m, 1)
            # 1-D thumbnails are curves: UNIT_GRID^2 / 12 points across the input range
            self.unit_grid = torch.from_numpy(np.linspace(box[0][0], box[0][1], 48, dtype=np.float32)[:, None])
        else:
            self.axes = [np.linspace(lo, hi, GRID, dtype=np.float32) for lo, hi in box]
            xx, yy = np.meshgrid(*self.axes)  # rows follow y, columns follow x
            self.grid = torch.from_numpy(np.stack([xx.ravel(), yy.ravel()], 1))  # (g*g, 2)
            ux = [np.linspace(lo, hi, UNIT_GRID, dtype=np.float32) for lo, hi in box]
            uxx, uyy = np.meshgrid(*ux)
            self.unit_grid = torch.from_numpy(np.stack([uxx.ravel(), uyy.ravel()], 1))  # (u*u, 2)
        if self.kind == "mapping":
            t = np.linspace(0, 1, 40, dtype=np.float32)
            lines = []
            for c in np.linspace(0, 1, MAPPING_LINES, dtype=np.float32):
                (x0, x1), (y0, y1) = box
                lines.append(np.stack([x0 + t * (x1 - x0), np.full_like(t, y0 + c * (y1 - y0))], 1))
                lines.append(np.stack([np.full_like(t, x0 + c * (x1 - x0)), y0 + t * (y1 - y0)], 1))
            self.lines = torch.from_numpy(np.concatenate(lines))  # (2 * L * 40, 2)

    def display(self, out: torch.Tensor) -> torch.Tensor:
        """Model outputs as the page shows them: probabilities for classification."""
        if self.data.task == "binary" and self.loss_name == "bce_logits":
            return torch.sigmoid(out)
        if self.data.task == "multiclass":
            return torch.softmax(out, dim=-1)
        return out

    def loss_fn(self, out: torch.Tensor, Y: np.ndarray) -> float:
        """The training loss, computed as every Run's metrics compute it (`mlplab.training.metrics`)."""
        return M.loss_value(self.loss_name, out.numpy(), Y)

    def metric(self, out: torch.Tensor, Y: np.ndarray) -> float:
        if self.data.task == "regression":
            return M.r2(out.numpy(), Y)
        return M.accuracy(out.numpy(), Y, self.loss_name)

    @torch.no_grad()
    def frame(self, model: torch.nn.Module, *, units: bool, regions: dict[str, Any] | None) -> dict[str, Any]:
        was = model.training
        model.eval()
        try:
            out = model(self.X)
            f: dict[str, Any] = {"loss": _num(self.loss_fn(out, self.Y)), "metric_name": "R2" if self.data.task == "regression" else "accuracy"}
            f["metric"] = _num(self.metric(out, self.Y))
            if self.Xt is not None:
                out_t = model(self.Xt)
                f["test_loss"] = _num(self.loss_fn(out_t, self.Yt))
                f["test_metric"] = _num(self.metric(out_t, self.Yt))
            f["view"] = self._view(model, out)
            f["net"] = network(model)
            if units:
                f["units"] = self._units(model)
                f["health"] = self._health(model)
            if regions is not None:
                f["regions"] = regions
        finally:
            model.train(was)
        return f

    def _health(self, model: torch.nn.Module) -> list[dict[str, Any]]:
        """Layer health now (`mlplab.analysis.layer_health`): gradient and weight norms, activation mean and
        spread, dead ReLU units, on the training points; sent with the unit maps (twice a second)."""
        from ..analysis import layer_health

        with torch.enable_grad():
            rows = layer_health(model, self.X, torch.from_numpy(self.Y), self.loss_name)
        return [{k: (_num(v) if isinstance(v, float) else v) for k, v in row.items()} for row in rows]

    def _view(self, model: torch.nn.Module, out: torch.Tensor) -> dict[str, Any]:
        if self.kind == "curve":
            return {"kind": "curve", "y": b64(self.display(model(self.grid))[:, 0].numpy())}
        if self.kind == "mapping":
            return {"kind": "mapping", "pred": b64(out.numpy()), "lines": b64(model(self.lines).numpy())}
        g = self.display(model(self.grid))  # (g*g, d_out)
        if self.data.task == "multiclass":
            return {"kind": "classes", "z": b64(g.argmax(1).float().numpy()), "conf": b64(g.max(1).values.numpy())}
        return {"kind": "heatmap", "z": b64(g[:, 0].numpy())}

    def _units(self, model: torch.nn.Module) -> dict[str, Any]:
        """Each node's output over the input plane (a curve for 1-D data), for the diagram and the unit
        panel: the inputs (or input features), the first DIAGRAM_UNITS units of every hidden layer, the outputs."""
        maps: list[torch.Tensor] = []
        hooks = []
        acts = [m for m in model.modules() if type(m).__name__ in ("ReLU", "LeakyReLU", "Tanh", "Sigmoid", "Identity")
                and _is_hidden_activation(model, m)]
        def keep(_module: torch.nn.Module, _inputs: Any, output: torch.Tensor) -> None:
            maps.append(output.detach())

        for m in acts:
            hooks.append(m.register_forward_hook(keep))
        try:
            out = self.display(model(self.unit_grid))
        finally:
            for h in hooks:
                h.remove()
        inputs = _first_inputs(model, self.unit_grid)
        points = int(self.unit_grid.shape[0])
        shown = [m[:, :DIAGRAM_UNITS] for m in maps]
        every = torch.cat(shown, 1).T if shown else torch.zeros((0, points))  # (units, points)
        z, lo, hi = quantise(every.numpy())
        return {"count": int(every.shape[0]), "layers": [int(m.shape[1]) for m in shown],
                "totals": [int(m.shape[1]) for m in maps], "size": UNIT_GRID, "dim": self.data.d_in,
                "points": points, "z8": z, "lo": lo, "hi": hi, "inputs": b64(inputs.T.numpy()),
                "outputs": b64(out.T.numpy()), "n_inputs": int(inputs.shape[1]), "n_outputs": int(out.shape[1])}


def input_names(spec: ModelSpec) -> list[str]:
    """The diagram's input nodes: the features the model reads, or its raw inputs."""
    if spec.features:
        return list(spec.features)
    return ["x"] if spec.in_dim == 1 else [f"x{i + 1}" for i in range(spec.in_dim)]


def _linears(model: torch.nn.Module) -> list[torch.nn.Linear]:
    return [m for m in model.modules() if isinstance(m, torch.nn.Linear)]


def _first_inputs(model: torch.nn.Module, X: torch.Tensor) -> torch.Tensor:
    """What the first Linear layer reads: the inputs, or the input features the model expands them into."""
    seen: list[torch.Tensor] = []
    lins = _linears(model)
    if not lins:
        return X
    hook = lins[0].register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach()))
    try:
        model(X)
    finally:
        hook.remove()
    return seen[0] if seen else X


def network(model: torch.nn.Module) -> dict[str, Any] | None:
    """The diagram's links: for a plain MLP, every Linear layer's weights between the drawn units
    (the first DIAGRAM_UNITS of each layer); None for residual models, whose skips are not drawn."""
    spec = getattr(model, "spec", None)
    if spec is None or spec.residual:
        return None
    lins = _linears(model)
    sizes = [lins[0].in_features] + [m.out_features for m in lins]
    shown = [min(n, DIAGRAM_UNITS) for n in sizes]
    shown[-1] = sizes[-1]  # every output is drawn (at most MAX_CLASSES)
    w = [lin.weight.detach()[: shown[i + 1], : shown[i]].numpy() for i, lin in enumerate(lins)]
    return {"sizes": sizes, "shown": shown, "w": [b64(x) for x in w]}


def _is_hidden_activation(model: torch.nn.Module, m: torch.nn.Module) -> bool:
    """Activation modules between layers (not the output's Sigmoid/Softmax, not a norm's Identity)."""
    net = getattr(model, "net", None)
    if net is not None and len(net) and m is net[-1] and type(m).__name__ in ("Sigmoid", "Softmax"):
        return False
    if type(m).__name__ == "Identity":
        spec = getattr(model, "spec", None)
        return spec is not None and spec.activation == "identity" and not any(
            getattr(b, "norm", None) is m for b in model.modules())
    return True


def _num(v: Any) -> float | None:
    x = float(v)
    return x if math.isfinite(x) else None


def region_summary(model: torch.nn.Module, box: list[tuple[float, float]]) -> dict[str, Any]:
    """Exact linear-region count inside the view's box and the upper bound proven for the architecture
    (Serra et al. for plain nets, `geometry.bounds.residual_upper` for residual ones), with its name."""
    from ..geometry import linear_regions, upper_bound

    spec = model.spec
    started = time.perf_counter()
    regions = linear_regions(model, (tuple(box[0]), tuple(box[1])))
    units = sum(spec.hidden) * (2 if spec.residual else 1)
    bound, name = upper_bound(2, list(spec.hidden), residual=spec.residual, leaky=spec.activation == "leaky_relu")
    return {"count": len(regions), "bound": str(bound), "bound_name": name, "plain": not spec.residual,
            "units": units, "seconds": round(time.perf_counter() - started, 4)}


# ---------------------------------------------------------------------------------------------
# the session: a worker thread running mlplab.train


class PlaygroundCallback(Callback):
    """Pause, learning rate, stop, time slices and frames: the page's hands on `train`."""

    def __init__(self, session: Session):
        self.s = session

    def on_step_end(self, t, step: int, loss, pred) -> None:
        s = self.s
        if s._stop.is_set():
            raise StopTraining("interrupted", s._stop_reason)
        s._step_losses.append(float(loss))
        s._apply_edits()  # before the update: the step goes on from the edited weights
        if s.lr != s._lr_applied:
            t.engine.lr = s.lr  # every engine takes a new learning rate between steps
            s._lr_applied = s.lr
        if not s._turn.tick():  # stopped while queued for the next time slice
            raise StopTraining("interrupted", s._stop_reason)

    def on_epoch_end(self, t, epoch: int) -> None:
        self.s._epoch_done(t)


class Session:
    """A page's training, driven by page commands through a server-owned `StateMachine`.

    ``emit(message)`` receives every message for the page (frames, states, errors, replies) in
    order, from the server's threads and the worker thread alike. ``scheduler`` shares the CPU
    between sessions (see scheduler.py); each session has its own when none is given.
    """

    def __init__(self, config: Config, emit: Callable[[dict[str, Any]], None], scheduler: Scheduler | None = None):
        from ..training.loop import check_compatible

        self.config = config
        self.machine = StateMachine(emit)
        self.scheduler = scheduler or Scheduler()
        exp = config.experiment
        self.model_spec = validate(ModelSpec, exp["model"], "model")
        self.train_spec = validate(TrainSpec, {**exp["train"], "epochs": 1}, "train")
        self.box = config.data.bounds(margin=0.1)
        self.frames = Frames(config.data, self.train_spec.loss, self.box)
        self.lr = self.train_spec.lr
        self.regions_reason = regions_reason(self.model_spec)
        self.regions_on = self.regions_reason is None
        self._edits: list[tuple[int, int, int, float]] = []  # weight edits waiting for the running worker
        self._edits_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._stop_reason = ""
        self._turn = Turn(self.scheduler, self._stop)
        self.parked = threading.Event()  # set while the worker sleeps paused (it trains nothing then)
        self._build()
        check_compatible(self.model, config.data, self.train_spec)

    # -- state

    @property
    def status(self) -> str:
        return self.machine.state

    @property
    def message(self) -> str:
        return self.machine.message

    def _build(self) -> None:
        from ..models import build_model

        self.model = build_model(self.model_spec, seed=self.train_spec.seed)
        self.epoch = 0
        self._lr_applied = self.lr
        self._step_losses: list[float] = []
        self._last_frame = self._last_units = self._last_regions = -math.inf
        self._regions: dict[str, Any] | None = None
        self.history: list[dict[str, Any]] = []  # exported frames (epoch, loss, outputs)
        self._keep_every = 1
        self.state = {k: v.clone() for k, v in self.model.state_dict().items()}

    def data_message(self) -> dict[str, Any]:
        d = self.config.data
        msg = {"type": "data", "task": d.task, "d_in": d.d_in, "d_out": d.d_out, "n_classes": d.n_classes,
               "X": d.X.tolist(), "y": d.y.tolist(), "box": self.box, "view": self.frames.kind,
               "grid": GRID, "unit_grid": UNIT_GRID, "lr": self.lr, "regions": self.regions_on,
               "regions_reason": self.regions_reason, "notes": self.config.notes,
               "inputs": input_names(self.model_spec), "diagram_units": DIAGRAM_UNITS,
               "experiment": self.config.experiment}
        if d.X_test is not None:
            msg["X_test"], msg["y_test"] = d.X_test.tolist(), d.y_test.tolist()
        if self.frames.kind == "curve":
            msg["curve_x"] = self.frames.grid_x.tolist()
        if self.frames.kind == "mapping":
            msg["lines"] = MAPPING_LINES
        return msg

    def first_frame(self) -> dict[str, Any]:
        return self._make_frame(force_all=True)

    def hello(self) -> None:
        """The page connected: send it the current frame (with the state, as every message)."""
        self.machine.send(self.first_frame())

    # -- commands (from the server's threads; reset and close wait for the worker, so off the event loop)

    def command(self, cmd: str) -> None:
        """play, pause, step, reset or close; the state machine decides what each means now."""
        if cmd == "reset":
            self.reset()
        elif cmd == "close":
            self.close()
        else:
            with self.machine.lock:
                before, after = self.machine.command(cmd)
                if after == "running" and before != "running":
                    self._start()

    def play(self) -> None:
        self.command("play")

    def pause(self) -> None:
        self.command("pause")

    def step(self) -> None:
        self.command("step")

    def set_lr(self, lr: Any) -> None:
        self.lr = _finite_number(lr, "lr", 1e-8, 100.0)

    def set_weight(self, layer: Any, to: Any, frm: Any, value: Any) -> dict[str, Any]:
        """Set one weight: Linear layer ``layer`` (0 = the first), from unit ``frm`` to unit ``to``.

        A running worker applies it between two steps; otherwise it applies now and the page gets a
        frame showing it. Training goes on from the edited weights (and `to_run` exports them)."""
        lins = _linears(self.model)
        layer = _integer(layer, "layer", 0, len(lins) - 1)
        w = lins[layer].weight
        to = _integer(to, "to", 0, w.shape[0] - 1)
        frm = _integer(frm, "from", 0, w.shape[1] - 1)
        value = _finite_number(value, "value", -MAX_WEIGHT, MAX_WEIGHT)
        with self.machine.lock:
            if self.machine.state == "closed":
                raise SpecError("session", "an open session", "closed")
            if self.machine.state == "running":
                with self._edits_lock:
                    self._edits.append((layer, to, frm, value))
            else:  # no worker computes now: paused, idle or stopped
                self._apply((layer, to, frm, value))
                self.machine.send(self._make_frame(force_all=True))
        return {"type": "weight", "layer": layer, "to": to, "from": frm, "value": value}

    def _apply(self, edit: tuple[int, int, int, float]) -> None:
        layer, to, frm, value = edit
        with torch.no_grad():  # in place: the engine's flat parameters share this memory
            _linears(self.model)[layer].weight[to, frm] = value

    def _apply_edits(self) -> None:
        if self._edits:
            with self._edits_lock:
                edits, self._edits = self._edits, []
            for e in edits:
                self._apply(e)

    def reset(self) -> None:
        """Stop the worker, rebuild the model from its seed, and show the untrained frame (state idle)."""
        if self.machine.state == "closed":
            return
        self._halt("reset")
        with self.machine.lock:
            if self.machine.state == "closed":  # closed while the worker stopped
                return
            self._stop.clear()
            self._build()
            self.machine.command("reset")
            self.machine.send(self.first_frame())

    def close(self, reason: str = "closed") -> None:
        """Final: the state becomes closed (nothing restarts it) and the worker thread has ended on return."""
        self.machine.command("close")
        self._halt(reason)

    def _halt(self, reason: str) -> None:
        self._stop_reason = reason
        self._stop.set()
        self.machine.wake()  # a paused worker
        self.scheduler.wake()  # a worker queued for a time slice
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()  # a worker checks the stop after every step, frame and wait
        self._thread = None

    @property
    def worker(self) -> threading.Thread | None:
        return self._thread

    # -- the worker

    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=f"mlplab-playground-{id(self):x}", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        try:
            if self._turn.take():
                self._work()
        finally:
            self._turn.give()

    def _wait_running(self) -> None:
        """Paused: give up the time slice, sleep until the page plays (or the session stops)."""
        if self.machine.state != "running":
            self._turn.give()
            self.parked.set()
            try:
                self.machine.wait_running(self._stop)
            finally:
                self.parked.clear()
            if not self._stop.is_set() and self.machine.state == "running":
                self._turn.take()
        if self._stop.is_set() or self.machine.state != "running":
            raise StopTraining("interrupted", self._stop_reason or "stopped")

    def _work(self) -> None:
        cb = PlaygroundCallback(self)
        run = None
        try:
            while True:
                self._wait_running()
                if self.epoch >= self.config.stop_epochs or self._stop.is_set():
                    break
                # Pause ends this `train` call (the callback raises `PAUSED` after an epoch); play continues
                # the same run with `train(resume=run)`, the mechanism of `Run.resume`: the optimizer state,
                # the step counter and the batch order carry over, so a paused and played session trains
                # exactly as an uninterrupted one. A new learning rate reaches the engine between two steps
                # (`t.engine.lr`) without a pause.
                spec = self.train_spec.replace(epochs=self.config.stop_epochs - self.epoch, lr=self.lr, frames=2)
                self._lr_applied = self.lr
                if run is None:
                    run = train(self.model, self.config.data, spec, callbacks=[cb])
                else:
                    run = train(None, None, spec, callbacks=[cb], resume=run)
                if run.status == PAUSED:
                    continue
                if run.status == "diverged":
                    self.machine.event("diverged", run.message)
                elif run.status == "finished":
                    self.machine.event("finished", f"reached the epoch limit ({self.config.stop_epochs})")
                elif run.status == "stopped early":
                    self.machine.event("finished", run.message)
                break
        except StopTraining:
            pass
        except Exception as exc:  # a worker must never die silently: the page hears why
            self.machine.event("failed", f"training failed: {exc}")
        if not self._stop.is_set():
            self._apply_edits()  # an edit that came with the last step
            self.machine.send(self._make_frame(force_all=True))

    def _epoch_done(self, t) -> None:
        self.epoch += 1
        stop = self.config.stop_loss
        now = time.perf_counter()
        with self.machine.lock:
            budget = self.machine.step_budget
            if budget is not None:
                self.machine.step_budget = budget - 1
            budget_done = budget is not None and budget - 1 <= 0
        full = budget_done
        if budget_done or now - self._last_frame >= FRAME_INTERVAL_S:
            frame = self._make_frame(force_all=full)
            if stop is not None and frame["loss"] is not None and frame["loss"] <= stop:
                message = f"the training loss reached {frame['loss']:.6g} <= stop.loss {stop}"
                self.machine.event("finished", message)
                self.machine.send(frame)
                raise StopTraining("finished", message)
            self.machine.send(frame)
        if budget_done:
            self.machine.event("stepped")
        if self.machine.state != "running":
            if not full:  # the page rests on this model: its units, health and regions must be this model's too
                self.machine.send(self._make_frame(force_all=True))
            raise StopTraining(PAUSED, "paused by the page")  # `_work` resumes the run on play

    def _make_frame(self, force_all: bool = False) -> dict[str, Any]:
        now = time.perf_counter()
        units = force_all or now - self._last_units >= UNITS_INTERVAL_S
        if self.regions_on and (force_all or now - self._last_regions >= REGIONS_INTERVAL_S):
            try:
                self._regions = region_summary(self.model, self.box)
            except (SpecError, ValueError, FloatingPointError) as exc:
                self._regions = {"error": str(exc)}
            self._last_regions = time.perf_counter()
        f = self.frames.frame(self.model, units=units, regions=self._regions)
        if units:
            self._last_units = now
        self._last_frame = now
        f.update(type="frame", epoch=self.epoch, step=len(self._step_losses), lr=self.lr)
        self._remember(f)
        return f

    def _remember(self, f: dict[str, Any]) -> None:
        self.state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        if len(self.history) and self.history[-1]["step"] == f["step"]:
            return
        if len(self.history) >= HISTORY_FRAMES:
            self.history = self.history[::2]
            self._keep_every *= 2
        with torch.no_grad():
            was = self.model.training
            self.model.eval()
            out = self.model(self.frames.X).numpy().copy()
            grid = self.model(self.frames.grid).numpy().copy() if self.config.data.d_in == 2 else None
            self.model.train(was)
        self.history.append({"step": f["step"], "epoch": f["epoch"], "out": out, "grid": grid})

    # -- export

    def to_run(self) -> Run:
        """The session as a `Run`: losses per step, recorded frames, grid frames, the model at the last frame."""
        from ..models import build_model

        model = build_model(self.model_spec, seed=self.train_spec.seed)
        model.load_state_dict(self.state)
        model.eval()
        run = Run(spec=self.config.experiment, model=model, data=self.config.data)
        run.losses = np.asarray(self._step_losses, dtype=np.float32)
        hist = list(self.history)
        if hist:
            run.frames = np.stack([h["out"] for h in hist])  # (k, n, d_out)
            run.frame_steps = np.asarray([h["step"] for h in hist], dtype=np.int64)
            if hist[0]["grid"] is not None:
                g = GRID
                run.grid_frames = np.stack([h["grid"].reshape(g, g, -1) for h in hist])  # (k, g, g, d_out)
                run.grid_axes = (self.frames.axes[0], self.frames.axes[1])
        run.status = {"idle": "finished", "running": "interrupted", "paused": "interrupted"}.get(self.status, self.status)
        run.message = self.message
        run.metrics = M.split_metrics(lambda X: model(torch.from_numpy(np.ascontiguousarray(X, np.float32))).detach().numpy(),
                                      self.config.data, self.train_spec.loss)
        return run

    def export_zip(self) -> bytes:
        """run.json + trajectory.npz + model.pt (Run.save), snippet.py, and data.csv for own data."""
        buf = io.BytesIO()
        with tempfile.TemporaryDirectory(prefix="mlplab-export-") as tmp:
            self.to_run().save(Path(tmp) / "run")
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
                for p in sorted((Path(tmp) / "run").iterdir()):
                    z.write(p, f"playground/{p.name}")
                z.writestr("playground/snippet.py", snippet(self.config, self.epoch))
                if self.config.custom:
                    z.writestr("playground/data.csv", data_csv(self.config.data))
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


def csv_points(text: str, max_rows: int = MAX_POINTS) -> dict[str, Any]:
    """An uploaded CSV, read by `mlplab.load_csv`: its points as the page's custom data."""
    from ..data import load_csv

    with tempfile.TemporaryDirectory(prefix="mlplab-upload-") as tmp:
        path = Path(tmp) / "upload.csv"
        path.write_text(text)
        try:
            ds = load_csv(path, limit=max_rows + 1)
        except DataFileError as exc:
            raise SpecError("file", "a CSV file of numbers with a header line", exc.problem) from None
    if ds.n > max_rows:
        raise SpecError("file", f"at most {max_rows} rows", f"more than {max_rows} rows")
    if ds.d_in not in (1, 2):
        raise SpecError("file", "1 or 2 input columns besides the target (the last column)", f"{ds.d_in} input columns")
    if ds.task != "regression" and (ds.n_classes or 0) > MAX_CLASSES:
        raise SpecError("file", f"at most {MAX_CLASSES} classes", ds.n_classes)
    if not np.isfinite(ds.X).all() or (ds.task == "regression" and not np.isfinite(ds.y).all()):
        raise SpecError("file", "finite numbers only", "NaN or infinity")
    if ds.task == "regression" and ds.y.shape[1] > 2:
        raise SpecError("file", "1 or 2 target columns", ds.y.shape[1])
    y = ds.y.tolist() if ds.task != "regression" else [r if len(r) > 1 else r[0] for r in ds.y.tolist()]
    return {"name": "custom", "task": ds.task, "X": ds.X.tolist(), "y": y, "columns": ds.params.get("x", []),
            "class_names": ds.class_names}
