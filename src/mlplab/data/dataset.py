"""The `Dataset` type and the registry of generators that make one from a `DataSpec`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal

import numpy as np

from ..errors import SpecError
from ..specs import DataSpec, validate

Task = Literal["regression", "binary", "multiclass"]
# The most classes a label column may imply (model.out_dim's limit): a label of 10^9 is a typo, not a class.
MAX_CLASSES = 10_000


@dataclass(eq=False)
class Dataset:
    """Inputs, targets and what kind of task they pose.

    X: (n, d_in) float32. y: (n, d_out) float32 for regression; (n,) int64 class labels for
    binary and multiclass tasks. Optional splits share the same layout. ``grid`` is an optional
    (m, d_in) float32 set of inputs on which a 1-D fit is drawn (notebook 003's ``x_test``).
    """

    X: np.ndarray
    y: np.ndarray
    task: Task
    name: str
    params: dict[str, Any] = field(default_factory=dict)
    X_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    X_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    grid: np.ndarray | None = None
    n_classes: int | None = None
    class_names: list[str] | None = None
    image_shape: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        # The one guard where data enters: every array is checked here, whoever made it (a generator, a
        # CSV, image files, the Python API, the web page), so nothing non-finite or mislabelled trains.
        self.X = _inputs(self.X, "X", self.params)
        if self.X.ndim != 2:
            raise SpecError("X", "a 2-D array (n, d_in)", f"shape {self.X.shape}")
        if self.task != "regression" and self.n_classes is not None:
            if isinstance(self.n_classes, bool) or not isinstance(self.n_classes, (int, np.integer)) \
                    or self.n_classes < (2 if self.task == "binary" else 1):
                raise SpecError("n_classes", f"a whole number of classes for a {self.task} task", self.n_classes)
            self.n_classes = int(self.n_classes)
        self.y = _targets(self.y, self.task, "y", self.n_classes)
        if len(self.y) != len(self.X):
            raise SpecError("y", f"{len(self.X)} targets (one per row of X)", f"{len(self.y)} targets")
        if self.task != "regression" and self.n_classes is None:  # the splits' labels are held to it too
            self.n_classes = int(self.y.max()) + 1 if len(self.y) else 0
        for split in ("test", "val"):
            if getattr(self, f"X_{split}") is not None:
                setattr(self, f"X_{split}", _inputs(getattr(self, f"X_{split}"), f"X_{split}", self.params))
                setattr(self, f"y_{split}", _targets(getattr(self, f"y_{split}"), self.task, f"y_{split}",
                                                     self.n_classes))
        if self.grid is not None:
            self.grid = _inputs(self.grid, "grid", {})

    @property
    def n(self) -> int:
        return len(self.X)

    @property
    def d_in(self) -> int:
        return self.X.shape[1]

    @property
    def d_out(self) -> int:
        """Width of the model's output layer this data calls for."""
        if self.task == "regression":
            return self.y.shape[1]
        return 1 if self.task == "binary" else int(self.n_classes)

    def bounds(self, margin: float = 0.1) -> list[tuple[float, float]]:
        """Per input dimension (lo, hi) over all splits, widened by ``margin`` of the span."""
        parts = [a for a in (self.X, self.X_test, self.X_val) if a is not None and len(a)]
        allx = np.concatenate(parts)
        lo, hi = allx.min(0).astype(float), allx.max(0).astype(float)
        pad = np.maximum(hi - lo, 1e-6) * margin
        return [(float(a - p), float(b + p)) for a, b, p in zip(lo, hi, pad)]

    def split(self, test_fraction: float, seed: int = 0, *, into: str = "test") -> Dataset:
        """Hold out a seeded random fraction of the rows as the test (or validation) split.

        Both parts keep at least one row: a fraction that would leave the training rows empty is refused,
        naming ``data.test_fraction`` (or ``train.val_fraction`` for ``into="val"``)."""
        field = "data.test_fraction" if into == "test" else "train.val_fraction"
        if not 0 <= test_fraction < 1:
            raise SpecError(field, "a number in [0, 1)", test_fraction)
        if test_fraction == 0:
            return self
        rng = np.random.default_rng(seed)
        order = rng.permutation(self.n)
        k = max(1, int(round(self.n * test_fraction)))
        if k >= self.n:
            most = f"at most {(self.n - 1) / self.n:.3g}" if self.n > 1 else "0"
            raise SpecError(field, f"a fraction that leaves training rows: {most} of these {self.n} rows",
                            test_fraction, hint=f"it would hold out {k} of {self.n} rows and train on none")
        held, kept = np.sort(order[:k]), np.sort(order[k:])
        changes = {"X": self.X[kept], "y": self.y[kept], f"X_{into}": self.X[held], f"y_{into}": self.y[held]}
        return _replace(self, **changes)

    def __repr__(self) -> str:
        extra = "".join(
            f", {s}={len(getattr(self, 'X_' + s))}" for s in ("val", "test") if getattr(self, "X_" + s) is not None
        )
        return f"Dataset({self.name!r}, task={self.task}, n={self.n}, d_in={self.d_in}, d_out={self.d_out}{extra})"


def _inputs(X: Any, field: str, params: dict[str, Any]) -> np.ndarray:
    """Inputs as contiguous float32, every value finite (NaN or inf would train as "diverged")."""
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # beyond float32 becomes inf, refused just below
            X = np.ascontiguousarray(X, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise SpecError(field, "an array of numbers", f"values that are not ({exc})") from None
    _finite(X, field, params.get("x") if isinstance(params.get("x"), list) else None)
    return X


def _finite(a: np.ndarray, field: str, columns: list | None = None) -> None:
    """A SpecError naming the first non-finite value's row and column (its name when known)."""
    if np.isfinite(a).all():
        return
    where = np.argwhere(~np.isfinite(a))[0]
    place = f"row {where[0]}"
    if a.ndim == 2:
        col = int(where[1])
        name = f" ({columns[col]!r})" if columns and col < len(columns) else ""
        place += f", column {col}{name}"
    raise SpecError(field, "finite numbers", f"{a[tuple(where)]} at {place}",
                    hint="fill in or drop missing values and rescale columns beyond float32's range")


def _targets(y: Any, task: str, field: str = "y", n_classes: int | None = None) -> np.ndarray:
    y = np.asarray(y)
    if task == "regression":
        try:
            with np.errstate(over="ignore", invalid="ignore"):
                y = y.astype(np.float32)
        except (TypeError, ValueError) as exc:
            raise SpecError(field, "numbers for a regression task", f"values that are not ({exc})") from None
        y = np.ascontiguousarray(y[:, None] if y.ndim == 1 else y)
        _finite(y, field)
        return y
    if task in ("binary", "multiclass"):
        return np.ascontiguousarray(_labels(y.reshape(-1), task, field, n_classes))
    raise SpecError("task", "one of regression, binary, multiclass", task)


def _labels(y: np.ndarray, task: str, field: str, n_classes: int | None) -> np.ndarray:
    """Class labels as int64, each a whole number in 0..n_classes-1 (0 or 1 for a binary task)."""
    top = 2 if task == "binary" else (n_classes or MAX_CLASSES)
    expected = "class labels 0 or 1 for a binary task" if task == "binary" else f"class labels 0..{top - 1}"
    if y.dtype.kind not in "biuf":
        raise SpecError(field, expected, f"values of type {y.dtype}")
    if y.dtype.kind == "f":
        bad = ~np.isfinite(y) | (y != np.round(y))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise SpecError(field, expected, f"{y[i]} at row {i}")
    if len(y):
        low = int(np.argmin(y))
        if y[low] < 0:
            hint = "write the classes -1/+1 as 0/1" if task == "binary" else None
            raise SpecError(field, expected, f"{y[low]} at row {low}", hint=hint)
        high = int(np.argmax(y))
        if y[high] >= top:
            hint = "give task='multiclass'" if task == "binary" else (
                "give n_classes above the largest label" if n_classes else f"at most {MAX_CLASSES} classes")
            raise SpecError(field, expected, f"{y[high]} at row {high}", hint=hint)
    return y.astype(np.int64)


def _replace(ds: Dataset, **changes: Any) -> Dataset:
    fields = {k: getattr(ds, k) for k in ds.__dataclass_fields__}
    fields.update(changes)
    return Dataset(**fields)


# name -> generator(spec) -> Dataset. Generators are pure: the same spec gives the same arrays.
GENERATORS: dict[str, Callable[[DataSpec], Dataset]] = {}


def generator(name: str):
    """Register a generator under ``name`` (decorator)."""

    def register(fn: Callable[[DataSpec], Dataset]):
        GENERATORS[name] = fn
        return fn

    return register


def make_dataset(spec: DataSpec | dict | str | None = None, **fields: Any) -> Dataset:
    """Make the data set a `DataSpec` describes: ``make_dataset("moons", n=200, noise=0.1)``."""
    if isinstance(spec, str):
        fields = {"name": spec, **fields}
        spec = None
    if spec is None:
        spec = validate(DataSpec, fields, "data")
    else:
        spec = validate(DataSpec, spec if not fields else {**_dump(spec), **fields}, "data")
    if spec.name not in GENERATORS:
        raise SpecError("data.name", f"one of {', '.join(sorted(GENERATORS))}", spec.name)
    ds = GENERATORS[spec.name](spec)
    if spec.test_fraction and ds.X_test is None:
        ds = ds.split(spec.test_fraction, seed=spec.seed)
    return ds


def _dump(spec: Any) -> dict:
    return spec.model_dump() if hasattr(spec, "model_dump") else dict(spec)
