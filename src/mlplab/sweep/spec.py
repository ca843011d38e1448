"""What a sweep is: a base experiment, a grid over dotted spec fields, optional random draws.

`make_sweep` validates a sweep given in Python, `load_sweep` one from TOML (or a preset name), and
`expand` turns it into the list of `Variant` runs, each a complete `Experiment`. Nothing trains here.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from pydantic import Field

from ..errors import SpecError
from ..specs import DataSpec, Experiment, ModelSpec, RunName, TrainSpec, _Spec, validate
from ..tomlfile import read_toml

PRESET_DIR = Path(__file__).resolve().parent / "presets"

# "seed" is a shortcut for the two seeds that make one repeat of an experiment: the data's and the
# training's (initialisation and batch order), as ``mlplab.run(..., seed=)`` does.
SEED_KEYS = ("seed", "train.seed", "data.seed")
_SECTIONS = {"data": DataSpec, "model": ModelSpec, "train": TrainSpec}
DISTRIBUTIONS = ("log", "uniform", "int", "choice")
# A sweep is counted before it is expanded: more runs than this is a mistake (10^4 runs of a tiny
# model are hours on a laptop), refused naming the field that multiplies them.
MAX_RUNS = 10_000
# Random-search bounds: finite, and small enough that a drawn integer is exact in a float.
MAX_BOUND = 2.0**53


class SweepFields(_Spec):
    """A sweep's own settings, typed as strictly as an experiment's (the same rules, the same messages)."""

    name: RunName = "sweep"  # it names the report's folder under the store: never outside it
    n_random: int = Field(0, ge=0, le=MAX_RUNS)
    seed: int = Field(0, ge=0, le=2**32 - 1)
    description: str = ""


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep. ``grid``: dotted field -> values (every combination runs);
    ``random``: dotted field -> (distribution, ...) drawn ``n_random`` times with ``seed``."""

    base: Experiment
    grid: dict[str, list[Any]] = field(default_factory=dict)
    random: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    n_random: int = 0
    seed: int = 0
    name: str = ""

    @property
    def size(self) -> int:
        return math.prod(len(v) for v in self.grid.values()) * max(1, self.n_random)


@dataclass(frozen=True)
class Variant:
    """One run of a sweep: the values it varies (dotted keys), its full experiment, and its id."""

    values: dict[str, Any]
    experiment: Experiment

    @property
    def name(self) -> str:
        return self.experiment.name

    @property
    def id(self) -> str:
        return run_id(self.experiment)

    @property
    def label(self) -> str:
        """The variant without its seeds: runs with the same label are repeats of one setting."""
        return variant_label(self.values)


