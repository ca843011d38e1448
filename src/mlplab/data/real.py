"""Real image data: an IDX reader, Fashion-MNIST / MNIST (local files or a checked download) and
scikit-learn's bundled 8x8 digits. Images come back flattened, scaled to [0, 1] and standardised
with statistics of the training split only. CSV and synthetic sets live elsewhere.
"""

from __future__ import annotations

import hashlib
import http.client
import math
import os
import socket
import struct
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataFileError, SpecError
from ..specs import DataSpec
from .dataset import Dataset, generator

# ---------------------------------------------------------------------------------------------
# IDX files: a 4-byte magic (0, 0, dtype code, number of dimensions), one big-endian uint32 per
# dimension, then the values in C order, big-endian.

IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
GZIP_MAGIC = b"\x1f\x8b"
# No IDX file in use has more than 3 dimensions; a larger count means the header is garbage.
IDX_MAX_DIMS = 8
# The largest official file inflates to 47 MB; a header declaring more than this is refused before
# anything is inflated (a small gzip can claim, and inflate to, many gigabytes).
IDX_MAX_BYTES = 1 << 31


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (gzipped or not, told apart by its first bytes) into a native-endian array.

    Raises `DataFileError` naming the file when it is missing, truncated or malformed.
    """
    path = Path(path)
    raw = _read_bytes(path)
    if raw[:2] == GZIP_MAGIC:
        raw = _inflate(raw, path)
    return parse_idx(raw, path)


def _inflate(raw: bytes, path: Path) -> bytes:
    """Inflate a gzipped IDX file, never past the size its own IDX header declares (plus one byte, so
    that trailing bytes are seen): a gzip bomb stops at the header's size instead of filling memory."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # 16+: expect a gzip wrapper
    try:
        out = inflater.decompress(raw, 4 + 4 * IDX_MAX_DIMS)  # enough for any header
        header = _declared_size(out, path)
        if header is None:  # too short or not IDX: parse_idx names the problem from the first bytes
            return out + inflater.decompress(inflater.unconsumed_tail, 1 << 16)
        want = header + 1 - len(out)
        while want > 0 and not inflater.eof:
            chunk = inflater.decompress(inflater.unconsumed_tail or b"", min(want, 1 << 24))
            if not chunk:
                break
            out += chunk
            want -= len(chunk)
    except zlib.error as exc:
        raise DataFileError(path, f"broken gzip stream ({exc})", hint="download the file again") from None
    if len(out) > header:
        raise DataFileError(path, f"inflates beyond the {header} bytes its IDX header declares",
                            hint="the file is damaged or not what it claims; download it again")
    if not inflater.eof:
        raise DataFileError(path, "broken gzip stream (it ends before its end marker)", hint="download the file again")
    return out


def _declared_size(head: bytes, path: object) -> int | None:
    """Header plus payload bytes an IDX header declares; None when ``head`` is no complete IDX header."""
    if len(head) < 4 or head[0] or head[1] or head[2] not in IDX_DTYPES or not 1 <= head[3] <= IDX_MAX_DIMS:
        return None
    ndim = head[3]
    if len(head) < 4 + 4 * ndim:
        return None
    shape = struct.unpack(f">{ndim}I", head[4 : 4 + 4 * ndim])
    size = 4 + 4 * ndim + math.prod(shape) * IDX_DTYPES[head[2]].itemsize
    if size > IDX_MAX_BYTES:
        raise DataFileError(path, f"its IDX header declares shape {shape}, {size} bytes; more than any data set here "
                            f"({IDX_MAX_BYTES} bytes)", hint="the file is damaged; download it again")
    return size


