"""The `Dataset` type and the registry of generators that make one from a `DataSpec`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal

import numpy as np

from ..errors import SpecError
from ..specs import DataSpec, validate

Task = Literal["regression", "binary", "multiclass"]


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
        self.X = np.ascontiguousarray(self.X, dtype=np.float32)
        if self.X.ndim != 2:
            raise SpecError("X", "a 2-D array (n, d_in)", f"shape {self.X.shape}")
        self.y = _targets(self.y, self.task)
        if len(self.y) != len(self.X):
            raise SpecError("y", f"{len(self.X)} targets (one per row of X)", f"{len(self.y)} targets")
        if self.X_test is not None:
            self.X_test = np.ascontiguousarray(self.X_test, dtype=np.float32)
            self.y_test = _targets(self.y_test, self.task)
        if self.X_val is not None:
            self.X_val = np.ascontiguousarray(self.X_val, dtype=np.float32)
            self.y_val = _targets(self.y_val, self.task)
        if self.grid is not None:
            self.grid = np.ascontiguousarray(self.grid, dtype=np.float32)
        if self.task != "regression" and self.n_classes is None:
            self.n_classes = int(self.y.max()) + 1 if len(self.y) else 0

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
        """Hold out a seeded random fraction of the rows as the test (or validation) split."""
        if not 0 <= test_fraction < 1:
            raise SpecError("test_fraction", "a number in [0, 1)", test_fraction)
        if test_fraction == 0:
            return self
        rng = np.random.default_rng(seed)
        order = rng.permutation(self.n)
        k = max(1, int(round(self.n * test_fraction)))
        held, kept = np.sort(order[:k]), np.sort(order[k:])
        changes = {"X": self.X[kept], "y": self.y[kept], f"X_{into}": self.X[held], f"y_{into}": self.y[held]}
        return _replace(self, **changes)

    def __repr__(self) -> str:
        extra = "".join(
            f", {s}={len(getattr(self, 'X_' + s))}" for s in ("val", "test") if getattr(self, "X_" + s) is not None
        )
        return f"Dataset({self.name!r}, task={self.task}, n={self.n}, d_in={self.d_in}, d_out={self.d_out}{extra})"


def _targets(y: Any, task: str) -> np.ndarray:
    y = np.asarray(y)
    if task == "regression":
        y = y.astype(np.float32)
        return np.ascontiguousarray(y[:, None] if y.ndim == 1 else y)
    if task in ("binary", "multiclass"):
        return np.ascontiguousarray(y.reshape(-1).astype(np.int64))
    raise SpecError("task", "one of regression, binary, multiclass", task)


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