def run_id(exp: Experiment) -> str:
    """A short hash of what determines the run (data, model, training, kind, extras), not its name."""
    spec = exp.model_dump(exclude={"name", "title", "description", "notebook", "view"})
    text = json.dumps(spec, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def variant_label(values: dict[str, Any]) -> str:
    parts = [_show(v) if k == "experiment" else f"{_short_key(k)}={_show(v)}" for k, v in values.items()
             if k not in SEED_KEYS]
    return ", ".join(parts) or "base"


def make_sweep(
    experiment: str | Experiment | dict[str, Any],
    grid: dict[str, Iterable[Any]] | None = None,
    *,
    random: dict[str, Any] | None = None,
    n_random: int = 0,
    seed: int = 0,
    name: str | None = None,
) -> SweepSpec:
    """Validate a sweep: every key must name a spec field, every grid a non-empty list."""
    from ..api import resolve

    base = resolve(experiment)
    if base.kind != "train":
        raise SpecError("experiment", "an experiment that trains (kind 'train')", f"{base.name} (kind {base.kind!r})")
    if grid is not None and not isinstance(grid, dict):
        raise SpecError("grid", "a table of dotted field -> list of values", grid)
    fields = validate(SweepFields, {"n_random": n_random, "seed": seed,
                                    "name": f"{base.name[:74]}-sweep" if name is None else name})
    clean_grid: dict[str, list[Any]] = {}
    for key, values in (grid or {}).items():
        if key == "experiment":  # a list of whole experiments (preset names) to compare
            if isinstance(values, str) or not isinstance(values, Iterable) or not list(values):
                raise SpecError("grid.experiment", "a non-empty list of preset names", values)
            clean_grid[key] = [resolve(v).name if isinstance(v, str) else resolve(v) for v in values]
            for v in clean_grid[key]:
                if isinstance(v, Experiment):
                    raise SpecError("grid.experiment", "preset names (strings)", v.name)
            continue
        check_key(key, f"grid.{key}")
        if isinstance(values, (str, bytes, dict)) or not isinstance(values, Iterable):
            raise SpecError(f"grid.{key}", "a list of values", values)
        values = [_plain(v) for v in itertools.islice(values, MAX_RUNS + 1)]  # counted before it is held
        if len(values) > MAX_RUNS:
            raise SpecError(f"grid.{key}", f"at most {MAX_RUNS:,} values (a sweep runs at most {MAX_RUNS:,})",
                            f"more than {MAX_RUNS:,}", "split the sweep")
        if not values:
            raise SpecError(f"grid.{key}", "at least one value", values)
        clean_grid[key] = values
    if random is not None and not isinstance(random, dict):
        raise SpecError("random", "a table of dotted field -> distribution", random)
    clean_random = {key: check_distribution(key, dist, base) for key, dist in (random or {}).items()}
    n_random, seed = fields.n_random, fields.seed
    if clean_random and n_random == 0:
        raise SpecError("n_random", "a positive number of random draws when [random] is given", n_random)
    if n_random and not clean_random:
        raise SpecError("random", "at least one field to draw when n_random > 0", random)
    if both := set(clean_grid) & set(clean_random):
        raise SpecError("random", "fields not already in the grid", sorted(both))
    spec = SweepSpec(base, clean_grid, clean_random, n_random, seed, fields.name)
    if spec.size > MAX_RUNS:  # counted from the lengths, before any run is made
        counts = " x ".join([*(f"{len(v)} {k}" for k, v in clean_grid.items()), *([f"{n_random} n_random"] * bool(n_random))])
        raise SpecError("grid" if clean_grid else "n_random", f"a sweep of at most {MAX_RUNS:,} runs",
                        f"{spec.size:,} runs ({counts})", "split the sweep")
    return spec


def check_key(key: Any, where: str) -> None:
    """A dotted field of an Experiment: ``seed``, ``train.lr``, ``model.hidden``, ``data.params.sizes``."""
    if not isinstance(key, str):
        raise SpecError(where, "a dotted field name such as 'train.lr'", key)
    if key == "seed":
        return
    parts = key.split(".")
    if parts[0] not in _SECTIONS or len(parts) < 2:
        raise SpecError(where, "a field under data., model. or train. (or 'seed')", key)
    fields = _SECTIONS[parts[0]].model_fields
    if parts[1] not in fields:
        raise SpecError(where, f"a field of {parts[0]} ({', '.join(fields)})", parts[1], "check the spelling")
    if len(parts) > 2 and not (parts[0] == "data" and parts[1] == "params" and len(parts) == 3):
        raise SpecError(where, f"{parts[0]}.{parts[1]} itself (it has no sub-fields)", key)


def check_distribution(key: str, dist: Any, base: Experiment | None = None) -> tuple[Any, ...]:
    """("log", lo, hi) | ("uniform", lo, hi) | ("int", lo, hi) | ("choice", [values]).

    Bounds are finite numbers below 2^53 in size; with ``base``, each bound must also be a value the field
    takes (``train.lr`` in (0, 100]), so nothing out of range is ever drawn."""
    where = f"random.{key}"
    check_key(key, where)
    if not isinstance(dist, (list, tuple)) or not dist or dist[0] not in DISTRIBUTIONS:
        raise SpecError(where, f"a list starting with one of {', '.join(DISTRIBUTIONS)}", dist,
                        'e.g. ["log", 1e-3, 1e-1]')
    kind = dist[0]
    if kind == "choice":
        if len(dist) != 2 or not isinstance(dist[1], (list, tuple)) or not dist[1]:
            raise SpecError(where, '["choice", [value, ...]]', dist)
        choices = [_plain(v) for v in dist[1]]
        _takes(base, key, choices, where)
        return ("choice", choices)
    if len(dist) != 3 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in dist[1:]):
        raise SpecError(where, f'["{kind}", low, high] with numbers', dist)
    lo, hi = dist[1], dist[2]
    if not all(math.isfinite(float(v)) and abs(v) <= MAX_BOUND for v in (lo, hi)):
        raise SpecError(where, f"finite bounds of at most {MAX_BOUND:.0e} in size", dist)
    if not lo < hi or (kind == "log" and lo <= 0):
        raise SpecError(where, "low < high (and low > 0 for 'log')", dist)
    if kind == "int" and not (float(lo).is_integer() and float(hi).is_integer()):
        raise SpecError(where, "integer bounds for 'int'", dist)
    _takes(base, key, [int(lo), int(hi)] if kind == "int" else [lo, hi], where)
    return (kind, lo, hi)


def _takes(base: Experiment | None, key: str, values: list[Any], where: str) -> None:
    """Each value is one the field takes (its type and range), or the field's own SpecError, named ``where``."""
    if base is None or key == "seed" or key.startswith("data.params."):
        return  # seeds are any non-negative integer; a generator's own parameters are its to check
    from ..presets import merge

    for value in values:
        try:
            merge(base, nested({key: value}))
        except SpecError as exc:
            raise SpecError(where, exc.expected, value, hint=exc.hint) from None


