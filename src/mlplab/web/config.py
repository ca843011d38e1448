"""The page's configuration: its JSON (or an uploaded CSV) -> a validated experiment and a Dataset.

Every problem is one `SpecError` naming the field; the limits keep one page from taking the server.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..budget import check as check_budget
from ..data import Dataset, make_dataset
from ..engines import choose
from ..errors import DataFileError, SpecError
from ..models import build_model
from ..specs import FEATURES, DataSpec, Experiment, ModelSpec, TrainSpec, validate
from ..training.loop import LOSS_OUTPUT, TASK_LOSSES

# Limits: each keeps one page from taking the server; every one is answered with a SpecError.
MAX_POINTS = 5000  # training + test points of any data set, uploaded or drawn
MAX_DEPTH = 10
MAX_WIDTH = 128
MAX_EPOCHS = 100_000
MAX_STEPS = 2_000_000  # epochs x batches per epoch: the loop preallocates one float per step
MAX_CLASSES = 10
XOR_DATA = ("xor", "tf-xor")  # a test split must leave training points in all four quadrants

DATA_KEYS = {"name", "n", "noise", "seed", "test_fraction", "X", "y", "task"}
EXCLUDED_DATA = {"csv", "digits", "mnist", "fashion-mnist"}  # not 2-D, or files: the page uploads instead
TOP_KEYS = {"preset", "data", "model", "train", "stop"}
MODEL_KEYS = {"hidden", "activation", "residual", "norm", "init", "leaky_slope", "features"}
TRAIN_KEYS = {"optimizer", "lr", "momentum", "batch_size", "weight_decay", "l1", "loss", "seed", "engine"}
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
    engine: str = "torch"  # the engine `train` runs: train.engine, or the one "auto" picks for the model


def _table(value: Any, param: str, allowed: set[str]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SpecError(param, "a JSON object", value)
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise SpecError(f"{param}.{unknown[0]}", f"one of the fields {', '.join(sorted(allowed))}", value[unknown[0]])
    return value


def finite_number(value: Any, param: str, lo: float, hi: float) -> float:
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


def integer(value: Any, param: str, lo: int, hi: int) -> int:
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
            finite_number(v, f"{where}.X[{i}]", -1e6, 1e6)
    if task == "regression":
        rows = [t if isinstance(t, list) else [t] for t in y]
        d_out = len(rows[0])
        for i, t in enumerate(rows):
            if len(t) != d_out or d_out not in (1, 2):
                raise SpecError(f"{where}.y[{i}]", "1 or 2 target numbers, the same for every point", y[i])
            for v in t:
                finite_number(v, f"{where}.y[{i}]", -1e6, 1e6)
        targets = np.asarray(rows, dtype=np.float32)
    else:
        for i, t in enumerate(y):
            integer(t, f"{where}.y[{i}]", 0, MAX_CLASSES - 1)
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
    "train.optimizer": ("a string", (str,)), "train.loss": ("a string", (str,)), "train.engine": ("a string", (str,)),
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
        seed = integer(data_in.get("seed", 0), "data.seed", 0, 2**32 - 1)
        frac = finite_number(data_in.get("test_fraction", 0.0), "data.test_fraction", 0.0, 0.9)
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
        integer(h, f"model.hidden[{i}]", 1, MAX_WIDTH)
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
            finite_number(train_fields[key], f"train.{key}", 0.0, 100.0)
    train_spec = validate(TrainSpec, train_fields, "train")
    if model_spec.norm == "batch" and train_spec.batch_size == 1:
        raise SpecError("train.batch_size", "at least 2 with batch norm", 1)
    # train.engine decides here as in `mlplab.train`: one that cannot run this model is refused by name
    engine = choose(train_spec.engine, build_model(model_spec, seed=train_spec.seed), train_spec, data.task).name

    # A preset keeps its notebook's epochs unless the page sets its own stop.
    default_epochs = min(int(train_base.get("epochs", MAX_EPOCHS)), MAX_EPOCHS) if base else MAX_EPOCHS
    stop_epochs = integer(stop_in.get("epochs", default_epochs), "stop.epochs", 1, MAX_EPOCHS)
    batch = data.n if train_spec.batch_size is None else min(train_spec.batch_size, data.n)
    steps = stop_epochs * -(-data.n // batch)
    if steps > MAX_STEPS:
        raise SpecError("stop.epochs", f"at most {MAX_STEPS // -(-data.n // batch)} epochs with this batch size "
                        f"({MAX_STEPS} steps)", stop_epochs, hint="raise train.batch_size or lower stop.epochs")
    stop_loss = stop_in.get("loss")
    if stop_loss is not None:
        stop_loss = finite_number(stop_loss, "stop.loss", 0.0, 1e9)
    experiment = {
        "name": preset or "playground",  # the preset it started from, so a URL of it maps back to it
        "kind": "train", "data": data_spec,
        "model": model_spec.model_dump(), "train": {**train_spec.model_dump(), "epochs": stop_epochs},
    }
    # The memory check `mlplab.run` makes (budget.check), counting the points the page holds (own data has
    # no file to count yet): a page too large to fit is refused naming the field that costs most.
    exp = validate(Experiment, experiment, "page")
    check_budget(exp.replace(data=exp.data.replace(n=data.n + (0 if data.X_test is None else len(data.X_test)))))
    return Config(experiment, data, custom, stop_epochs, stop_loss, raw, notes, engine)


def xor_quadrants(data: Dataset) -> list[int]:
    """Training points in each quadrant around the middle of all the points (training and test)."""
    X = data.X if data.X_test is None else np.concatenate([data.X, data.X_test])
    mid = (X.min(0) + X.max(0)) / 2
    right, up = data.X[:, 0] > mid[0], data.X[:, 1] > mid[1]
    return [int((r & u).sum()) for r in (right, ~right) for u in (up, ~up)]



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
