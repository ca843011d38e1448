"""The page's configuration: its JSON (or an uploaded CSV) -> a validated experiment and a Dataset.

Every problem is one `SpecError` naming the field; the limits keep one page from taking the server.
"""

from __future__ import annotations

import functools
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
from ..specs import DataSpec, Experiment, ModelSpec, TrainSpec, validate
from ..training.loop import LOSS_OUTPUT, TASK_LOSSES

# Limits: each keeps one page from taking the server; every one is answered with a SpecError.
MAX_POINTS = 5000  # training + test points of any data set, uploaded or drawn
MAX_DEPTH = 10
MAX_WIDTH = 128
MAX_EPOCHS = 100_000
MAX_STEPS = 2_000_000  # epochs x batches per epoch: the loop preallocates one float per step
MAX_CLASSES = 10
MAX_TEST_FRACTION = 0.9
XOR_DATA = ("xor", "tf-xor")  # a test split must leave training points in all four quadrants

DATA_KEYS = {"name", "n", "noise", "seed", "test_fraction", "X", "y", "task"}
# images (never loaded for the page: 60,000 of them per request) or files (the page uploads instead)
EXCLUDED_DATA = {"csv", "digits", "mnist", "fashion-mnist", "fashion-or-digits"}
TOP_KEYS = {"preset", "data", "model", "train", "stop"}
MODEL_KEYS = {"hidden", "activation", "residual", "norm", "init", "leaky_slope", "features"}
TRAIN_KEYS = {"optimizer", "lr", "momentum", "batch_size", "weight_decay", "l1", "loss", "seed", "engine"}
STOP_KEYS = {"epochs", "loss"}


def playground_datasets() -> list[dict[str, Any]]:
    """Every generator with 1-D or 2-D inputs: name, task, input and output sizes, default n/noise."""
    return [dict(d) for d in _datasets()]


@functools.cache
def _datasets() -> tuple[dict[str, Any], ...]:
    from ..data import GENERATORS  # generators are pure: one look at each default set, once per process

    out = []
    for name in sorted(GENERATORS):
        if name in EXCLUDED_DATA:
            continue
        ds = make_dataset(name)
        if ds.d_in not in (1, 2):
            continue
        out.append({"name": name, "task": ds.task, "d_in": ds.d_in, "d_out": ds.d_out,
                    "n": ds.params.get("n", ds.n), "noise": ds.params.get("noise", 0.0)})
    return tuple(out)


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


