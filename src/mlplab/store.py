"""The run store: a SQLite index of runs plus one folder of `Run.save` files per run.

A run counts as stored only when its files are complete AND its index row exists: the files are
written first (each atomically), the row last, in one transaction. `Store.check` re-reads the files
before a run is reused, so a half-written or damaged run is redone, never silently used.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import sqlite3
import zipfile
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np

from .errors import SpecError

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,      -- hash of the run's spec (mlplab.sweep.spec.run_id)
    name TEXT NOT NULL,
    sweep TEXT,
    spec TEXT NOT NULL,       -- the Experiment as JSON
    variant TEXT,             -- the values the sweep varied, as JSON
    status TEXT NOT NULL,
    steps INTEGER,
    final_loss REAL,
    metrics TEXT,
    timings TEXT,
    code_version TEXT,
    created TEXT
)
"""
COLUMNS = ("id", "name", "sweep", "spec", "variant", "status", "steps", "final_loss", "metrics", "timings",
           "code_version", "created")
# Statuses a rerun would reproduce (same spec, same seed): reused. "interrupted" or "failed": redone.
DONE = ("finished", "diverged", "stopped early")


class Store:
    """``Store(dir)``: ``dir/index.sqlite`` and ``dir/runs/<id>/`` (run.json, trajectory.npz, model.pt)."""

    def __init__(self, directory: str | Path):
        self.dir = Path(directory)
        if self.dir.exists() and not self.dir.is_dir():
            raise SpecError("store", "a directory", str(self.dir))
        (self.dir / "runs").mkdir(parents=True, exist_ok=True)
        self.index = self.dir / "index.sqlite"
        with closing(self._connect()) as db, db:
            db.execute(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.index, timeout=30)
        db.row_factory = sqlite3.Row
        return db

    def folder(self, run_id: str) -> Path:
        return self.dir / "runs" / run_id

    # ---------------------------------------------------------------- writing

    def put(self, run: Any, run_id: str, *, sweep: str = "", variant: dict[str, Any] | None = None) -> Path:
        """Save ``run``'s files, then (only then) record its index row."""
        folder = run.save(self.folder(run_id))
        self.record(run_id, run.summary(), sweep=sweep, variant=variant)
        return folder

    def record(self, run_id: str, summary: dict[str, Any], *, sweep: str = "",
               variant: dict[str, Any] | None = None) -> None:
        """Insert or replace the index row of a run whose files are already written (``Run.summary()``)."""
        row = (
            run_id, summary["name"], sweep, json.dumps(summary["spec"], default=str),
            json.dumps(variant or {}, default=str), summary["status"], summary.get("steps"),
            summary.get("final_loss"), json.dumps(summary.get("metrics", {})), json.dumps(summary.get("timings", {})),
            code_version(), _dt.datetime.now().isoformat(timespec="seconds"),
        )
        with closing(self._connect()) as db, db:  # one transaction: the row appears whole or not at all
            db.execute(f"INSERT OR REPLACE INTO runs ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})", row)

    def remove(self, run_id: str) -> None:
        with closing(self._connect()) as db, db:
            db.execute("DELETE FROM runs WHERE id = ?", (run_id,))

    # ---------------------------------------------------------------- reading

    def row(self, run_id: str) -> dict[str, Any] | None:
        with closing(self._connect()) as db:
            r = db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        return dict(r) if r is not None else None

    def check(self, run_id: str) -> str:
        """"ok" when the run can be reused; otherwise why not ("no row", "interrupted", "damaged: ...")."""
        row = self.row(run_id)
        if row is None:
            return "no row"
        if row["status"] not in DONE:
            return row["status"]
        folder = self.folder(run_id)
        try:
            meta = json.loads((folder / "run.json").read_text())
            with open(folder / "trajectory.npz", "rb") as fh, np.load(fh) as z:  # our handle: closed even on a bad file
                steps = len(z["losses"])
                if "frames" in z.files:
                    z["frames"]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            return f"damaged: {type(exc).__name__}: {exc}"
        if meta.get("steps") != row["steps"] or steps != row["steps"]:
            return f"damaged: {steps} stored steps, the index says {row['steps']}"
        return "ok"

    def done(self, run_id: str) -> bool:
        return self.check(run_id) == "ok"

    def load(self, run_id: str, *, with_model: bool = False):
        """The stored `Run` (checked first: a damaged run raises DataFileError, naming the folder)."""
        from .errors import DataFileError
        from .training.run import load_run

        state = self.check(run_id)
        if state == "no row":
            raise SpecError("run id", f"the id of a run in {self.dir} (see `mlplab runs list`)", run_id)
        if state != "ok":
            raise DataFileError(self.folder(run_id), f"is not a complete run ({state})", "re-run its sweep to redo it")
        return load_run(self.folder(run_id), with_model=with_model)

    def ids(self, prefix: str = "") -> list[str]:
        with closing(self._connect()) as db:
            return [r[0] for r in db.execute("SELECT id FROM runs WHERE id LIKE ? ORDER BY created, id", (prefix + "%",))]

    def resolve_id(self, text: str) -> str:
        """A full id from a unique prefix (as git does)."""
        matches = self.ids(text)
        if len(matches) != 1:
            raise SpecError("run id", f"a unique id or prefix of a run in {self.dir}",
                            text, f"{len(matches)} runs match" if matches else "`mlplab runs list` shows the ids")
        return matches[0]

    def query(self, **filters: Any):
        """Rows as a DataFrame; ``filters`` match columns (``sweep="x"``, ``status="finished"``) or spec
        fields with ``__`` for dots (``train__lr=0.01``, ``model__hidden=[2, 2]``). A list value of a
        column matches any of its items."""
        import pandas as pd

        with closing(self._connect()) as db:
            rows = [dict(r) for r in db.execute("SELECT * FROM runs ORDER BY created, id")]
        records = []
        for r in rows:
            spec, variant = json.loads(r["spec"]), json.loads(r["variant"] or "{}")
            if not all(_matches(r, spec, key, want) for key, want in filters.items()):
                continue
            rec = {k: r[k] for k in ("id", "name", "sweep", "status", "steps", "final_loss")}
            rec.update({k: _cell(v) for k, v in variant.items()})
            rec.update(json.loads(r["metrics"] or "{}"))
            rec.update({f"time_{k}": v for k, v in json.loads(r["timings"] or "{}").items()})
            rec.update({"code_version": r["code_version"], "created": r["created"]})
            records.append(rec)
        return pd.DataFrame.from_records(records, columns=None if records else ["id", "name", "sweep", "status"])


def _matches(row: dict[str, Any], spec: dict[str, Any], key: str, want: Any) -> bool:
    if key in COLUMNS:
        have = row[key]
        return have in want if isinstance(want, (list, tuple, set)) else have == want
    node: Any = spec
    for part in key.split("__"):
        if not isinstance(node, dict) or part not in node:
            raise SpecError(f"query {key}", f"a column ({', '.join(COLUMNS)}) or a spec field with __ for dots",
                            key, "e.g. train__lr=0.01")
        node = node[part]
    return node == want


def _cell(v: Any) -> Any:
    """Lists become tuples so that DataFrame columns of hidden widths can be grouped."""
    return tuple(v) if isinstance(v, list) else v


_CODE_VERSION: str | None = None


def code_version() -> str:
    """mlplab's version plus a short hash of its source files: runs from changed code can be told apart."""
    global _CODE_VERSION
    if _CODE_VERSION is None:
        from . import __version__

        root = Path(__file__).resolve().parent
        h = hashlib.sha256()
        for path in sorted(root.rglob("*.py")):
            h.update(str(path.relative_to(root)).encode())
            h.update(path.read_bytes())
        _CODE_VERSION = f"{__version__}+{h.hexdigest()[:10]}"
    return _CODE_VERSION
