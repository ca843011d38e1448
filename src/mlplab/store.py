"""The run store: a SQLite index of runs plus one folder of `Run.save` files per run.

A run counts as stored only when its files are complete AND its index row exists: the files are
written first (each atomically), the row last, in one transaction. `Store.check` re-reads the files
before a run is reused, so a half-written or damaged run is redone, never silently used. The folders
are the truth: a damaged index is set aside and rebuilt from them (`Store.rebuild`, `mlplab runs rebuild`).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import sqlite3
import warnings
import zipfile
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from .errors import DataFileError, SpecError

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
JSON_COLUMNS = ("spec", "variant", "metrics", "timings")
# Statuses a rerun would reproduce (same spec, same seed): reused. "interrupted" or "failed": redone.
DONE = ("finished", "diverged", "stopped early")
# Beside each run's files: what its index row holds that run.json does not (sweep, variant, ...).
ROW_FILE = "row.json"


class IndexRebuilt(UserWarning):
    """The index was damaged, set aside and rebuilt from the run folders; the message says what happened."""


# SQLite's answers (primary result codes) that mean "someone else holds the file now", not "damaged"
_BUSY_CODES = (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED
# ... and those that mean "this process may not write here" (a read-only file, folder or file system)
_READONLY_CODES = (8, 14)  # SQLITE_READONLY, SQLITE_CANTOPEN (no journal can be made beside the index)


def _code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:  # an older SQLite module: the message is all there is
        text = str(exc).lower()
        return 5 if "locked" in text or "busy" in text else 8 if "readonly" in text else None
    return code & 0xFF  # extended codes (SQLITE_BUSY_SNAPSHOT, ...) share the primary code's low byte


class Store:
    """``Store(dir)``: ``dir/index.sqlite`` and ``dir/runs/<id>/`` (run.json, trajectory.npz, model.pt, row.json).

    The index is checked the first time it is used; a damaged one is rebuilt from the folders, with an
    `IndexRebuilt` warning that says what was wrong (``repairs`` keeps the messages). An index another
    process holds locked for longer than ``wait`` seconds is not damaged: that is a `DataFileError`
    saying so, and the index is left alone. A store this process may not write is read as it is (a
    damaged or missing index of such a store is rebuilt in memory, for this process only); writing to
    it is a `DataFileError` naming the store.
    """

    WAIT = 30.0  # seconds SQLite waits for another process's lock before giving up

    def __init__(self, directory: str | Path, *, wait: float | None = None):
        self.dir = Path(directory)
        if self.dir.exists() and not self.dir.is_dir():
            raise SpecError("store", "a directory", str(self.dir))
        self.wait = self.WAIT if wait is None else float(wait)
        self.index = self.dir / "index.sqlite"
        self.repairs: list[str] = []
        self._checked = False
        self._memory: sqlite3.Connection | None = None  # the in-memory index of a read-only store, kept open
        try:
            (self.dir / "runs").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataFileError(self.dir, f"cannot be made a run store ({exc.strerror or exc})",
                                hint="choose a directory this user can write") from None

    def _connect(self) -> sqlite3.Connection:
        if not self._checked:
            self._checked = True  # before verify(): it connects too
            self.verify()
        return self._open()

    @contextmanager
    def _db(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        """A checked connection (one transaction when ``write``); SQLite's failures become one DataFileError."""
        try:
            with closing(self._connect()) as db:
                if write and self._memory is not None:
                    raise self._readonly("its index could only be rebuilt in memory, for reading")
                if write:
                    with db:
                        yield db
                else:
                    yield db
        except sqlite3.Error as exc:  # e.g. the file was damaged after it was checked, or the disk is full
            if _code(exc) in _BUSY_CODES:
                raise self._busy() from None
            if write and _code(exc) in _READONLY_CODES:
                raise self._readonly(str(exc)) from None
            raise DataFileError(self.index, f"cannot be used ({exc})",
                                hint=f"`mlplab runs rebuild -s {self.dir}` rebuilds it from the run folders") from None

    def _open(self) -> sqlite3.Connection:
        if self._memory is not None:
            db = sqlite3.connect(self._memory_uri, uri=True)
        else:
            db = sqlite3.connect(self.index, timeout=self.wait)
        db.row_factory = sqlite3.Row
        return db

    @property
    def _memory_uri(self) -> str:
        return f"file:mlplab-store-{id(self)}?mode=memory&cache=shared"

    def _busy(self) -> DataFileError:
        self._checked = False  # checked again next time: the other process may be done by then
        return DataFileError(self.index, f"is locked by another process (waited {self.wait:g} s); it is not damaged "
                             "and was left as it is", hint="let that process (a sweep, `mlplab runs ...`) finish or "
                             "stop it, then run this again")

    def _readonly(self, why: str) -> DataFileError:
        return DataFileError(self.dir, f"is a run store this user cannot write ({why})",
                             hint="reading it works (`mlplab runs list/show/compare`); to add runs, give a store "
                             "this user can write (copy it, or choose another -o)")

    def writable(self) -> bool:
        """Whether this process may write the store (its folder, and its index where there is one)."""
        return os.access(self.dir, os.W_OK | os.X_OK) and (not self.index.exists() or os.access(self.index, os.W_OK))

    # ---------------------------------------------------------------- the index's health

    def verify(self) -> list[str]:
        """Check the index (readable, the right table, JSON cells); rebuild it from the folders if not.

        Returns what was repaired (empty when the index was sound), also kept in ``repairs``.
        """
        problem = self._damage()
        if problem is None:
            return []
        message = self.rebuild(reason=problem) if self.writable() else self._rebuild_in_memory(problem)
        warnings.warn(message, IndexRebuilt, stacklevel=3)
        return [message]

    def _damage(self) -> str | None:
        """Why the index cannot be trusted, or None. A missing index is created empty (a new store)."""
        if not self.index.exists():
            if not self.writable():  # nothing may be created here: read what the folders hold
                if self._run_folders():
                    return "the index is missing"
                self._empty_memory()
                return None
            with closing(self._open()) as db, db:
                db.execute(SCHEMA)
            return None
        if self.index.is_file() and self.index.stat().st_size == 0:
            return "the index is an empty file (0 bytes)"
        try:
            with closing(self._open()) as db:
                check = db.execute("PRAGMA quick_check").fetchone()[0]
                if check != "ok":
                    return f"the index is corrupt ({check})"
                cols = [r[1] for r in db.execute("PRAGMA table_info(runs)")]
                if not cols:
                    with db:
                        db.execute(SCHEMA)
                    return None if not self._run_folders() else "the index has no runs table"
                if tuple(cols) != COLUMNS:
                    return f"the index has the wrong columns ({', '.join(cols)})"
                for row in db.execute(f"SELECT id, status, {', '.join(JSON_COLUMNS)} FROM runs"):
                    if not isinstance(row["id"], str) or not isinstance(row["status"], str):
                        return f"a row of the index has no id or status ({tuple(row)[:2]})"
                    for col in JSON_COLUMNS:
                        try:
                            json.loads(row[col] if row[col] is not None else "null")
                        except (TypeError, ValueError):
                            return f"run {row['id']}: its {col} cell is not JSON"
        except sqlite3.Error as exc:  # DatabaseError: not a database, malformed pages, ...
            if _code(exc) in _BUSY_CODES:  # held by another process: waiting is the cure, not a rebuild
                raise self._busy() from None
            return f"the index cannot be read ({exc})"
        return None

    def _run_folders(self) -> list[Path]:
        root = self.dir / "runs"
        return sorted(p for p in root.iterdir() if p.is_dir() and (p / "run.json").is_file()) if root.is_dir() else []

    def _salvage(self) -> dict[str, dict[str, Any]]:
        """What the old index still says of each run (sweep, variant, ...), for folders without a row.json."""
        known: dict[str, dict[str, Any]] = {}
        if not self.index.is_file() or self.index.stat().st_size == 0:
            return known
        try:
            with closing(self._open()) as db:
                for r in db.execute("SELECT id, sweep, variant, code_version, created FROM runs"):
                    try:
                        variant = json.loads(r["variant"] or "{}")
                    except (TypeError, ValueError):
                        variant = {}
                    known[str(r["id"])] = {"sweep": r["sweep"] or "", "variant": variant,
                                           "code_version": r["code_version"], "created": r["created"]}
        except sqlite3.Error:
            pass  # nothing to salvage from a file SQLite cannot read
        return known

    def rebuild(self, reason: str = "asked for") -> str:
        """Set the current index aside (``index.sqlite.damaged``) and rebuild it from the run folders.

        A folder whose files are incomplete or unreadable gets no row (its run is redone by the next
        sweep). Returns one sentence saying what was found.
        """
        if not self.writable():
            raise self._readonly("a rebuilt index is a new file in it")
        self._refuse_if_held()
        known = self._salvage()
        aside = None
        if self.index.exists() and reason != "asked for":
            aside = self.index.with_name(self.index.name + ".damaged")
            os.replace(self.index, aside)
        else:
            self.index.unlink(missing_ok=True)
        for suffix in ("-journal", "-wal", "-shm"):  # a leftover journal would be replayed into the new file
            self.index.with_name(self.index.name + suffix).unlink(missing_ok=True)
        rows, skipped = self._fill(known)
        message = (f"{self.index}: {reason}; rebuilt from the run folders: {len(rows)} runs indexed"
                   + (f", {len(skipped)} incomplete folders left out (they run again): {', '.join(skipped[:5])}"
                      if skipped else "")
                   + (f"; the old index is kept as {aside.name}" if aside else ""))
        self.repairs.append(message)
        return message

    def _fill(self, known: dict[str, dict[str, Any]]) -> tuple[list[tuple], list[str]]:
        """Write a row for every complete run folder into a fresh index; (rows, skipped folders and why)."""
        rows, skipped = [], []
        for folder in self._run_folders():
            row, why = _row_from_folder(folder, known.get(folder.name, {}))
            if row is None:
                skipped.append(f"{folder.name} ({why})")
            else:
                rows.append(row)
        with closing(self._open()) as db, db:
            db.execute(SCHEMA)
            db.executemany(f"INSERT OR REPLACE INTO runs ({', '.join(COLUMNS)}) VALUES "
                           f"({', '.join('?' * len(COLUMNS))})", rows)
        self._checked = True
        return rows, skipped

    def _empty_memory(self) -> None:
        """A read-only folder without an index or runs: an empty index in memory (nothing to read)."""
        self._memory = sqlite3.connect(self._memory_uri, uri=True)
        self._memory.execute(SCHEMA)

    def _rebuild_in_memory(self, reason: str) -> str:
        """A read-only store's damaged or missing index, rebuilt in memory for this process (the file is untouched)."""
        known = self._salvage()
        self._memory = sqlite3.connect(self._memory_uri, uri=True)  # lives as long as this Store
        rows, skipped = self._fill(known)
        message = (f"{self.index}: {reason}; the store cannot be written, so its index was rebuilt in memory for "
                   f"this command only: {len(rows)} runs indexed"
                   + (f", {len(skipped)} incomplete folders left out" if skipped else ""))
        self.repairs.append(message)
        return message

    def _refuse_if_held(self) -> None:
        """Another process holding the index (a sweep writing its rows) stops a rebuild: setting the file
        aside under it would lose the rows it commits later."""
        if not self.index.is_file():
            return
        try:
            with closing(sqlite3.connect(self.index, timeout=self.wait, isolation_level=None)) as db:
                db.execute("BEGIN EXCLUSIVE")
                db.execute("ROLLBACK")
        except sqlite3.Error as exc:
            if _code(exc) in _BUSY_CODES:
                raise self._busy() from None
            # a file SQLite cannot read holds no lock worth waiting for: rebuilt below

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
        self.record_many([(run_id, summary, variant)], sweep=sweep)

    def record_many(self, entries: list[tuple[str, dict[str, Any], dict[str, Any] | None]], *, sweep: str = "") -> None:
        """`record` for several runs (run id, summary, variant) in one transaction: a sweep writes a group's
        rows at once, one disk sync instead of one per run; the rows appear all or none."""
        rows = []
        for run_id, summary, variant in entries:
            extra = {"sweep": sweep, "variant": variant or {}, "code_version": code_version(),
                     "created": _dt.datetime.now().isoformat(timespec="seconds")}
            _write_json(self.folder(run_id) / ROW_FILE, extra)  # lets `rebuild` restore this row from the folder
            rows.append(_row(run_id, summary, extra))
        with self._db(write=True) as db:  # one transaction: the rows appear whole or not at all
            db.executemany(f"INSERT OR REPLACE INTO runs ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})", rows)

    def adopt(self, run_id: str, *, sweep: str = "", variant: dict[str, Any] | None = None) -> bool:
        """Index a complete run folder that has no row yet (a worker saved it, then Ctrl-C stopped the
        sweep before this process wrote the row): True when the run can now be reused."""
        if self.row(run_id) is not None:
            return False
        folder = self.folder(run_id)
        if not folder.is_dir() or _folder_problem(folder) is not None:
            return False
        try:
            summary = json.loads((folder / "run.json").read_text())
        except (OSError, ValueError):
            return False
        if summary.get("status") not in DONE:
            return False
        self.record(run_id, summary, sweep=sweep, variant=variant)
        return True

    def remove(self, run_id: str) -> None:
        with self._db(write=True) as db:
            db.execute("DELETE FROM runs WHERE id = ?", (run_id,))

    # ---------------------------------------------------------------- reading

    def row(self, run_id: str) -> dict[str, Any] | None:
        with self._db() as db:
            r = db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        return dict(r) if r is not None else None

    def check(self, run_id: str) -> str:
        """"ok" when the run can be reused; otherwise why not ("no row", "interrupted", "damaged: ...")."""
        row = self.row(run_id)
        if row is None:
            return "no row"
        if row["status"] not in DONE:
            return row["status"]
        problem = _folder_problem(self.folder(run_id), row["steps"])
        return f"damaged: {problem}" if problem else "ok"

    def done(self, run_id: str) -> bool:
        return self.check(run_id) == "ok"

    def load(self, run_id: str, *, with_model: bool = False):
        """The stored `Run` (checked first: a damaged run raises DataFileError, naming the folder)."""
        from .training.run import load_run

        state = self.check(run_id)
        if state == "no row":
            raise SpecError("run id", f"the id of a run in {self.dir} (see `mlplab runs list`)", run_id)
        if state != "ok":
            raise DataFileError(self.folder(run_id), f"is not a complete run ({state})", "re-run its sweep to redo it")
        return load_run(self.folder(run_id), with_model=with_model)

    def ids(self, prefix: str = "") -> list[str]:
        with self._db() as db:
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

        with self._db() as db:
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


