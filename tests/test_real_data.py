"""mlplab.data.real: IDX files made here, a loopback HTTP server standing in for the mirrors, digits."""

from __future__ import annotations

import functools
from contextlib import contextmanager
import gzip
import hashlib
import re
import socket
import struct
import threading
import urllib.request
import zlib
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from mlplab.data import make_dataset
from mlplab.data import download as dl, idx, real
from mlplab.errors import DataFileError, SpecError

N_TRAIN, N_TEST = 50, 20
CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D, np.float64: 0x0E}


# --------------------------------------------------------------------------- helpers


def idx_bytes(a: np.ndarray, code: int | None = None) -> bytes:
    """Encode an array as IDX by hand (independent of the reader under test)."""
    code = CODES[a.dtype.type] if code is None else code
    header = bytes([0, 0, code, a.ndim]) + b"".join(struct.pack(">I", s) for s in a.shape)
    return header + a.astype(a.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, a: np.ndarray, *, gz: bool = False) -> Path:
    raw = idx_bytes(a)
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


def images(n: int, offset: int = 0, seed: int = 0) -> np.ndarray:
    """n distinct 28x28 uint8 images; pixel (0, 0) holds the row number so rows can be told apart."""
    imgs = np.random.default_rng(seed).integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    imgs[:, 0, 0] = np.arange(offset, offset + n) % 256
    return imgs


def labels(n: int) -> np.ndarray:
    return (np.arange(n) % 10).astype(np.uint8)


def make_set(folder: Path, *, gz: bool = True, n_train: int = N_TRAIN, n_test: int = N_TEST, test_seed: int = 1):
    """Write the four files of a small MNIST-style set; return the arrays written."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": images(n_train),
        "train-labels-idx1-ubyte": labels(n_train),
        "t10k-images-idx3-ubyte": images(n_test, offset=100, seed=test_seed),
        "t10k-labels-idx1-ubyte": labels(n_test),
    }
    for stem, a in arrays.items():
        write_idx(folder / (stem + (".gz" if gz else "")), a, gz=gz)
    return arrays


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep test output clean
        pass


@pytest.fixture
def server(tmp_path, monkeypatch):
    """Serve tmp_path/www on 127.0.0.1; yields (folder, base URL)."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    root = tmp_path / "www"
    root.mkdir()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_port}/"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture(autouse=True)
def no_ambient_config(monkeypatch, tmp_path):
    """No test reads the user's data folder or mirror setting."""
    monkeypatch.delenv(real.ENV_DATA, raising=False)
    monkeypatch.delenv(dl.ENV_URL, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


def forbid_network(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("network used")

    monkeypatch.setattr(urllib.request, "urlopen", fail)
    monkeypatch.setattr(urllib.request.OpenerDirector, "open", fail)


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- read_idx


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_read_idx_round_trips_exactly(tmp_path, gz, dtype):
    a = (np.random.default_rng(3).standard_normal((50, 28, 28)) * 100).astype(dtype)
    got = real.read_idx(write_idx(tmp_path / "x.idx", a, gz=gz))
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative
    assert got.shape == (50, 28, 28)
    np.testing.assert_array_equal(got, a)


def test_read_idx_labels_and_hand_made_header(tmp_path):
    # 3 labels 7, 0, 255 as uint8, 1 dimension: header 00 00 08 01 00 00 00 03.
    path = tmp_path / "labels"
    path.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 0, 255]))
    np.testing.assert_array_equal(real.read_idx(path), np.array([7, 0, 255], dtype=np.uint8))
    # 2x1 big-endian int16: 0x0102 = 258 and 0xFFFE = -2.
    path.write_bytes(bytes([0, 0, 0x0B, 2, 0, 0, 0, 2, 0, 0, 0, 1, 1, 2, 0xFF, 0xFE]))
    np.testing.assert_array_equal(real.read_idx(path), np.array([[258], [-2]], dtype=np.int16))


