"""Load a table of numbers from a CSV file into a `Dataset`, with errors that point at the line.

The first non-blank line names the columns. Numbers only in the inputs; the target may also hold
class names, which become integer labels (``Dataset.class_names`` keeps the names).
"""

from __future__ import annotations

import csv
import math
import stat
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from ..errors import DataFileError, SpecError
from ..specs import DataSpec
from .dataset import Dataset, Task, generator

TASKS = ("regression", "binary", "multiclass")
# Values are kept as float32: anything larger in size becomes infinity.
FLOAT32_MAX = float(np.finfo(np.float32).max)
# An integer-valued target with at most this many distinct values is read as class labels.
MAX_INFERRED_CLASSES = 20
# The most a CSV file may hold when read whole (about 25 bytes of memory per byte of text while parsed):
# a larger file is refused before it is read, unless only its first rows are asked for (data.n, limit).
CSV_MAX_BYTES = 16 << 20
_MISSING_HINT = "fill in or drop rows with missing values"


def load_csv(
    path: str | Path,
    x: Sequence[str] | str | None = None,
    y: Sequence[str] | str | None = None,
    task: Task | None = None,
    *,
    name: str | None = None,
    limit: int | None = None,
    delimiter: str = ",",
    where: str = "",
) -> Dataset:
    """Read ``path`` into a Dataset with inputs ``x`` and targets ``y`` (column names).

    ``y`` None: the last column. ``x`` None: every column that is not a target. ``task`` None:
    classification when the single target column holds class names, or whole numbers with at most
    20 distinct values (binary for two, multiclass for more); regression otherwise. ``limit`` keeps
    only the first rows. ``where`` prefixes parameter names in errors (``data.params``).
    X: (n, len(x)). y: (n, len(y)) for regression, (n,) labels 0..k-1 for classification.
    """
    prefix = f"{where}." if where else ""
    if task is not None and task not in TASKS:
        raise SpecError(f"{prefix}task", f"one of {', '.join(TASKS)} or None (infer it)", task)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise SpecError(f"{prefix}limit" if not prefix else "data.n", "a positive number of rows or None", limit)
    path = Path(path)
    header, rows = _read_rows(path, delimiter, limit, f"{prefix}path")
    y_cols = _columns(y, header, f"{prefix}y", path) if y is not None else [header[-1]]
    x_cols = _columns(x, header, f"{prefix}x", path) if x is not None else [c for c in header if c not in y_cols]
    if not x_cols:
        raise SpecError(f"{prefix}x", f"at least one input column besides the targets {y_cols}", x)
    both = sorted(set(x_cols) & set(y_cols))
    if both:
        hint = f"remove {both[0]!r} from x"
        raise SpecError(f"{prefix}x", f"columns that are not targets too (y={y_cols})", x_cols, hint=hint)

    index = {c: k for k, c in enumerate(header)}
    X = np.array([[_number(path, line, c, row[index[c]]) for c in x_cols] for line, row in rows], dtype=np.float64)
    targets = [[_cell(path, line, c, row[index[c]]) for c in y_cols] for line, row in rows]
    y_arr, task, class_names, n_classes = _targets(path, targets, y_cols, [line for line, _ in rows], task, prefix)
    params = {"path": str(path), "x": x_cols, "y": y_cols, "task": task, "rows": len(rows)}
    return Dataset(
        X, y_arr, task, name or path.stem, params=params, n_classes=n_classes, class_names=class_names
    )


@generator("csv")
def csv_data(spec: DataSpec) -> Dataset:
    """A CSV file: ``params={"path": ..., "x": [...], "y": "name" | [...], "task": ..., "delimiter": ","}``.

    ``n`` keeps only the first n rows; ``noise`` does not apply to a file.
    """
    allowed = {"path", "x", "y", "task", "delimiter"}
    unknown = sorted(set(spec.params) - allowed)
    if unknown:
        raise SpecError(f"data.params.{unknown[0]}", f"one of {', '.join(sorted(allowed))}", spec.params[unknown[0]])
    if "path" not in spec.params:
        raise SpecError("data.params.path", "the path of a CSV file", None, hint='give params={"path": "data.csv"}')
    if spec.noise is not None:
        raise SpecError("data.noise", "None for a CSV file (noise is for generated data)", spec.noise)
    p = spec.params
    return load_csv(
        p["path"], p.get("x"), p.get("y"), p.get("task"),
        limit=spec.n, delimiter=p.get("delimiter", ","), where="data.params",
    )