def _folder_problem(folder: Path, steps: int | None = None) -> str | None:
    """Why the files in ``folder`` are not a complete run (None when they are); ``steps``: what the index says."""
    try:
        meta = json.loads((folder / "run.json").read_text())
        with open(folder / "trajectory.npz", "rb") as fh, np.load(fh) as z:  # our handle: closed even on a bad file
            stored = len(z["losses"])
            if "frames" in z.files:
                z["frames"]
        spec = meta["spec"]
        if spec.get("kind", "train") == "train" and "model" in spec:  # a trained run is reused with its weights
            with zipfile.ZipFile(folder / "model.pt") as weights:  # torch.save writes a zip archive
                bad = weights.testzip()
            if bad is not None:
                return f"model.pt is damaged ({bad})"
    except FileNotFoundError as exc:
        return f"{Path(exc.filename).name} is missing"
    except (OSError, ValueError, KeyError, TypeError, AttributeError, EOFError, zipfile.BadZipFile) as exc:
        return f"{type(exc).__name__}: {exc}"
    if meta.get("steps") != stored or (steps is not None and stored != steps):
        return f"{stored} stored steps, run.json says {meta.get('steps')}" + (
            f", the index {steps}" if steps is not None else "")
    return None


def _row(run_id: str, summary: dict[str, Any], extra: dict[str, Any]) -> tuple:
    """An index row (in COLUMNS order) from a run's summary and its ``row.json`` values."""
    return (
        run_id, summary["name"], extra.get("sweep", ""), json.dumps(summary["spec"], default=str),
        json.dumps(extra.get("variant") or {}, default=str), summary["status"], summary.get("steps"),
        summary.get("final_loss"), json.dumps(summary.get("metrics") or {}), json.dumps(summary.get("timings") or {}),
        extra.get("code_version"), extra.get("created"),
    )


def _row_from_folder(folder: Path, known: dict[str, Any]) -> tuple[tuple | None, str]:
    """The index row a run folder stands for (``known``: what an old index said of it), or (None, why not)."""
    problem = _folder_problem(folder)
    if problem:
        return None, problem
    try:
        summary = json.loads((folder / "run.json").read_text())
        extra = json.loads((folder / ROW_FILE).read_text()) if (folder / ROW_FILE).is_file() else known
        if not isinstance(extra, dict) or not isinstance(summary.get("name"), str):
            return None, f"{ROW_FILE} or run.json holds the wrong kind of value"
        return _row(folder.name, summary, extra), ""
    except (OSError, ValueError, KeyError) as exc:
        return None, f"{type(exc).__name__}: {exc}"


def _write_json(path: Path, value: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(value, default=str))
    os.replace(tmp, path)  # atomic: a reader sees the old file or the new one


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