def test_gzip_is_detected_by_magic_bytes_not_extension(tmp_path):
    a = images(5)
    packed = write_idx(tmp_path / "images-without-extension", a, gz=True)
    plain = write_idx(tmp_path / "misnamed.gz", a, gz=False)
    np.testing.assert_array_equal(real.read_idx(packed), a)
    np.testing.assert_array_equal(real.read_idx(plain), a)


def _good() -> bytes:
    return idx_bytes(images(4))


MALFORMED = {
    "bad magic": (lambda: b"\x12\x34" + _good()[2:], "magic"),
    "wrong dtype code": (lambda: _good()[:2] + b"\x0a" + _good()[3:], "dtype code 0x0A"),
    "zero dimensions": (lambda: _good()[:3] + b"\x00" + _good()[4:], "dimensions"),
    "too short": (lambda: b"\x00\x00", "too short"),
    "truncated header": (lambda: _good()[:9], "truncated header"),
    "truncated payload": (lambda: _good()[:-1], "truncated"),
    "trailing bytes": (lambda: _good() + b"\x00", "trailing"),
    "truncated gzip": (lambda: gzip.compress(_good())[:-12], "gzip"),
}


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_files_raise_data_file_error_naming_the_file(tmp_path, case, gz):
    make, phrase = MALFORMED[case]
    raw = make()
    if gz and raw[:2] != idx.GZIP_MAGIC:
        raw = gzip.compress(raw)
    path = tmp_path / f"broken-{case.replace(' ', '-')}"
    path.write_bytes(raw)
    with pytest.raises(DataFileError) as err:
        real.read_idx(path)
    assert err.value.path == path
    assert str(path) in str(err.value)
    assert phrase in str(err.value)


def test_missing_file_and_folder_raise_data_file_error(tmp_path):
    with pytest.raises(DataFileError, match="not found") as err:
        real.read_idx(tmp_path / "nope.gz")
    assert str(tmp_path / "nope.gz") in str(err.value)
    with pytest.raises(DataFileError, match="folder"):
        real.read_idx(tmp_path)


# --------------------------------------------------------------------------- load from local files


@pytest.mark.parametrize("layout", ["subfolder", "root", "torchvision"])
@pytest.mark.parametrize("gz", [False, True])
def test_load_finds_files_and_builds_the_dataset(tmp_path, monkeypatch, layout, gz):
    forbid_network(monkeypatch)
    folder = {"subfolder": tmp_path / "fashion-mnist", "root": tmp_path, "torchvision": tmp_path / "FashionMNIST/raw"}
    arrays = make_set(folder[layout], gz=gz)
    ds = real.load("fashion-mnist", tmp_path, val_fraction=0.2, normalize=False)
    assert ds.task == "multiclass" and ds.n_classes == 10 and ds.image_shape == (28, 28)
    assert ds.class_names[0] == "T-shirt/top" and ds.class_names[9] == "Ankle boot" and len(ds.class_names) == 10
    assert ds.X.dtype == np.float32 and ds.X.shape == (40, 784) and ds.X_val.shape == (10, 784)
    assert ds.y.dtype == np.int64
    # The test split is the t10k files, untouched and in order.
    np.testing.assert_array_equal(ds.X_test * 255, arrays["t10k-images-idx3-ubyte"].reshape(N_TEST, 784))
    np.testing.assert_array_equal(ds.y_test, arrays["t10k-labels-idx1-ubyte"])
    assert 0 <= ds.X.min() and ds.X.max() <= 1


def test_data_dir_comes_from_argument_then_env_then_xdg_cache(tmp_path, monkeypatch):
    assert real.data_root(tmp_path / "a") == tmp_path / "a"
    monkeypatch.setenv(real.ENV_DATA, str(tmp_path / "env"))
    assert real.data_root() == tmp_path / "env"
    assert real.data_root(tmp_path / "a") == tmp_path / "a"
    monkeypatch.delenv(real.ENV_DATA)
    assert real.data_root() == tmp_path / "xdg-cache" / "mlplab"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert real.data_root() == Path.home() / ".cache" / "mlplab"