def draw(dists: dict[str, tuple[Any, ...]], n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` random settings, the same ones for the same seed."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        values = {}
        for key, (kind, *args) in dists.items():
            if kind == "log":
                values[key] = float(np.exp(rng.uniform(np.log(args[0]), np.log(args[1]))))
            elif kind == "uniform":
                values[key] = float(rng.uniform(args[0], args[1]))
            elif kind == "int":
                values[key] = int(rng.integers(int(args[0]), int(args[1]) + 1))
            else:
                values[key] = args[0][int(rng.integers(len(args[0])))]
        out.append(values)
    return out


def expand(spec: SweepSpec) -> list[Variant]:
    """Every run of the sweep: the random draws, each crossed with every grid point (grid order)."""
    from ..budget import cluster_sizes
    from ..presets import experiment as preset, merge

    keys = list(spec.grid)
    draws = draw(spec.random, spec.n_random, spec.seed) if spec.n_random else [{}]
    variants, seen = [], set()
    for extra in draws:
        for combo in itertools.product(*(spec.grid[k] for k in keys)):
            values = {**dict(zip(keys, combo)), **extra}
            base = preset(values["experiment"]) if "experiment" in values else spec.base
            rest = {k: v for k, v in values.items() if k != "experiment"}
            exp = merge(base, {**nested(rest), "name": run_name(base.name, rest)})
            cluster_sizes(exp.data)  # a size to draw is refused here, before any run or store is made
            v = Variant(values, exp)
            if v.id in seen:
                raise SpecError("grid", "settings that give different runs", values,
                                "two grid points describe the same experiment (a repeated value?)")
            seen.add(v.id)
            variants.append(v)
    return variants


def nested(values: dict[str, Any]) -> dict[str, Any]:
    """{"train.lr": 0.1, "seed": 3} -> {"train": {"lr": 0.1, "seed": 3}, "data": {"seed": 3}}."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        paths = [["train", "seed"], ["data", "seed"]] if key == "seed" else [key.split(".")]
        for path in paths:
            node = out
            for part in path[:-1]:
                node = node.setdefault(part, {})
            node[path[-1]] = value
    return out


def run_name(base: str, values: dict[str, Any]) -> str:
    """``piecewise-residual`` + {"model.hidden": [2, 2], "seed": 3} -> ``piecewise-residual_hidden2x2_seed3``."""
    parts = [base] + [_short_key(k) + _slug(v) for k, v in values.items()]
    name = "_".join(parts)
    if len(name) > 80:  # Experiment names are at most 80 characters: keep the start, make it unique
        digest = hashlib.sha1(name.encode()).hexdigest()[:8]
        name = name[:71] + "_" + digest
    return name


def _short_key(key: str) -> str:
    return key.split(".")[-1]


def _slug(v: Any) -> str:
    if isinstance(v, bool):
        return "-on" if v else "-off"
    text = _show(v)
    return "".join(c if c.isalnum() or c in ".-" else "" for c in text.replace(",", "x").replace(" ", ""))


def _show(v: Any) -> str:
    if isinstance(v, bool):
        return "on" if v else "off"
    if isinstance(v, float):
        return f"{v:.3g}"
    if isinstance(v, (list, tuple)):
        return "x".join(_show(x) for x in v) if v else "none"
    return str(v)


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    if isinstance(v, range):
        return list(v)
    return v


# ------------------------------------------------------------------ TOML


def load_sweep(target: str | Path) -> SweepSpec:
    """A sweep TOML file, or the name of a sweep preset (``practice-variants``, ...)."""
    path = Path(target)
    if not path.exists() and not str(target).endswith(".toml"):
        if str(target) not in sweep_presets():
            raise SpecError("sweep", f"a .toml file or a sweep preset ({', '.join(sweep_presets())})", str(target))
        path = PRESET_DIR / f"{target}.toml"
    values = read_toml(path, "sweep file")  # the same reader, and guards, as an experiment file's
    default = "".join(c if (c.isascii() and c.isalnum()) or c in "_.-" else "-" for c in path.stem)[:80].strip(".") or "sweep"
    return sweep_from_dict(values, default_name=default)


def sweep_from_dict(values: dict[str, Any], default_name: str = "sweep") -> SweepSpec:
    """``experiment`` (a preset name or a table), ``[grid]``, optional ``[random]``, ``n_random``, ``seed``, ``name``."""
    known = {"experiment", "grid", "random", "n_random", "seed", "name", "description"}
    for key in values:
        if key not in known:
            raise SpecError(key, f"a sweep field ({', '.join(sorted(known))})", key, "check the spelling")
    validate(SweepFields, {k: values[k] for k in SweepFields.model_fields if k in values})  # strict, as experiments
    grid = values.get("grid")
    if isinstance(grid, dict) and "experiment" in grid and "experiment" not in values:
        values = {**values, "experiment": grid["experiment"][0] if grid["experiment"] else None}
    if "experiment" not in values:
        raise SpecError("experiment", 'a preset name or an experiment table, e.g. experiment = "piecewise-residual"', None)
    for key in ("grid", "random"):
        if key in values and not isinstance(values[key], dict):
            raise SpecError(key, "a table", values[key])
    if not values.get("grid") and not values.get("random"):
        raise SpecError("grid", "a [grid] table with at least one field", values.get("grid"))
    return make_sweep(values["experiment"], values.get("grid"), random=values.get("random"),
                      n_random=values.get("n_random", 0), seed=values.get("seed", 0),
                      name=values.get("name", default_name))


def sweep_presets() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))
