"""Memory a spec will ask for, estimated before anything is allocated, and the refusal of what cannot fit.

Arithmetic on the spec (plus a line count for a CSV file). The model's parameters and layer widths are
read from the model `build_model` makes, built on PyTorch's meta device (shapes, no memory), so the
estimate and the model can never disagree. It imports nothing above `models`.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import SpecError
from .models import parameter_table
from .specs import Experiment, ModelSpec

ENV_LIMIT = "MLPLAB_MEMORY_LIMIT"
# Half the machine: the estimate leaves out the interpreter, torch itself and temporary copies.
DEFAULT_FRACTION = 0.5
FALLBACK_LIMIT = 8 * 10**9  # when the physical memory cannot be read
FLOAT = 4  # float32 everywhere a run records or trains
# Autograd keeps each layer's pre-activation, activation and their gradients during a step.
ACTIVATION_COPIES = 4
# Training rows of the data sets whose size is not in the spec (before validation/test splits).
KNOWN_ROWS = {"fashion-mnist": 60_000, "mnist": 60_000, "fashion-or-digits": 60_000, "digits": 1797}
MAX_CLUSTER = 1_000_000  # one cluster of ``data.params.sizes``: as many rows as ``data.n`` allows
DEFAULT_ROWS = 2000  # at least what any built-in generator draws by default (tests/test_budget.py checks)
# Mirrors training/callbacks.py: frames follow at most this many rows.
FRAME_ROWS, FRAME_ROWS_HIGH_DIM = 2048, 512
ACTIVATION_NAMES = ("relu", "sigmoid", "tanh")
# A recorded array is counted three times (an assumption, not a measurement): the recorder's buffer,
# the figure's copy and its text in the report being written all exist at the end of a run.
RECORD_COPIES = 3
_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9,
          "t": 10**12, "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


@dataclass
class Estimate:
    """Bytes per part: ``parts[field] = (bytes, what)``; ``field`` is the spec field that drives the part."""

    parts: dict[str, tuple[int, str]] = field(default_factory=dict)

    def add(self, key: str, nbytes: float, what: str) -> None:
        old = self.parts.get(key, (0, ""))[0]
        self.parts[key] = (old + int(nbytes), what if not old else f"{self.parts[key][1]} and {what}")

    @property
    def total(self) -> int:
        return sum(b for b, _ in self.parts.values())

    @property
    def dominant(self) -> tuple[str, int, str]:
        key = max(self.parts, key=lambda k: self.parts[k][0])
        return key, *self.parts[key]


class _Text(str):
    """A string that SpecError shows without quotes."""

    def __repr__(self) -> str:
        return str(self)


def human(nbytes: float) -> str:
    """Decimal units, as disks and the issue reports speak: 6.7 GB."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if nbytes >= size:
            return f"{nbytes / size:.3g} {unit}"
    return f"{int(nbytes)} bytes"


def memory_limit() -> int:
    """``$MLPLAB_MEMORY_LIMIT`` (bytes, or with a unit: ``8G``, ``512MB``, ``2GiB``), else half the physical memory."""
    text = os.environ.get(ENV_LIMIT, "").strip()
    if text:
        return _parse_bytes(text)
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * DEFAULT_FRACTION)
    except (ValueError, OSError, AttributeError):
        return FALLBACK_LIMIT


def _parse_bytes(text: str) -> int:
    number = text.rstrip("BbIiKkMmGgTt ")
    unit = text[len(number):].strip().lower()
    try:
        value = float(number)
    except ValueError:
        value = float("nan")
    if unit not in _UNITS or not math.isfinite(value) or value <= 0:
        raise SpecError(ENV_LIMIT, "a positive size in bytes, optionally with a unit (8G, 512MB, 2GiB)", text)
    return int(value * _UNITS[unit])


def estimate(exp: Experiment) -> Estimate:
    """The memory ``exp`` will hold at its peak, part by part (an estimate: float32 arrays, no overheads)."""
    est = Estimate()
    if exp.kind == "prior":
        _prior(exp, est)
    elif exp.kind == "activations":
        _activations(exp, est)
    elif exp.kind == "train":
        _train(exp, est)
    # "compare" runs presets (each checked when it runs) and a fixed 100 x 100 grid.
    return est


def check(exp: Experiment, limit: int | None = None) -> Estimate:
    """Refuse ``exp`` with a `SpecError` naming the largest part when the estimate exceeds ``limit``."""
    est = estimate(exp)
    limit = memory_limit() if limit is None else limit
    if est.total > limit and est.parts:
        key, nbytes, what = est.dominant
        if est.parts.get("model.hidden", (0, ""))[0] > limit:  # the model alone cannot fit: recording less won't help
            key, (nbytes, what) = "model.hidden", est.parts["model.hidden"]
        expected = f"a run that fits in {human(limit)} of memory ({ENV_LIMIT} sets the limit)"
        label, _, detail = what.partition(" (")
        detail = f"{detail.rstrip(')')}; " if detail else ""
        hint = f"{detail}the whole run needs about {human(est.total)}. {HINTS.get(key, f'Lower {key}')}"
        raise SpecError(key, expected, _Text(f"{human(nbytes)} of {label}"), hint=hint[0].upper() + hint[1:])
    return est