def test_env_data_dir_is_used_by_load(tmp_path, monkeypatch):
    forbid_network(monkeypatch)
    make_set(tmp_path / "env" / "mnist")
    monkeypatch.setenv(real.ENV_DATA, str(tmp_path / "env"))
    ds = real.load("mnist")
    assert ds.class_names == [str(d) for d in range(10)] and ds.name == "mnist"


def _row_ids(X: np.ndarray) -> np.ndarray:
    """Recover the row number stored in pixel (0, 0) of unnormalised images."""
    return np.rint(X[:, 0] * 255).astype(int)


def test_validation_split_is_seeded_and_disjoint(tmp_path):
    make_set(tmp_path / "mnist")
    a = real.load("mnist", tmp_path, val_fraction=0.3, seed=5, normalize=False)
    b = real.load("mnist", tmp_path, val_fraction=0.3, seed=5, normalize=False)
    c = real.load("mnist", tmp_path, val_fraction=0.3, seed=6, normalize=False)
    train, val = _row_ids(a.X), _row_ids(a.X_val)
    assert len(val) == 15 and len(train) == 35
    assert set(train).isdisjoint(val) and set(train) | set(val) == set(range(N_TRAIN))
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.X_val, b.X_val)
    assert set(_row_ids(c.X_val)) != set(val)
    # Labels travel with their images (label of row i is i % 10).
    np.testing.assert_array_equal(a.y, train % 10)
    np.testing.assert_array_equal(a.y_val, val % 10)
    # No validation split when asked for none.
    none = real.load("mnist", tmp_path, val_fraction=0.0, normalize=False)
    assert none.X_val is None and none.n == N_TRAIN


def test_subset_n_keeps_that_many_seeded_training_rows(tmp_path):
    make_set(tmp_path / "mnist")
    full = real.load("mnist", tmp_path, val_fraction=0.2, seed=1, normalize=False)
    sub = real.load("mnist", tmp_path, val_fraction=0.2, seed=1, normalize=False, n=7)
    assert sub.n == 7 and set(_row_ids(sub.X)) <= set(_row_ids(full.X))
    np.testing.assert_array_equal(sub.X_val, full.X_val)


def test_normalisation_uses_training_statistics_only(tmp_path):
    arrays = make_set(tmp_path / "mnist")
    raw = real.load("mnist", tmp_path, val_fraction=0.2, seed=2, normalize=False)
    ds = real.load("mnist", tmp_path, val_fraction=0.2, seed=2)
    # Brute force: mean and std of every pixel of the training rows only, in float64.
    ids = _row_ids(raw.X)
    pixels = arrays["train-images-idx3-ubyte"][ids].astype(np.float64) / 255
    assert ds.params["mean"] == pytest.approx(pixels.mean(), rel=1e-6)  # X itself is float32 pixels / 255
    assert ds.params["std"] == pytest.approx(pixels.std(), rel=1e-6)
    pixels32 = (arrays["train-images-idx3-ubyte"][ids].astype(np.float32) / np.float32(255)).astype(np.float64)
    assert ds.params["mean"] == pytest.approx(pixels32.mean(), rel=1e-12)
    assert ds.params["std"] == pytest.approx(pixels32.std(), rel=1e-12)
    all_rows = arrays["train-images-idx3-ubyte"].astype(np.float64) / 255
    assert ds.params["mean"] != pytest.approx(all_rows.mean(), rel=1e-9)  # the validation rows were left out
    assert float(ds.X.mean()) == pytest.approx(0, abs=1e-5) and float(ds.X.std()) == pytest.approx(1, abs=1e-5)
    for split, ref in ((ds.X, raw.X), (ds.X_val, raw.X_val), (ds.X_test, raw.X_test)):
        np.testing.assert_allclose(split, (ref - ds.params["mean"]) / ds.params["std"], rtol=1e-5, atol=1e-5)
    # Different test images change nothing about the training statistics.
    other = tmp_path / "other"
    make_set(other / "mnist", test_seed=99)
    ds2 = real.load("mnist", other, val_fraction=0.2, seed=2)
    assert ds2.params["mean"] == ds.params["mean"] and ds2.params["std"] == ds.params["std"]
    assert not np.array_equal(ds2.X_test, ds.X_test)


