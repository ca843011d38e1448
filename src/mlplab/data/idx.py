"""IDX files (the MNIST family's format) read without torchvision: plain or gzipped, every header checked,
inflation capped at the size the header declares."""

from __future__ import annotations

import math
import os
import stat
import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataFileError

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
# The largest official file inflates to 47 MB (60000 images of 28 x 28); a header declaring more than
# this is refused before anything is inflated (a small gzip can claim, and inflate to, many gigabytes),
# and so is a plain file larger than this.
IDX_MAX_BYTES = 64 << 20
# DEFLATE inflates at most ~1032-fold: a gzip that declares more than this times its size is damaged.
DEFLATE_MAX_RATIO = 1032


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
        out = bytearray(inflater.decompress(raw, 4 + 4 * IDX_MAX_DIMS))  # enough for any header
        header = _declared_size(out, path)
        if header is None:  # too short or not IDX: parse_idx names the problem from the first bytes
            return bytes(out + inflater.decompress(inflater.unconsumed_tail, 1 << 16))
        if header > DEFLATE_MAX_RATIO * len(raw) + len(out):
            raise DataFileError(path, f"its IDX header declares {header} bytes, more than its {len(raw)} gzipped "
                                "bytes can hold", hint="the file is truncated or damaged; download it again")
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
    return bytes(out)


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
    """The file's bytes: a regular file of at most `IDX_MAX_BYTES` (a FIFO would block, /dev/zero never ends)."""
    try:
        st = path.stat()
        if stat.S_ISDIR(st.st_mode):
            raise DataFileError(path, "is a folder, expected an IDX file")
        if not stat.S_ISREG(st.st_mode):
            raise DataFileError(path, "is not a regular file (a pipe, device or socket), expected an IDX file")
        if st.st_size > IDX_MAX_BYTES:
            raise DataFileError(path, f"{st.st_size} bytes, more than any data set here ({IDX_MAX_BYTES} bytes)",
                                hint="expected an MNIST-style file such as train-images-idx3-ubyte(.gz)")
        with open(path, "rb") as f:
            return f.read(IDX_MAX_BYTES + 1)
    except FileNotFoundError:
        raise DataFileError(path, "file not found") from None
    except IsADirectoryError:
        raise DataFileError(path, "is a folder, expected an IDX file") from None
    except OSError as exc:
        raise DataFileError(path, f"cannot be read ({exc.strerror or exc})") from None