# ---------------------------------------------------------------------------------------------
# reading


def _read_rows(path: Path, delimiter: str, limit: int | None = None,
               param: str = "path") -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and the (line number, cells) of the non-blank data rows: the first ``limit`` of them
    when given (the rest of the file is not read), else all of them from a file of at most `CSV_MAX_BYTES`."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise DataFileError(path, "no such file", hint=f"check the path (relative to {Path.cwd()})") from None
    except OSError as exc:
        raise DataFileError(path, f"cannot be read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise DataFileError(path, "is a folder, not a CSV file")
    if not stat.S_ISREG(st.st_mode):  # a FIFO would block, /dev/zero never ends
        raise DataFileError(path, "is not a regular file (a pipe, device or socket), not a CSV file",
                            hint="save the table to a file and give its path")
    if limit is None and st.st_size > CSV_MAX_BYTES:
        raise SpecError(param, f"a CSV file of at most {CSV_MAX_BYTES >> 20} MiB", f"{path} ({st.st_size} bytes)",
                        hint="give data.n (limit) to read only the first rows, or drop columns or rows")
    header: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:  # -sig: drop the byte-order mark of spreadsheets
            reader = csv.reader(_bounded_lines(f, path, param), delimiter=delimiter)
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue
                if header is None:
                    header = _header(path, row, reader.line_num)
                    continue
                if len(row) != len(header):
                    raise DataFileError(
                        path, f"line {reader.line_num} has {len(row)} fields, the header has {len(header)}",
                        hint=f"every row needs one value per column ({', '.join(header)})",
                    )
                rows.append((reader.line_num, row))
                if limit is not None and len(rows) >= limit:
                    break
    except UnicodeDecodeError:
        raise DataFileError(path, "is not UTF-8 text", hint="save it as UTF-8 CSV") from None
    except csv.Error as exc:
        raise DataFileError(path, f"line {reader.line_num}: not valid CSV ({exc})") from None
    except OSError as exc:
        raise DataFileError(path, f"cannot be read ({exc.strerror or exc})") from None
    if header is None:
        raise DataFileError(path, "the file is empty", hint="expected a header line naming the columns, then data rows")
    if not rows:
        raise DataFileError(path, f"has a header ({', '.join(header)}) but no data rows")
    return header, rows


def _bounded_lines(f: Any, path: Path, param: str) -> Iterator[str]:
    """The lines of ``f``, refusing once more than `CSV_MAX_BYTES` characters have been read (a file that
    grows while read, or one endless line, stops there)."""
    left = CSV_MAX_BYTES
    while line := f.readline(left + 1):
        left -= len(line)
        if left < 0:
            raise SpecError(param, f"a CSV file of at most {CSV_MAX_BYTES >> 20} MiB", f"{path} (more)",
                            hint="give data.n (limit) to read only the first rows, or drop columns or rows")
        yield line


def _header(path: Path, row: list[str], line: int) -> list[str]:
    names = [cell.strip() for cell in row]
    for k, c in enumerate(names):
        if not c:
            raise DataFileError(path, f"line {line}: column {k + 1} of the header has no name")
    seen: set[str] = set()
    for c in names:
        if c in seen:
            raise DataFileError(path, f"line {line}: the header names column {c!r} twice")
        seen.add(c)
    return names


def _columns(names: Sequence[str] | str, header: list[str], param: str, path: Path) -> list[str]:
    cols = [names] if isinstance(names, str) else list(names)
    if not cols or not all(isinstance(c, str) for c in cols):
        raise SpecError(param, "a column name or a list of column names", names)
    for c in cols:
        if c not in header:
            expected = f"columns of {path.name} (it has: {', '.join(header)})"
            raise SpecError(param, expected, c, hint=f"no column named {c!r}")
    return cols


def _cell(path: Path, line: int, column: str, text: str) -> str:
    text = text.strip()
    if not text:
        raise DataFileError(path, f"line {line}, column {column!r}: empty cell", hint=_MISSING_HINT)
    return text


def _number(path: Path, line: int, column: str, text: str, hint: str | None = None) -> float:
    text = _cell(path, line, column, text)
    value = _float(text)
    if value is None:
        raise DataFileError(path, f"line {line}, column {column!r}: {text!r} is not a number", hint=hint)
    if math.isnan(value):
        raise DataFileError(path, f"line {line}, column {column!r}: NaN (a missing value)", hint=_MISSING_HINT)
    if math.isinf(value):
        raise DataFileError(path, f"line {line}, column {column!r}: {text!r} is not finite")
    if abs(value) > FLOAT32_MAX:
        raise DataFileError(path, f"line {line}, column {column!r}: {text} is too large for float32 "
                            f"(at most {FLOAT32_MAX:.3g} in size)", hint="rescale the column")
    return value


def _float(text: str) -> float | None:
    """The number a cell holds, or None. Python's float() also reads '1_000'; a CSV number has no '_'."""
    if "_" in text:
        return None
    try:
        return float(text)
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------------
# targets


def _targets(
    path: Path, cells: list[list[str]], cols: list[str], lines: list[int], task: Task | None, prefix: str
) -> tuple[np.ndarray, Task, list[str] | None, int | None]:
    """Parse the target cells: (y, task, class names, number of classes)."""
    numeric = all(_is_number(row[0]) for row in cells) if len(cols) == 1 else True
    for line, row in zip(lines, cells):  # '1_000' reads as a number to Python, never as a class name here
        if "_" in row[0] and _is_number(row[0].replace("_", "")):
            raise DataFileError(path, f"line {line}, column {cols[0]!r}: {row[0]!r} is not a number",
                                hint="write numbers without '_' separators")
    if task == "regression" or len(cols) > 1 or (task is None and numeric and not _looks_like_labels(cells)):
        if task in ("binary", "multiclass"):
            raise SpecError(f"{prefix}y", f"one target column for task={task!r}", cols)
        hint = "for class labels give task='binary' or 'multiclass'" if len(cols) == 1 else None
        y = np.array([[_number(path, line, c, v, hint) for c, v in zip(cols, row)] for line, row in zip(lines, cells)])
        return y, "regression", None, None

    column = cols[0]
    raw = [row[0] for row in cells]
    if numeric:
        values = [_number(path, line, column, v) for line, v in zip(lines, raw)]
        for line, v in zip(lines, values):
            if v != int(v):
                raise SpecError(
                    f"{prefix}task",
                    f"'regression' for column {column!r} (line {line} holds {v}, not a class number)",
                    task,
                )
        classes = sorted({int(v) for v in values})
        keys = [int(v) for v in values]
        names = None if classes == list(range(len(classes))) else [str(c) for c in classes]
    else:
        classes = sorted(set(raw))
        keys = raw
        names = list(classes)
    if len(classes) < 2:
        raise DataFileError(
            path, f"column {column!r} holds one class ({classes[0]}) on all {len(raw)} rows; a classification "
            "needs at least two", hint=f"add rows of another class, or give {prefix}task='regression'",
        )
    lookup = {c: k for k, c in enumerate(classes)}
    labels = np.array([lookup[k] for k in keys], dtype=np.int64)
    if task is None:
        task = "binary" if len(classes) <= 2 else "multiclass"
    if task == "binary" and len(classes) > 2:
        raise SpecError(
            f"{prefix}task", f"'multiclass' for column {column!r}, which has {len(classes)} classes", task,
            hint=f"its classes: {', '.join(map(str, classes[:10]))}",
        )
    n_classes = max(len(classes), 2) if task == "binary" else len(classes)
    return labels, task, names, n_classes


def _is_number(text: str) -> bool:
    return _float(text) is not None


def _looks_like_labels(cells: list[list[str]]) -> bool:
    """Whole numbers with few distinct values: read as class labels when the task is not given."""
    values = {float(row[0]) for row in cells}
    if any(math.isnan(v) or math.isinf(v) for v in values):
        return False  # let the regression path report the bad cell with its line
    return len(values) <= MAX_INFERRED_CLASSES and all(v == int(v) for v in values)