def parse_config(raw: Any) -> Config:
    """Validate a page's settings; any problem is one SpecError naming the field.

    Types and ranges are the specs' own (`mlplab.specs`, the same rules and messages as `mlplab.run`, TOML
    files and sweeps); the page's limits come on top. Everything that can be refused is refused before a
    named data set is made: its shape is known from its name, its size from the spec."""
    from ..api import resolve

    raw = _table(raw, "config", TOP_KEYS)
    data_in = dict(_table(raw.get("data"), "data", DATA_KEYS))
    model_in = _table(raw.get("model"), "model", MODEL_KEYS)
    train_in = _table(raw.get("train"), "train", TRAIN_KEYS)
    stop_in = _table(raw.get("stop"), "stop", STOP_KEYS)
    preset = raw.get("preset")
    base: dict[str, Any] = {}
    if preset is not None:
        names = {p["name"] for p in playground_presets()}
        if not isinstance(preset, str) or preset not in names:
            raise SpecError("preset", f"a trainable 1-D or 2-D preset ({', '.join(sorted(names))})", preset)
        base = resolve(preset).model_dump()

    custom = data_in.get("name") == "custom"
    spec: DataSpec | None = None
    if custom:  # the points came with the request: read them now (bounded by MAX_POINTS)
        split = validate(DataSpec, {k: data_in[k] for k in ("seed", "test_fraction") if k in data_in}, "data")
        if split.test_fraction > MAX_TEST_FRACTION:
            raise SpecError("data.test_fraction", f"at most {MAX_TEST_FRACTION} in the playground", split.test_fraction)
        data: Dataset | None = custom_dataset(data_in)
        d_in, d_out, task, rows = data.d_in, data.d_out, data.task, data.n
        data_spec: dict[str, Any] = {"name": "csv", "params": {"path": "data.csv"}}
    else:
        for key in ("X", "y", "task"):
            if key in data_in:
                raise SpecError(f"data.{key}", "no points unless data.name is 'custom'", "points")
        merged = {**base.get("data", {}), **data_in} if base else data_in
        spec = validate(DataSpec, {k: v for k, v in merged.items() if k != "params" or v}, "data")
        known = {d["name"]: d for d in playground_datasets()}
        if spec.name not in known:  # an image set or a file is refused by name, before a byte of it is read
            raise SpecError("data.name", f"a 1-D or 2-D generated data set ({', '.join(known)}; upload a CSV "
                            "for files)", spec.name)
        if spec.n is not None and spec.n > MAX_POINTS:
            raise SpecError("data.n", f"at most {MAX_POINTS} points in the playground", spec.n)
        data, (d_in, d_out, task) = None, (known[spec.name][k] for k in ("d_in", "d_out", "task"))
        rows = rows_estimate(spec)

    model_base = dict(base.get("model", {})) if base else {}
    train_base = dict(base.get("train", {})) if base else {}
    # A preset's own loss only carries over while the task is the same one.
    loss = train_in.get("loss", train_base.get("loss"))
    if loss not in TASK_LOSSES[task]:
        if "loss" in train_in:
            raise SpecError("train.loss", f"one of {', '.join(TASK_LOSSES[task])} for {task} data", loss)
        loss = {"regression": "mse", "binary": "bce", "multiclass": "ce"}[task]
    out_act = "none" if task == "multiclass" else LOSS_OUTPUT.get(loss, "none")
    kept = MODEL_KEYS | {"norm_position", "norm_stem", "bias", "init_std_w", "init_std_b", "init_value"}
    model_fields = {"hidden": [8, 8], **{k: v for k, v in model_base.items() if k in kept}, **model_in,
                    "in_dim": d_in, "out_dim": d_out, "out_activation": out_act}
    model_spec = validate(ModelSpec, model_fields, "model")
    if len(model_spec.hidden) > MAX_DEPTH:
        raise SpecError("model.hidden", f"at most {MAX_DEPTH} widths in the playground", model_spec.hidden)
    for i, h in enumerate(model_spec.hidden):
        if h > MAX_WIDTH:
            raise SpecError(f"model.hidden[{i}]", f"a width of at most {MAX_WIDTH} in the playground", h)
    if model_spec.poly_degree:
        raise SpecError("model.poly_degree", "0 in the playground", model_spec.poly_degree)
    train_spec = validate(TrainSpec, {**{k: v for k, v in train_base.items() if k in TRAIN_KEYS}, **train_in,
                                      "loss": loss}, "train")
    if model_spec.norm == "batch" and train_spec.batch_size == 1:
        raise SpecError("train.batch_size", "at least 2 with batch norm", 1)
    # train.engine decides here as in `mlplab.train`: one that cannot run this model is refused by name
    engine = choose(train_spec.engine, build_model(model_spec, seed=train_spec.seed), train_spec, task).name

    # A preset keeps its notebook's epochs unless the page sets its own stop.
    default_epochs = min(int(train_base.get("epochs", MAX_EPOCHS)), MAX_EPOCHS) if base else MAX_EPOCHS
    stop_epochs = validate(TrainSpec, {"epochs": stop_in.get("epochs", default_epochs)}, "stop").epochs
    if stop_epochs > MAX_EPOCHS:
        raise SpecError("stop.epochs", f"at most {MAX_EPOCHS} in the playground", stop_epochs)
    stop_loss = stop_in.get("loss")
    if stop_loss is not None:
        stop_loss = finite_number(stop_loss, "stop.loss", 0.0, 1e9)
    experiment = {
        "name": preset or "playground",  # the preset it started from, so a URL of it maps back to it
        "kind": "train", "data": data_spec if custom else spec.model_dump(),
        "model": model_spec.model_dump(), "train": {**train_spec.model_dump(), "epochs": stop_epochs},
    }
    # The memory check `mlplab.run` makes (budget.check), before the data is made: a page too large to fit
    # is refused naming the field that costs most (own data has no file to count: its rows are counted).
    exp = validate(Experiment, experiment, "page")
    check_budget(exp.replace(data=exp.data.replace(n=rows)))

    notes: list[str] = []
    if data is None:
        data = make_dataset(spec)
        if spec.name in XOR_DATA and data.X_test is not None and min(xor_quadrants(data)) < 1:
            # A split that empties a quadrant leaves a problem a straight line can solve: no longer XOR.
            notes.append(f"test split dropped: {spec.name} with {spec.n or data.n + len(data.X_test)} points and "
                         f"test_fraction {spec.test_fraction} would leave a quadrant without training points "
                         "(then it is no longer XOR); add points for a test split")
            spec = spec.model_copy(update={"test_fraction": 0.0})
            data = make_dataset(spec)
            experiment["data"] = spec.model_dump()
        total = data.n + (0 if data.X_test is None else len(data.X_test))
        if total > MAX_POINTS:
            raise SpecError("data.n", f"at most {MAX_POINTS} points in the playground", total)
    elif split.test_fraction and data.n >= 4:
        data = data.split(split.test_fraction, seed=split.seed)
    if data.n < 2 and data.X_test is None:
        raise SpecError("data.X" if custom else "data.n", "at least 2 training points", data.n)
    if data.n < 2:
        total = data.n + len(data.X_test)
        raise SpecError("data.test_fraction", "a test split that leaves at least 2 training points",
                        f"{data.n} training points of {total}", hint="lower data.test_fraction or add points")
    batch = data.n if train_spec.batch_size is None else min(train_spec.batch_size, data.n)
    steps = stop_epochs * -(-data.n // batch)
    if steps > MAX_STEPS:
        raise SpecError("stop.epochs", f"at most {MAX_STEPS // -(-data.n // batch)} epochs with this batch size "
                        f"({MAX_STEPS} steps)", stop_epochs, hint="raise train.batch_size or lower stop.epochs")
    return Config(experiment, data, custom, stop_epochs, stop_loss, raw, notes, engine)


def rows_estimate(spec: DataSpec) -> int:
    """Points a named data set will hold (training and test), before it is made: at most the page's limit."""
    from ..budget import rows

    return min(rows(spec), MAX_POINTS)


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