def test_training_stats_matches_numpy_on_blocks(monkeypatch):
    monkeypatch.setattr(real, "STATS_BLOCK_VALUES", 30)  # many small blocks
    X = np.random.default_rng(0).random((101, 13)).astype(np.float32)
    mean, std = real.training_stats(X)
    assert mean == pytest.approx(X.astype(np.float64).mean(), rel=1e-12)
    assert std == pytest.approx(X.astype(np.float64).std(), rel=1e-12)
    assert real.training_stats(np.zeros((4, 3), np.float32)) == (0.0, 1.0)


def test_label_image_count_mismatch_names_the_labels_file(tmp_path):
    folder = tmp_path / "mnist"
    make_set(folder)
    write_idx(folder / "train-labels-idx1-ubyte.gz", labels(N_TRAIN - 1), gz=True)
    with pytest.raises(DataFileError, match="49 labels but train-images-idx3-ubyte.gz holds 50 images") as err:
        real.load("mnist", tmp_path, download=False)
    assert err.value.path == folder / "train-labels-idx1-ubyte.gz"


def test_wrong_image_shape_and_label_range_are_data_file_errors(tmp_path):
    folder = tmp_path / "mnist"
    make_set(folder)
    write_idx(folder / "t10k-images-idx3-ubyte.gz", np.zeros((N_TEST, 8, 8), np.uint8), gz=True)
    with pytest.raises(DataFileError, match=r"\(n, 28, 28\)") as err:
        real.load("mnist", tmp_path, download=False)
    assert "t10k-images" in str(err.value)
    make_set(folder)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.full(N_TEST, 10, np.uint8), gz=True)
    with pytest.raises(DataFileError, match="0..9, found 10"):
        real.load("mnist", tmp_path, download=False)


def test_missing_files_without_download_say_where_to_put_them(tmp_path, monkeypatch):
    forbid_network(monkeypatch)
    folder = tmp_path / "fashion-mnist"
    make_set(folder)
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataFileError) as err:
        real.load("fashion-mnist", tmp_path, download=False)
    text = str(err.value)
    assert "t10k-labels-idx1-ubyte.gz" in text and "train-images" not in text.split(";")[0]
    assert str(folder) in text and real.ENV_DATA in text


def test_bad_arguments_are_spec_errors(tmp_path):
    with pytest.raises(SpecError, match="name: expected one of fashion-mnist, mnist, digits"):
        real.load("cifar", tmp_path)
    with pytest.raises(SpecError, match="val_fraction"):
        real.load("digits", val_fraction=1.0)
    with pytest.raises(SpecError, match="test_fraction"):
        real.load("mnist", tmp_path, test_fraction=0.2)
    with pytest.raises(SpecError, match="n: expected a positive"):
        real.load("digits", n=0)
    assert real.load("digits", val_fraction=0.0).name == "digits"


# --------------------------------------------------------------------------- download


def _serve_set(www: Path, monkeypatch, name: str = "fashion-mnist"):
    arrays = make_set(www, gz=True)
    table = {f.name: md5(f) for f in www.glob("*.gz")}
    monkeypatch.setitem(dl.CHECKSUMS, name, table)
    return arrays