def parse_idx(raw: bytes, path: object = "<bytes>") -> np.ndarray:
    """Decode the bytes of an uncompressed IDX file; ``path`` only names the source in errors."""
    if len(raw) < 4:
        raise DataFileError(path, f"too short for an IDX header ({len(raw)} bytes, need at least 4)")
    zero0, zero1, code, ndim = raw[0], raw[1], raw[2], raw[3]
    if zero0 != 0 or zero1 != 0:
        raise DataFileError(
            path,
            f"not an IDX file: magic bytes {raw[:4].hex()} should start with 0000",
            hint="expected an MNIST-style file such as train-images-idx3-ubyte(.gz)",
        )
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise DataFileError(path, f"unknown IDX dtype code 0x{code:02X} (known: {known})")
    if not 1 <= ndim <= IDX_MAX_DIMS:
        raise DataFileError(path, f"IDX header gives {ndim} dimensions, expected 1 to {IDX_MAX_DIMS}")
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise DataFileError(path, f"truncated header: {ndim} dimensions need {header_len} bytes, file has {len(raw)}")
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    expected = math.prod(shape) * dtype.itemsize  # Python ints: no overflow on a garbage header
    got = len(raw) - header_len
    if got != expected:
        what = "truncated" if got < expected else "trailing bytes"
        raise DataFileError(
            path, f"{what}: header says shape {shape} of {dtype.name} ({expected} bytes), payload has {got} bytes"
        )
    if expected == 0:  # np.frombuffer refuses an empty payload
        return np.zeros(shape, dtype=dtype.newbyteorder("="))
    data = np.frombuffer(raw, dtype=dtype, offset=header_len).reshape(shape)  # shape from the header
    return data.astype(dtype.newbyteorder("="))


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise DataFileError(path, "file not found") from None
    except IsADirectoryError:
        raise DataFileError(path, "is a folder, expected an IDX file") from None
    except OSError as exc:
        raise DataFileError(path, f"cannot be read ({exc.strerror or exc})") from None


# ---------------------------------------------------------------------------------------------
# Where the files live and where they come from.

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

CLASS_NAMES: dict[str, list[str]] = {
    "fashion-mnist": [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ],
    "mnist": [str(d) for d in range(10)],
    "digits": [str(d) for d in range(10)],
}
TITLES = {"fashion-mnist": "Fashion-MNIST", "mnist": "MNIST", "digits": "digits"}
NAMES = ("fashion-mnist", "mnist", "digits")

ENV_DATA = "MLPLAB_DATA"
ENV_URL = "MLPLAB_DATA_URL"
# Long enough for a slow mirror to answer, short enough that an offline machine fails quickly.
DOWNLOAD_TIMEOUT_S = 30.0
# One download() call ends by then whatever happens: a mirror that trickles a byte every few seconds
# never trips the per-read timeout above. The four Fashion-MNIST files are 30 MB: 20 minutes is 25 kB/s.
DOWNLOAD_DEADLINE_S = 1200.0
URL_SCHEMES = ("http", "https", "file")
CHUNK_BYTES = 1 << 16
# What an unreachable, refusing or dropping mirror raises (HTTPError is a URLError).
NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, TimeoutError, socket.timeout, ConnectionError)
PIXEL_MAX = {"idx": 255.0, "digits": 16.0}  # brightest pixel value of each source
# Digits has no official test split: hold out this seeded share of the 1797 images.
DIGITS_TEST_FRACTION = 0.2
STATS_BLOCK_VALUES = 1 << 22


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
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=_left(end, timeout)) as resp:
            total = int(resp.headers.get("Content-Length") or 0) or None
            with _progress_bar(show, dest.name, total) as advance:
                # read1: whatever has arrived (read() would wait for a whole chunk from a trickling mirror)
                while chunk := resp.read1(CHUNK_BYTES):
                    out.write(chunk)
                    digest.update(chunk)
                    advance(len(chunk))
                    _left(end, timeout)
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


# ---------------------------------------------------------------------------------------------
# Loading into a Dataset.


