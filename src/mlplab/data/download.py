"""Where the IDX files live (a data folder, ``MLPLAB_DATA``) and where they come from: official mirrors or
``MLPLAB_DATA_URL``, every file MD5-checked, written atomically, with an overall deadline."""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import DataFileError, SpecError

# ---------------------------------------------------------------------------------------------
# Where the files live and where they come from.

NAMES = ("fashion-mnist", "mnist", "digits")
TITLES = {"fashion-mnist": "Fashion-MNIST", "mnist": "MNIST", "digits": "digits"}
IDX_FILES: dict[str, str] = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

# Official mirrors, tried in order. Fashion-MNIST's S3 website endpoint speaks plain HTTP only;
# the MD5 check below is what guards the content.
MIRRORS: dict[str, tuple[str, ...]] = {
    "fashion-mnist": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    "mnist": ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
}

# MD5 of each official gzipped file (from the Fashion-MNIST README and torchvision's MNIST table).
CHECKSUMS: dict[str, dict[str, str]] = {
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
}

# Folders (under the data dir) searched besides the data dir itself; the first is where downloads go.
# "FashionMNIST/raw" and "MNIST/raw" are where torchvision and d2l keep their copies.
SUBFOLDERS: dict[str, tuple[str, ...]] = {
    "fashion-mnist": ("fashion-mnist", "FashionMNIST/raw", "fashion"),
    "mnist": ("mnist", "MNIST/raw"),
}

ENV_DATA = "MLPLAB_DATA"
ENV_URL = "MLPLAB_DATA_URL"
# Long enough for a slow mirror to answer, short enough that an offline machine fails quickly.
DOWNLOAD_TIMEOUT_S = 30.0
# One download() call ends by then whatever happens: a mirror that trickles a byte every few seconds
# never trips the per-read timeout above. The four Fashion-MNIST files are 30 MB: 20 minutes is 25 kB/s.
DOWNLOAD_DEADLINE_S = 1200.0
# The most one file may bring: the largest official file (Fashion-MNIST's training images) is 26.4 MB.
# A mirror announcing more is refused before the body is read, one sending more is cut off there: an
# endless body never fills the disk (the MD5 check only comes at the end).
DOWNLOAD_MAX_BYTES = 32 << 20
URL_SCHEMES = ("http", "https", "file")
CHUNK_BYTES = 1 << 16
# What an unreachable, refusing or dropping mirror raises (HTTPError is a URLError).
NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, TimeoutError, socket.timeout, ConnectionError)


def data_root(data_dir: str | os.PathLike | None = None) -> Path:
    """The data folder: the argument, else ``$MLPLAB_DATA``, else ``$XDG_CACHE_HOME/mlplab`` or ``~/.cache/mlplab``."""
    if data_dir is not None and str(data_dir) != "":
        return Path(data_dir).expanduser()
    if os.environ.get(ENV_DATA):
        return Path(os.environ[ENV_DATA]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache).expanduser() / "mlplab"


def find_files(name: str, data_dir: str | os.PathLike | None = None) -> dict[str, Path | None]:
    """Locate the four IDX files of ``name``: role -> path, or None where absent.

    Looks in ``data_dir/<subfolder>/`` (see `SUBFOLDERS`) and in ``data_dir/`` itself, gzipped or not.
    """
    name = _idx_name(name)
    root = data_root(data_dir)
    folders = [root / sub for sub in SUBFOLDERS[name]] + [root]
    found: dict[str, Path | None] = {}
    for role, stem in IDX_FILES.items():
        found[role] = next(
            (folder / f for folder in folders for f in (stem + ".gz", stem) if (folder / f).is_file()), None
        )
    return found