def test_download_from_local_server_verifies_and_loads(tmp_path, server, monkeypatch):
    www, url = server
    arrays = _serve_set(www, monkeypatch)
    data = tmp_path / "data"
    ds = real.load("fashion-mnist", data, base_url=url, progress=False, normalize=False, val_fraction=0.0)
    target = data / "fashion-mnist"
    assert sorted(p.name for p in target.iterdir()) == sorted(f + ".gz" for f in real.IDX_FILES.values())
    for f in target.iterdir():
        assert f.read_bytes() == (www / f.name).read_bytes()
    np.testing.assert_array_equal(np.rint(ds.X * 255), arrays["train-images-idx3-ubyte"].reshape(N_TRAIN, 784))
    # Present now: a second load does not touch the network.
    forbid_network(monkeypatch)
    assert real.load("fashion-mnist", data).n == 45


def test_download_uses_env_url_and_shows_progress(tmp_path, server, monkeypatch, capsys):
    www, url = server
    _serve_set(www, monkeypatch, "mnist")
    monkeypatch.setenv(dl.ENV_URL, url)
    paths = real.download("mnist", tmp_path, progress=True)
    assert all(p.parent == tmp_path / "mnist" and p.is_file() for p in paths.values())
    assert "train-images-idx3-ubyte.gz" in capsys.readouterr().err


def test_download_fetches_only_missing_files(tmp_path, server, monkeypatch):
    www, url = server
    _serve_set(www, monkeypatch)
    local = tmp_path / "fashion-mnist"
    make_set(local, gz=False)
    (local / "t10k-labels-idx1-ubyte").unlink()
    paths = real.download("fashion-mnist", tmp_path, base_url=url, progress=False)
    assert paths["test_labels"] == local / "t10k-labels-idx1-ubyte.gz"
    assert paths["train_images"] == local / "train-images-idx3-ubyte"
    assert len(list(local.iterdir())) == 4  # the three present files and the one fetched


def test_checksum_mismatch_deletes_the_download_and_says_so(tmp_path, server, monkeypatch):
    www, url = server
    _serve_set(www, monkeypatch)
    monkeypatch.setitem(dl.CHECKSUMS["fashion-mnist"], "train-images-idx3-ubyte.gz", "0" * 32)
    with pytest.raises(DataFileError, match="checksum mismatch: expected MD5 0{32}.*deleted") as err:
        real.load("fashion-mnist", tmp_path / "data", base_url=url, progress=False)
    assert str(err.value).startswith(url + "train-images-idx3-ubyte.gz")
    target = tmp_path / "data" / "fashion-mnist"
    assert list(target.iterdir()) == []  # no temp file, no unchecked file


def test_checksums_argument_overrides_the_table(tmp_path, server, monkeypatch):
    www, url = server
    make_set(www, gz=True)
    table = {f.name: md5(f) for f in www.glob("*.gz")}
    real.download("mnist", tmp_path, base_url=url, progress=False, checksums=table)
    with pytest.raises(DataFileError, match="checksum mismatch"):  # the official MD5s do not match these files
        real.download("fashion-mnist", tmp_path, base_url=url, progress=False)


@pytest.mark.parametrize("where", ["closed port", "404"])
def test_unreachable_mirror_gives_one_clear_offline_message(tmp_path, server, monkeypatch, where):
    www, url = server
    if where == "closed port":
        url = f"http://127.0.0.1:{closed_port()}/"
    data = tmp_path / "data"
    with pytest.raises(DataFileError) as err:
        real.load("fashion-mnist", data, base_url=url, progress=False, download=True)
    text = str(err.value)
    target = data / "fashion-mnist"
    assert err.value.path == target
    for f in real.IDX_FILES.values():
        assert f + ".gz" in text
    assert "could not download" in text and url in text
    assert f"Put the files (gzipped or not) in {target}/" in text and real.ENV_DATA in text
    assert ("HTTP 404" in text) == (where == "404")
    assert not target.exists() or list(target.iterdir()) == []


