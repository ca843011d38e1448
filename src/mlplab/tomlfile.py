"""The one reader of TOML files (experiments for the CLI, sweep files): every file a user names comes here.

A file that is not a regular file (a FIFO, a directory, a device), too large, not UTF-8, not valid
TOML or nested absurdly deep is refused with one `SpecError` naming the file, before it is parsed
or, for the size and the kind of file, before it is read.
"""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path
from typing import Any

from .errors import SpecError

# No experiment or sweep file is more than a few kB; a larger one is a mistake (or an attack).
MAX_TOML_BYTES = 1_000_000
# No experiment or sweep nests deeper than a few tables; a deeper file is a mistake (or an attack on
# the parser's recursion) and is refused before anything runs.
MAX_TOML_DEPTH = 16


def read_toml(path: str | os.PathLike, what: str = "experiment file") -> dict[str, Any]:
    """A TOML file as plain values; unreadable, invalid or absurdly nested files raise SpecError naming it."""
    path = Path(path)
    name = str(path)
    try:
        info = path.stat()
    except OSError as exc:
        raise SpecError(what, "an existing .toml file", name, hint=exc.strerror or None) from None
    if not stat.S_ISREG(info.st_mode):
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file (a pipe or a device?)"
        raise SpecError(what, "a regular .toml file", name, hint=f"It is {kind}")
    if info.st_size > MAX_TOML_BYTES:
        raise SpecError(name, f"a TOML file of at most {MAX_TOML_BYTES:,} bytes", f"{info.st_size:,} bytes")
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_TOML_BYTES + 1)  # a file that grew since stat is still bounded
    except OSError as exc:
        raise SpecError(name, "a readable file", exc.strerror or str(exc)) from None
    if len(raw) > MAX_TOML_BYTES:
        raise SpecError(name, f"a TOML file of at most {MAX_TOML_BYTES:,} bytes", "more")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(name, "UTF-8 text (a TOML file)", f"a byte that is not UTF-8 at offset {exc.start}") from None
    try:
        values = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(name, "valid TOML", f"a parse error ({exc})") from None
    except RecursionError:
        raise SpecError(name, f"TOML nested at most {MAX_TOML_DEPTH} levels deep", "deeper nesting") from None
    where = _too_deep(values)
    if where is not None:
        raise SpecError(where, f"values nested at most {MAX_TOML_DEPTH} levels deep", "deeper nesting",
                        hint=f"in {path}")
    return values


def _too_deep(values: Any) -> str | None:
    """The dotted key where ``values`` nests deeper than MAX_TOML_DEPTH, else None (iterative: no recursion)."""
    stack = [(values, "", 0)]
    while stack:
        node, where, depth = stack.pop()
        if depth > MAX_TOML_DEPTH:
            return where or "file"
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        stack.extend((v, f"{where}.{k}" if where else str(k), depth + 1) for k, v in items)
    return None