def download(
    name: str,
    data_dir: str | os.PathLike | None = None,
    *,
    base_url: str | None = None,
    progress: bool | None = None,
    checksums: Mapping[str, str] | None = None,
    timeout: float = DOWNLOAD_TIMEOUT_S,
    deadline: float | None = None,
) -> dict[str, Path]:
    """Fetch the missing IDX files of ``name`` into ``data_dir/<name>/``; role -> path of every file.

    Files already present are left alone. Each download is checked against ``checksums`` (file name
    -> MD5; default `CHECKSUMS`) and written atomically. Raises one `DataFileError` that says which
    files are missing and where to put them when no mirror can be reached, or when the whole call
    takes longer than ``deadline`` seconds (default `DOWNLOAD_DEADLINE_S`).
    """
    name = _idx_name(name)
    found = find_files(name, data_dir)
    missing = [role for role, p in found.items() if p is None]
    if not missing:
        return dict(found)  # type: ignore[arg-type]
    target = data_root(data_dir) / SUBFOLDERS[name][0]
    mirrors = _mirrors(name, base_url)
    table = CHECKSUMS[name] if checksums is None else checksums
    show = sys.stderr.isatty() if progress is None else bool(progress)
    end = time.monotonic() + (DOWNLOAD_DEADLINE_S if deadline is None else deadline)
    for i, role in enumerate(missing):
        fname = IDX_FILES[role] + ".gz"
        found[role] = _fetch(name, fname, mirrors, target, table.get(fname), show, (timeout, end), missing[i:],
                             data_dir)
    return dict(found)  # type: ignore[arg-type]


def _mirrors(name: str, base_url: str | None) -> tuple[str, ...]:
    if base_url:
        return (_checked_url(base_url, "base_url"),)
    if os.environ.get(ENV_URL):
        return (_checked_url(os.environ[ENV_URL], ENV_URL),)
    return MIRRORS[name]


def _checked_url(url: str, param: str) -> str:
    """A mirror's base URL, or a SpecError naming where it came from."""
    expected = "a base URL such as https://example.org/mnist/ (http, https or file)"
    try:
        parts = urllib.parse.urlsplit(str(url).strip())
    except ValueError:
        raise SpecError(param, expected, url) from None
    if parts.scheme not in URL_SCHEMES or (parts.scheme != "file" and not parts.hostname):
        raise SpecError(param, expected, url)
    return str(url).strip()


def _fetch(
    name: str,
    fname: str,
    mirrors: tuple[str, ...],
    target: Path,
    md5: str | None,
    show: bool,
    timing: tuple[float, float],
    missing: list[str],
    data_dir: Any,
) -> Path:
    failures = []
    for base in mirrors:
        url = base.rstrip("/") + "/" + fname
        try:
            return _download_one(url, target / fname, md5, show, timing)
        except NETWORK_ERRORS as exc:
            failures.append(f"{url} ({_reason(exc)})")
    raise _missing_error(name, data_dir, missing, "could not download: " + "; ".join(failures))


def _reason(exc: Exception) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code}"
    reason = getattr(exc, "reason", None) or exc
    return str(reason) or type(reason).__name__


def _download_one(url: str, dest: Path, md5: str | None, show: bool, timing: tuple[float, float]) -> Path:
    """Stream ``url`` into a temporary file beside ``dest``, check its MD5, then rename it into place.

    ``timing``: (seconds a single read may wait, the monotonic time by which everything must be done).
    """
    timeout, end = timing
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.md5(usedforsecurity=False)
    fd, tmp_name = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with _Deadline(end) as watch, os.fdopen(fd, "wb") as out, \
                watch.opener.open(url, timeout=_left(end, timeout)) as resp:
            total = int(resp.headers.get("Content-Length") or 0) or None
            if total is not None and total > DOWNLOAD_MAX_BYTES:
                raise _too_large(url, f"announces {total} bytes")
            written = 0
            with _progress_bar(show, dest.name, total) as advance:
                # read1: whatever has arrived (read() would wait for a whole chunk from a trickling mirror)
                while chunk := resp.read1(CHUNK_BYTES):
                    written += len(chunk)
                    if written > DOWNLOAD_MAX_BYTES:
                        raise _too_large(url, f"sent more than {DOWNLOAD_MAX_BYTES} bytes")  # cut off here
                    out.write(chunk)
                    digest.update(chunk)
                    advance(len(chunk))
                    _left(end, timeout)
            watch.check()  # the deadline may have cut the stream short: that is no end of file
        if md5 is not None and digest.hexdigest() != md5.lower():
            tmp.unlink()
            raise DataFileError(
                url,
                f"checksum mismatch: expected MD5 {md5}, got {digest.hexdigest()}; the download was deleted",
                hint=f"the mirror serves a different file; try again or set {ENV_URL} to another mirror",
            )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def _too_large(url: str, what: str) -> DataFileError:
    return DataFileError(url, f"the mirror {what}, and no data file here is larger than {DOWNLOAD_MAX_BYTES} "
                         "bytes; nothing was kept",
                         hint=f"the mirror serves something else; set {ENV_URL} to another one")