def test_official_tables_are_complete():
    for name in ("fashion-mnist", "mnist"):
        assert set(dl.CHECKSUMS[name]) == {f + ".gz" for f in real.IDX_FILES.values()}
        hashes = list(dl.CHECKSUMS[name].values())
        assert all(re.fullmatch(r"[0-9a-f]{32}", h) for h in hashes), hashes  # MD5 hex digests
        assert len(set(hashes)) == len(hashes)  # four different files
        assert dl.MIRRORS[name] and all(u.startswith("http") for u in dl.MIRRORS[name])


# --------------------------------------------------------------------------- digits, registry, fallback


def test_digits_loads_offline_with_seeded_splits(monkeypatch):
    forbid_network(monkeypatch)
    ds = real.load("digits", seed=3)
    assert ds.d_in == 64 and ds.image_shape == (8, 8) and ds.n_classes == 10 and ds.d_out == 10
    assert ds.n + len(ds.X_val) + len(ds.X_test) == 1797
    assert len(ds.X_test) == round(1797 * 0.2) and len(ds.X_val) == round((1797 - 359) * 0.1)
    assert set(np.unique(ds.y)) == set(range(10))
    assert float(ds.X.mean()) == pytest.approx(0, abs=1e-5) and float(ds.X.std()) == pytest.approx(1, abs=1e-5)
    again = real.load("digits", seed=3)
    np.testing.assert_array_equal(ds.X_val, again.X_val)
    np.testing.assert_array_equal(ds.y_test, again.y_test)
    assert not np.array_equal(real.load("digits", seed=4).y_test, ds.y_test)
    raw = real.load("digits", seed=3, normalize=False)
    assert raw.X.min() == 0 and raw.X.max() == 1
    # Splits are disjoint: every image of the 1797 appears exactly once across them.
    from sklearn.datasets import load_digits

    allrows = np.concatenate([raw.X, raw.X_val, raw.X_test]) * 16
    ref = load_digits().data
    key = lambda a: sorted(map(bytes, np.rint(a).astype(np.uint8)))  # noqa: E731
    assert key(allrows) == key(ref)


def test_make_dataset_knows_the_real_sets(tmp_path, monkeypatch):
    forbid_network(monkeypatch)
    ds = make_dataset("digits", seed=1)
    assert ds.name == "digits" and ds.X_test is not None and ds.X_val is not None
    assert len(make_dataset("digits", test_fraction=0.5).X_test) == round(1797 * 0.5)
    make_set(tmp_path / "fashion-mnist")
    fm = make_dataset("fashion-mnist", params={"data_dir": str(tmp_path), "val_fraction": 0.1, "download": False})
    assert fm.n == 45 and fm.class_names[1] == "Trouser"
    with pytest.raises(SpecError, match="data.params.colour"):
        make_dataset("mnist", params={"colour": 1})
    with pytest.raises(SpecError, match="data.noise"):
        make_dataset("digits", noise=0.1)


def test_fashion_or_digits_prefers_local_fashion_and_never_downloads(tmp_path, monkeypatch):
    forbid_network(monkeypatch)
    ds, why = real.fashion_or_digits(tmp_path)
    assert ds.name == "digits" and "digits" in why and str(tmp_path / "fashion-mnist") in why
    make_set(tmp_path / "fashion-mnist")
    ds, why = real.fashion_or_digits(tmp_path)
    assert ds.name == "fashion-mnist" and why == f"Using Fashion-MNIST from {tmp_path / 'fashion-mnist'}."
    (tmp_path / "fashion-mnist" / "train-images-idx3-ubyte.gz").write_bytes(b"\x00\x00\x08\x03garbage")
    ds, why = real.fashion_or_digits(tmp_path)
    assert ds.name == "digits" and "could not be read" in why


# --------------------------------------------------------------------------- hostile files and mirrors (issue 13)