def load(
    name: str,
    data_dir: str | os.PathLike | None = None,
    *,
    val_fraction: float = 0.1,
    seed: int = 0,
    download: bool = True,
    normalize: bool = True,
    progress: bool | None = None,
    base_url: str | None = None,
    n: int | None = None,
    test_fraction: float | None = None,
) -> Dataset:
    """Load ``"fashion-mnist"``, ``"mnist"`` or ``"digits"`` as a multiclass `Dataset`.

    X: (n, 784) float32 for the IDX sets ((n, 64) for digits): pixels scaled to [0, 1], then (when
    ``normalize``) standardised by one mean and std of the training split, kept in ``params``.
    The validation split is a seeded ``val_fraction`` of the training files; the test split is the
    t10k files (digits: a seeded ``test_fraction``, default 0.2, of all images). ``n`` keeps a
    seeded subset of that many training rows (validation and test splits untouched).
    """
    key = _name(name)
    _check_fraction("val_fraction", val_fraction)
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise SpecError("n", "a positive number of training rows or None", n)
    if key == "digits":
        tf = DIGITS_TEST_FRACTION if test_fraction is None else test_fraction
        _check_fraction("test_fraction", tf)
        images, labels, tests, sources = _digits(tf, seed)
        scale, shape = PIXEL_MAX["digits"], (8, 8)
    else:
        if test_fraction is not None:
            expected = f"None for {TITLES[key]} (its test split is the t10k files)"
            raise SpecError("test_fraction", expected, test_fraction)
        images, labels, tests, sources = _idx_arrays(key, data_dir, download, progress, base_url)
        scale, shape = PIXEL_MAX["idx"], (28, 28)

    rng = np.random.default_rng(seed)
    train_idx, val_idx = _carve(len(labels), val_fraction, rng)
    if n is not None and n < len(train_idx):
        train_idx = np.sort(rng.choice(train_idx, size=n, replace=False))

    flat = images.reshape(len(images), -1)  # (N, h*w)
    X = flat[train_idx].astype(np.float32) / np.float32(scale)
    X_val = flat[val_idx].astype(np.float32) / np.float32(scale)
    X_test = tests[0].reshape(len(tests[0]), -1).astype(np.float32) / np.float32(scale)
    mean, std = 0.0, 1.0
    if normalize:
        mean, std = training_stats(X)
        for a in (X, X_val, X_test):  # in place: the full training set is 188 MB of float32
            a -= np.float32(mean)
            a /= np.float32(std)
    params = {
        "source": sources,
        "val_fraction": val_fraction,
        "seed": seed,
        "normalize": normalize,
        "pixel_max": scale,
        "mean": mean,
        "std": std,
    }
    return Dataset(
        X=X,
        y=labels[train_idx].astype(np.int64),
        task="multiclass",
        name=key,
        params=params,
        X_val=X_val if len(val_idx) else None,
        y_val=labels[val_idx].astype(np.int64) if len(val_idx) else None,
        X_test=X_test,
        y_test=tests[1].astype(np.int64),
        n_classes=10,
        class_names=list(CLASS_NAMES[key]),
        image_shape=shape,
    )