class _Deadline:
    """The overall deadline, kept even while a read waits: at ``end`` the connection's socket is shut down,
    so that a mirror trickling its headers or body a byte at a time (each read well inside the per-read
    timeout) cannot hold the download past it. ``opener`` opens URLs whose sockets it watches."""

    def __init__(self, end: float):
        self.fired, self._socks, self._lock = False, [], threading.Lock()
        watch = self

        class Watched:
            def do_open(self, http_class, req, **kw):
                def connect(conn):
                    http_class.connect(conn)
                    watch._add(conn.sock)

                return super().do_open(type("Watched" + http_class.__name__, (http_class,), {"connect": connect}),
                                       req, **kw)

        handlers = [type("WatchedHTTP", (Watched, urllib.request.HTTPHandler), {})]
        if hasattr(urllib.request, "HTTPSHandler"):
            handlers.append(type("WatchedHTTPS", (Watched, urllib.request.HTTPSHandler), {}))
        self.opener = urllib.request.build_opener(*handlers)
        self._timer = threading.Timer(max(0.0, end - time.monotonic()), self._fire)
        self._timer.daemon = True

    def __enter__(self) -> "_Deadline":
        self._timer.start()
        return self

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
        self._timer.cancel()
        if kind is not None and self.fired and issubclass(kind, (OSError, http.client.HTTPException, ValueError)) \
                and not issubclass(kind, DataFileError):
            raise TimeoutError("the download deadline passed (a very slow mirror?)") from None

    def _add(self, sock: socket.socket) -> None:
        with self._lock:
            self._socks.append(sock)
            if self.fired:
                self._shut(sock)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            for sock in self._socks:
                self._shut(sock)

    @staticmethod
    def _shut(sock: socket.socket) -> None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def check(self) -> None:
        if self.fired:
            raise TimeoutError("the download deadline passed (a very slow mirror?)")


def _left(end: float, timeout: float) -> float:
    """Seconds the next network wait may take; TimeoutError once the overall deadline has passed."""
    left = end - time.monotonic()
    if left <= 0:
        raise TimeoutError("the download deadline passed (a very slow mirror?)")
    return min(timeout, left)


@contextmanager
def _progress_bar(show: bool, label: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(n_bytes)``: a rich bar on stderr when ``show``, else a no-op."""
    if not show:
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


def _name(name: str) -> str:
    key = str(name).strip().lower().replace("_", "-")
    key = {"fashionmnist": "fashion-mnist", "fmnist": "fashion-mnist"}.get(key, key)
    if key not in NAMES:
        raise SpecError("name", f"one of {', '.join(NAMES)}", name)
    return key


def _idx_name(name: str) -> str:
    key = _name(name)
    if key == "digits":
        raise SpecError("name", "an IDX data set (fashion-mnist or mnist); digits ships with scikit-learn", name)
    return key


def _missing_error(name: str, data_dir: Any, missing: list[str], why: str) -> DataFileError:
    target = data_root(data_dir) / SUBFOLDERS[name][0]
    files = ", ".join(IDX_FILES[r] + ".gz" for r in missing)
    return DataFileError(
        target,
        f"{TITLES[name]} files missing: {files}; {why}",
        hint=(
            f"Put the files (gzipped or not) in {target}/, or point {ENV_DATA} at a folder that holds them "
            f"(directly or in a {SUBFOLDERS[name][0]}/ subfolder), or set {ENV_URL} to a reachable mirror"
        ),
    )