def test_idx_with_zero_images_is_a_data_file_error(tmp_path):
    empty = np.zeros((0, 28, 28), np.uint8)
    np.testing.assert_array_equal(real.read_idx(write_idx(tmp_path / "e.idx", empty, gz=True)), empty)
    folder = tmp_path / "mnist"
    make_set(folder)
    write_idx(folder / "train-images-idx3-ubyte.gz", empty, gz=True)
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.zeros(0, np.uint8), gz=True)
    with pytest.raises(DataFileError, match="holds 0 images") as err:
        real.load("mnist", tmp_path, download=False)
    assert err.value.path == folder / "train-images-idx3-ubyte.gz"


class _CountingInflater:
    """Wraps zlib's decompressobj and adds up every byte it hands out."""

    total = 0
    make = staticmethod(zlib.decompressobj)  # the real one, kept before the test patches the module

    def __init__(self, *args, **kwargs):
        self._d = self.make(*args, **kwargs)

    def decompress(self, data, max_length=0):
        out = self._d.decompress(data, max_length)
        _CountingInflater.total += len(out)
        return out

    def __getattr__(self, name):
        return getattr(self._d, name)


def test_gzip_bomb_stops_at_the_size_the_header_declares(tmp_path, monkeypatch):
    """A header for 2 images followed by 64 MB of zeros: refused after inflating 2 images and a byte."""
    header = bytes([0, 0, 0x08, 3]) + struct.pack(">III", 2, 28, 28)
    stream = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # a gzip stream, built without a 64 MB buffer
    block = bytes(1 << 20)
    packed = stream.compress(header) + b"".join(stream.compress(block) for _ in range(64)) + stream.flush()
    path = tmp_path / "bomb.gz"
    path.write_bytes(packed)
    assert len(packed) < 1 << 20  # a small file ...
    monkeypatch.setattr(idx.zlib, "decompressobj", _CountingInflater)
    _CountingInflater.total = 0
    with pytest.raises(DataFileError, match="inflates beyond the 1584 bytes its IDX header declares") as err:
        real.read_idx(path)
    assert err.value.path == path
    assert _CountingInflater.total <= 1584 + 1  # ... never inflated past its declared size


def test_header_declaring_gigabytes_is_refused_before_inflating(tmp_path, monkeypatch):
    header = bytes([0, 0, 0x08, 3]) + struct.pack(">III", 100_000_000, 28, 28)  # 78 GB
    path = tmp_path / "huge.gz"
    path.write_bytes(gzip.compress(header + bytes(1000)))
    monkeypatch.setattr(idx.zlib, "decompressobj", _CountingInflater)
    _CountingInflater.total = 0
    with pytest.raises(DataFileError, match="declares shape \\(100000000, 28, 28\\)"):
        real.read_idx(path)
    assert _CountingInflater.total <= 4 + 4 * idx.IDX_MAX_DIMS


@pytest.mark.parametrize("url", ["not a url", "htp://example.org/", "http://", "ftp://example.org/mnist/",
                                 "http://[::1/", "//example.org/mnist/", "mirror.example.org/mnist"])
@pytest.mark.parametrize("via", ["env", "argument"])
def test_malformed_mirror_url_is_a_spec_error_naming_its_source(tmp_path, monkeypatch, url, via):
    forbid_network(monkeypatch)
    if via == "env":
        monkeypatch.setenv(dl.ENV_URL, url)
        kwargs = {}
    else:
        kwargs = {"base_url": url}
    with pytest.raises(SpecError) as err:
        real.load("mnist", tmp_path, progress=False, **kwargs)
    assert err.value.param == (dl.ENV_URL if via == "env" else "base_url")
    assert repr(url) in str(err.value)


def _trickle_body(h, stop, sent):
    """A mirror that answers at once, then sends one byte per 20 ms of a 'file' that never ends (no length
    announced: an announced length beyond any data file is refused at once)."""
    h.send_response(200)
    h.end_headers()
    sent[0] += 1
    while not stop.wait(0.02):
        h.wfile.write(b"\x00")
        h.wfile.flush()