def training_stats(X: np.ndarray) -> tuple[float, float]:
    """One mean and one std over every pixel of the training rows X: (n, d). Computed in float64."""
    # Two passes over row blocks keep the float64 temporaries small (Fashion-MNIST is 188 MB of float32).
    rows = max(1, STATS_BLOCK_VALUES // max(1, X.shape[1]))
    count = X.size
    if count == 0:
        return 0.0, 1.0
    mean = sum(float(X[i : i + rows].sum(dtype=np.float64)) for i in range(0, len(X), rows)) / count
    sq = sum(float(np.square(X[i : i + rows].astype(np.float64) - mean).sum()) for i in range(0, len(X), rows))
    std = math.sqrt(sq / count)
    # A constant training set (all-black images) would divide by zero; leave its scale alone.
    return mean, (std if std > 0 else 1.0)


def _carve(n: int, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Seeded disjoint (kept, held) row indices; held is ``fraction`` of n, at least one row when > 0."""
    order = rng.permutation(n)
    k = 0 if fraction == 0 else min(max(n - 1, 0), max(1, int(round(n * fraction))))
    return np.sort(order[k:]), np.sort(order[:k])


def _idx_arrays(name: str, data_dir: Any, allow_download: bool, progress: bool | None, base_url: str | None):
    files = find_files(name, data_dir)
    missing = [role for role, p in files.items() if p is None]
    if missing:
        if not allow_download:
            raise _missing_error(name, data_dir, missing, "download=False, so nothing was fetched")
        files = download(name, data_dir, base_url=base_url, progress=progress)
    arrays = {role: read_idx(p) for role, p in files.items()}  # type: ignore[arg-type]
    for split in ("train", "test"):
        img, lab = f"{split}_images", f"{split}_labels"
        _check_pair(files[img], arrays[img], files[lab], arrays[lab])
    sources = {role: str(p) for role, p in files.items()}
    return arrays["train_images"], arrays["train_labels"], (arrays["test_images"], arrays["test_labels"]), sources


def _check_pair(img_path: Any, images: np.ndarray, lab_path: Any, labels: np.ndarray) -> None:
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
        got = f"{images.dtype.name} {images.shape}"
        raise DataFileError(img_path, f"expected uint8 images of shape (n, 28, 28), got {got}")
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise DataFileError(lab_path, f"expected uint8 labels of shape (n,), got {labels.dtype.name} {labels.shape}")
    if len(images) == 0:
        raise DataFileError(img_path, "holds 0 images", hint="the file is empty of data; download it again")
    if len(labels) != len(images):
        raise DataFileError(
            lab_path, f"holds {len(labels)} labels but {Path(str(img_path)).name} holds {len(images)} images"
        )
    if len(labels) and labels.max() > 9:
        raise DataFileError(lab_path, f"labels must be 0..9, found {int(labels.max())}")


def _digits(test_fraction: float, seed: int):
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = bunch.images.astype(np.float32)  # (1797, 8, 8), values 0..16
    labels = bunch.target.astype(np.int64)
    # A separate stream for the test carve, so the validation carve (seeded by `seed`) is independent.
    keep, test = _carve(len(labels), test_fraction, np.random.default_rng([seed, 1]))
    return images[keep], labels[keep], (images[test], labels[test]), {"source": "sklearn.datasets.load_digits"}


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


def _check_fraction(param: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise SpecError(param, "a number in [0, 1)", value)


# ---------------------------------------------------------------------------------------------
# For the d2l presets: Fashion-MNIST if it is here already, else digits.


def fashion_or_digits(
    data_dir: str | os.PathLike | None = None, *, seed: int = 0, val_fraction: float = 0.1
) -> tuple[Dataset, str]:
    """Fashion-MNIST when its four files are present locally (never downloads), else digits.

    Returns the data set and one sentence saying which was used and why.
    """
    files = find_files("fashion-mnist", data_dir)
    missing = [IDX_FILES[r] for r, p in files.items() if p is None]
    where = data_root(data_dir)
    if not missing:
        try:
            ds = load("fashion-mnist", data_dir, seed=seed, val_fraction=val_fraction, download=False)
        except DataFileError as exc:
            why = f"its files under {where} could not be read ({exc})"
        else:
            return ds, f"Using Fashion-MNIST from {Path(ds.params['source']['train_images']).parent}."
    else:
        what = "no Fashion-MNIST files" if len(missing) == len(IDX_FILES) else ", ".join(missing)
        why = f"{what} found under {where}"
    ds = load("digits", seed=seed, val_fraction=val_fraction)
    return ds, (
        f"Using scikit-learn's 8x8 digits instead of Fashion-MNIST: {why}; put the four Fashion-MNIST "
        f"files in {where / SUBFOLDERS['fashion-mnist'][0]}/ (or set {ENV_DATA}) to use it."
    )


# ---------------------------------------------------------------------------------------------
# Registry entries: make_dataset("digits"), make_dataset("fashion-mnist", params={"data_dir": ...}).

SPEC_PARAMS = ("data_dir", "val_fraction", "download", "normalize", "base_url", "progress")


def _from_spec(name: str, spec: DataSpec) -> Dataset:
    extra = set(spec.params) - set(SPEC_PARAMS)
    if extra:
        raise SpecError(f"data.params.{sorted(extra)[0]}", f"one of {', '.join(SPEC_PARAMS)}", sorted(extra)[0])
    if spec.noise is not None:
        raise SpecError("data.noise", f"None for {TITLES[name]} (real images take no noise)", spec.noise)
    p = dict(spec.params)
    kwargs: dict[str, Any] = {"seed": spec.seed, "n": spec.n}
    for key in ("val_fraction", "download", "normalize", "base_url", "progress"):
        if key in p:
            kwargs[key] = p[key]
    if name == "digits" and spec.test_fraction:
        kwargs["test_fraction"] = spec.test_fraction
    return load(name, p.get("data_dir"), **kwargs)


@generator("digits")
def digits(spec: DataSpec) -> Dataset:
    """scikit-learn's 1797 8x8 digits with seeded train/val/test splits (offline)."""
    return _from_spec("digits", spec)


@generator("fashion-mnist")
def fashion_mnist(spec: DataSpec) -> Dataset:
    """Fashion-MNIST from local IDX files, downloaded when absent (notebook 004's data)."""
    return _from_spec("fashion-mnist", spec)


@generator("mnist")
def mnist(spec: DataSpec) -> Dataset:
    """MNIST handwritten digits from local IDX files, downloaded when absent."""
    return _from_spec("mnist", spec)


@generator("fashion-or-digits")
def fashion_or_digits_generator(spec: DataSpec) -> Dataset:
    """The d2l presets' data: Fashion-MNIST when its files are here, else digits; ``params["note"]`` says which."""
    p = dict(spec.params)
    extra = set(p) - {"data_dir", "val_fraction"}
    if extra:
        raise SpecError(f"data.params.{sorted(extra)[0]}", "one of data_dir, val_fraction", sorted(extra)[0])
    ds, note = fashion_or_digits(p.get("data_dir"), seed=spec.seed, val_fraction=p.get("val_fraction", 0.1))
    ds.params = {**ds.params, "note": note}
    return ds