HINTS = {
    "model.hidden": "Use fewer or narrower hidden layers",
    "train.frames x train.grid": "Lower train.frames or train.grid",
    "train.snapshots": "Set train.snapshots = false or lower train.frames",
    "train.epochs": "Lower train.epochs (or raise train.batch_size)",
    "data.n": "Use fewer rows (data.n) or set train.batch_size",
}


# ---------------------------------------------------------------------------------------------
# the parts


def layer_shapes(model: ModelSpec) -> list[tuple[int, int]]:
    """(fan_in, fan_out) of every Linear layer of the model the spec builds, in order."""
    return list(_built(model.model_dump_json())[0])


def parameter_count(model: ModelSpec) -> int:
    """Weights, biases and norm scales/shifts of the model as built: ``mlplab.count_parameters``."""
    return _built(model.model_dump_json())[1]


@functools.lru_cache(maxsize=256)
def _built(spec_json: str) -> tuple[tuple[tuple[int, int], ...], int]:
    """The Linear layers' shapes and the parameter count of the model a spec builds (on the meta device)."""
    table = parameter_table(ModelSpec.model_validate_json(spec_json))
    shapes = tuple((shape[1], shape[0]) for name, shape, _ in table if name.endswith("weight") and len(shape) == 2)
    return shapes, sum(count for _, _, count in table)


def rows(data: Any) -> int:
    """Training rows: cluster ``sizes`` (piecewise), ``data.n``, the known size of a real set, a CSV's line count."""
    sizes = cluster_sizes(data)
    if sizes is not None:
        return sum(sizes)
    if data.n is not None:
        return data.n
    if data.name in KNOWN_ROWS:
        return KNOWN_ROWS[data.name]
    if data.name == "csv" and isinstance(data.params.get("path"), str):
        try:
            with open(Path(data.params["path"]), "rb") as fh:
                return max(1, sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b"")))
        except OSError:
            return DEFAULT_ROWS  # the loader names the missing file
    return DEFAULT_ROWS


def cluster_sizes(data: Any) -> list[int] | None:
    """``data.params.sizes`` (piecewise's clusters), checked before the generator draws them: whole, positive
    and bounded, or a SpecError naming the field; None when the data has no sizes."""
    sizes = data.params.get("sizes")
    if sizes is not None and (not isinstance(sizes, list)
                              or not all(type(v) is int and 1 <= v <= MAX_CLUSTER for v in sizes)):
        raise SpecError("data.params.sizes", f"a list of whole cluster sizes between 1 and {MAX_CLUSTER:,}", sizes)
    return sizes


def _train(exp: Experiment, est: Estimate) -> None:
    m, t = exp.model, exp.train
    n = rows(exp.data)
    d_in, d_out = exp.model.in_dim, exp.model.out_dim
    batch = min(t.batch_size or n, n)
    steps = t.epochs * math.ceil(n / batch)
    p = parameter_count(m)
    slots = 2 if t.optimizer == "adam" else (1 if t.momentum else 0)
    est.add("model.hidden", (2 + slots) * p * FLOAT, f"parameters, gradients and optimizer state ({p:,} parameters)")
    units = sum(b for _, b in layer_shapes(m))
    est.add("train.batch_size" if t.batch_size else "data.n", batch * units * ACTIVATION_COPIES * FLOAT,
            f"activations of a batch of {batch:,} rows")
    est.add("data.n", n * (d_in + d_out) * FLOAT, f"data ({n:,} rows)")
    est.add("train.epochs", steps * FLOAT, f"per-step losses ({steps:,} steps)")
    if t.frames:
        k = min(t.frames, steps + 1)
        kept = min(n, FRAME_ROWS if d_in <= 2 else FRAME_ROWS_HIGH_DIM)
        _record(est, "train.frames", k * kept * d_out * FLOAT, f"frames ({k:,} x {kept:,} rows)")
        if t.grid and d_in in (1, 2):
            points = t.grid if d_in == 1 else t.grid**2
            _record(est, "train.frames x train.grid", k * points * d_out * FLOAT, f"grid frames ({k:,} x {points:,} points)")
        if t.snapshots:
            _record(est, "train.snapshots", k * p * FLOAT, f"parameter snapshots ({k:,} x {p:,})")


def _record(est: Estimate, key: str, nbytes: int, what: str) -> None:
    est.add(key, nbytes * RECORD_COPIES, f"{what[:-1]}; {human(nbytes)} recorded, held {RECORD_COPIES} times)")


def _prior(exp: Experiment, est: Estimate) -> None:
    ex = exp.extras
    points, samples = int(ex.get("points", 1000)), int(ex.get("samples", 10))
    units = sum(b for _, b in layer_shapes(exp.model))
    est.add("extras.points", points * (units + 1) * 2 * FLOAT, f"one model's outputs on {points:,} points")
    est.add("extras.samples", samples * points * FLOAT, f"{samples:,} sampled curves")
    est.add("model.hidden", parameter_count(exp.model) * FLOAT, "one model's parameters")


def _activations(exp: Experiment, est: Estimate) -> None:
    ex = exp.extras
    span = float(ex.get("x_max", 8.0)) - float(ex.get("x_min", -8.0))
    count = max(0, math.ceil(span / float(ex.get("step", 0.1))))
    names = len(ex.get("names", ACTIVATION_NAMES))
    # x, its gradient, and per function: output, the autograd temporaries, the kept copies
    est.add("extras.step", count * (2 + 4 * names) * FLOAT, f"activation curves ({count:,} points)")