def _trickle_headers(h, stop, sent):
    """A status line, then one header byte per 20 ms forever: each read is far inside the per-read timeout."""
    h.wfile.write(b"HTTP/1.0 200 OK\r\nX-Slow: ")
    sent[0] += 1
    while not stop.wait(0.02):
        h.wfile.write(b"a")
        h.wfile.flush()


def _refused_at_the_deadline(monkeypatch, url, sent, target):
    """Load from a trickling mirror under a short overall deadline; the error. The per-read timeout (30 s)
    never fires here. The deadline is 0.5 s, or longer where a busy machine did not reach the loopback
    mirror within it: what is tested is a deadline passing while the mirror trickles, not a speed."""
    for deadline in (0.5, 2.0, 8.0, 30.0):
        sent[0] = 0
        monkeypatch.setattr(dl, "DOWNLOAD_DEADLINE_S", deadline)
        with pytest.raises(DataFileError, match="deadline passed") as err:
            real.load("fashion-mnist", target, base_url=url, progress=False)
        if sent[0]:
            return err.value
    pytest.fail("the loopback mirror was never reached")


@pytest.mark.timeout(300)  # ends within about a second once the deadline is kept; without it, hours
@pytest.mark.parametrize("trickle", [_trickle_body, _trickle_headers])
def test_a_trickling_mirror_meets_the_overall_deadline(tmp_path, loopback, monkeypatch, trickle):
    """Body or headers a byte per 20 ms: no read waits near the per-read timeout, and without the overall
    deadline urlopen (headers) or the body would not end for hours; the deadline shuts the connection."""
    target = tmp_path / "data"
    with loopback(trickle) as (url, sent):
        err = _refused_at_the_deadline(monkeypatch, url, sent, target)
    assert url in str(err)
    assert not any(target.rglob("*.part"))  # the partial download is gone


@contextmanager
def mirror(handler_body):
    """A loopback mirror whose GET runs ``handler_body(handler, stop)``; yields (base URL, bytes sent list)."""
    stop, sent = threading.Event(), [0]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            try:
                handler_body(self, stop, sent)
            except OSError:  # the client hung up
                pass

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}/", sent
    finally:
        stop.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.fixture
def loopback(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    return mirror


def _endless(h, stop, sent):
    """A body of zeros, as fast as the socket takes them, with no length announced."""
    h.send_response(200)
    h.end_headers()
    block = bytes(1 << 16)
    while not stop.is_set():
        h.wfile.write(block)
        sent[0] += len(block)


def _announces_a_gigabyte(h, stop, sent):
    h.send_response(200)
    h.send_header("Content-Length", str(1 << 30))
    h.end_headers()
    block = bytes(1 << 16)
    while not stop.is_set():
        h.wfile.write(block)
        sent[0] += len(block)


@pytest.mark.parametrize("body", [_endless, _announces_a_gigabyte])
def test_an_endless_or_oversized_download_stops_at_the_size_limit(tmp_path, loopback, monkeypatch, body):
    """The size is checked while streaming, not by the checksum at the end: an endless body is cut off
    at `DOWNLOAD_MAX_BYTES` (1 MiB here), an announced gigabyte refused before its body is read, and
    nothing is kept."""
    monkeypatch.setattr(dl, "DOWNLOAD_MAX_BYTES", 1 << 20)
    monkeypatch.setattr(dl, "DOWNLOAD_DEADLINE_S", 300.0)  # never the reason here
    with loopback(body) as (url, sent):
        with pytest.raises(DataFileError, match="no data file here is larger than 1048576 bytes") as err:
            real.load("fashion-mnist", tmp_path, base_url=url, progress=False)
    assert ("announces 1073741824 bytes" in str(err.value)) == (body is _announces_a_gigabyte)
    assert not any(tmp_path.rglob("*.part")) and not any(tmp_path.rglob("*.gz"))
    # the server stopped soon after: what the socket buffers held, not gigabytes
    assert sent[0] < 64 << 20
