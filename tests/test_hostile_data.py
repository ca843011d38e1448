"""Hostile data where it enters (issue #20): files that are no files, files too large to read whole, gzip
bombs, labels and values that would train nonsense, generator parameters out of range, splits that leave
nothing. Each is refused with one message naming the field, column or file, before anything is allocated
or trained. (Downloads: tests/test_real_data.py, the loopback-mirror tests.)"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import pytest

import mlplab
from mlplab import build_model, train
from mlplab.data import Dataset, load_csv, make_dataset, read_idx
from mlplab.data import idx, tabular
from mlplab.errors import DataFileError, SpecError

NOT_FINITE = [float("nan"), float("inf"), -float("inf")]


# --------------------------------------------------------------------------- files that are no files


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
@pytest.mark.parametrize("reader", ["csv", "idx"])
def test_a_named_pipe_is_refused_by_name_without_opening_it(tmp_path, reader):
    """Opening a FIFO for reading blocks until a writer comes: the file is refused from its type."""
    fifo = tmp_path / "table.csv"
    os.mkfifo(fifo)
    with pytest.raises(DataFileError, match="not a regular file") as err:
        load_csv(fifo) if reader == "csv" else read_idx(fifo)
    assert err.value.path == fifo


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_a_device_is_refused_by_name(tmp_path):
    """/dev/zero never ends: read whole it would fill memory."""
    with pytest.raises(DataFileError, match="not a regular file"):
        make_dataset("csv", params={"path": "/dev/zero"})
    with pytest.raises(DataFileError, match="not a regular file"):
        read_idx("/dev/zero")


def _big_csv(path: Path, rows: int) -> Path:
    path.write_text("a,b,label\n" + "".join(f"{i % 7},{i % 5},{i % 2}\n" for i in range(rows)))
    return path


def test_a_csv_beyond_the_size_limit_is_refused_unless_only_its_first_rows_are_asked_for(tmp_path, monkeypatch):
    """Asked for 10 rows, the loader reads 10 rows (here: under a 2 kB limit, of a 30 kB file); asked for
    all of a file beyond the limit, it refuses before reading, naming the parameter."""
    monkeypatch.setattr(tabular, "CSV_MAX_BYTES", 2000)
    path = _big_csv(tmp_path / "big.csv", 5000)
    assert path.stat().st_size > 10 * tabular.CSV_MAX_BYTES
    ds = make_dataset("csv", n=10, params={"path": str(path)})
    assert ds.n == 10 and ds.task == "binary" and ds.X[:, 0].tolist() == [i % 7 for i in range(10)]
    with pytest.raises(SpecError, match="at most") as err:
        make_dataset("csv", params={"path": str(path)})
    assert err.value.param == "data.params.path"
    with pytest.raises(SpecError) as err:
        load_csv(path)
    assert err.value.param == "path"
    # 10 rows that lie beyond the limit (one enormous first row) are refused once the limit is read
    (tmp_path / "wide.csv").write_text("a,label\n" + "1" * 5000 + ",0\n")
    with pytest.raises(SpecError, match="at most"):
        load_csv(tmp_path / "wide.csv", limit=10)


@pytest.mark.parametrize("limit", [0, -1, 2.5, True])
def test_a_row_limit_that_is_no_positive_count_is_refused(tmp_path, limit):
    path = _big_csv(tmp_path / "t.csv", 20)
    with pytest.raises(SpecError, match="positive number of rows") as err:
        load_csv(path, limit=limit)
    assert err.value.param == "limit"


# --------------------------------------------------------------------------- IDX: sizes bounded by the header


def test_an_idx_header_declaring_more_than_any_data_set_is_refused_before_inflating(tmp_path):
    """60000 x 40 x 40 bytes (96 MB) is within 32-bit shapes but beyond `IDX_MAX_BYTES` (64 MiB)."""
    header = bytes([0, 0, 0x08, 3]) + struct.pack(">III", 60000, 40, 40)
    path = tmp_path / "big-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(header + bytes(100)))
    with pytest.raises(DataFileError, match="declares shape"):
        read_idx(path)


def test_an_idx_header_declaring_more_than_its_gzip_can_hold_is_refused_before_inflating(tmp_path, monkeypatch):
    """A 1 kB gzip declaring 47 MB (what MNIST's images are) cannot hold them: DEFLATE inflates at most
    ~1032-fold. Refused before a byte of the payload is inflated."""
    header = bytes([0, 0, 0x08, 3]) + struct.pack(">III", 60000, 28, 28)
    path = tmp_path / "short-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(header + bytes(1000)))
    inflated = []
    real_decompressobj = idx.zlib.decompressobj

    class Counting:
        def __init__(self, *a, **k):
            self._d = real_decompressobj(*a, **k)

        def decompress(self, data, max_length=0):
            out = self._d.decompress(data, max_length)
            inflated.append(len(out))
            return out

        def __getattr__(self, name):
            return getattr(self._d, name)

    monkeypatch.setattr(idx.zlib, "decompressobj", Counting)
    with pytest.raises(DataFileError, match="more than its .* gzipped bytes can hold"):
        read_idx(path)
    assert sum(inflated) <= 4 + 4 * idx.IDX_MAX_DIMS


def test_a_plain_idx_file_beyond_the_size_limit_is_refused_before_reading(tmp_path, monkeypatch):
    monkeypatch.setattr(idx, "IDX_MAX_BYTES", 1000)
    path = tmp_path / "plain-idx1-ubyte"
    path.write_bytes(bytes([0, 0, 0x08, 1]) + struct.pack(">I", 5000) + bytes(5000))
    with pytest.raises(DataFileError, match="more than any data set here"):
        read_idx(path)


# --------------------------------------------------------------------------- values that would train nonsense

X4 = np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 1.0], [1.0, 0.0]])


@pytest.mark.parametrize(("task", "labels", "shown"), [
    ("binary", [0, 1, 5, 0], "5 at row 2"),
    ("binary", [0, 1, -1, 1], "-1 at row 2"),
    ("binary", [0.0, 1.0, 0.5, 1.0], "0.5 at row 2"),
    ("binary", [0.0, 1.0, float("nan"), 1.0], "nan at row 2"),
    ("multiclass", [0, 2, -3, 1], "-3 at row 2"),
    ("multiclass", [0, 1, 2, 1e12], "1000000000000.0 at row 3"),
])  # fmt: skip
def test_class_labels_out_of_range_are_refused_when_the_dataset_is_made(task, labels, shown):
    """Before: labels 5 or -1 trained a binary model on nonsense; -3 was an IndexError in the loss."""
    with pytest.raises(SpecError, match="class labels") as err:
        Dataset(X4, labels, task, "mine")
    assert err.value.param == "y" and shown in str(err.value)


def test_labels_beyond_the_given_number_of_classes_are_refused_in_every_split():
    with pytest.raises(SpecError, match=r"class labels 0\.\.2") as err:
        Dataset(X4, [0, 1, 2, 1], "multiclass", "mine", n_classes=3, X_test=X4, y_test=[0, 1, 3, 0])
    assert err.value.param == "y_test"
    with pytest.raises(SpecError, match=r"class labels 0\.\.2") as err:  # the classes the training rows imply
        Dataset(X4, [0, 1, 2, 1], "multiclass", "mine", X_val=X4, y_val=[0, 1, 5, 0])
    assert err.value.param == "y_val"
    with pytest.raises(SpecError) as err:
        Dataset(X4, [0, 1, 2, 1], "multiclass", "mine", n_classes=0)
    assert err.value.param == "n_classes"


@pytest.mark.parametrize("bad", NOT_FINITE + [1e300])
@pytest.mark.parametrize("where", ["X", "y", "X_val", "y_test"])
def test_non_finite_inputs_and_targets_are_refused_as_bad_data_not_trained_to_divergence(bad, where):
    """Before: NaN or inf data trained, and the run was reported as 'diverged'. 1e300 is inf in float32."""
    X, y = X4.copy(), np.arange(4.0)
    arrays = {"X": X, "y": y, "X_val": X.copy(), "y_val": y.copy(), "X_test": X.copy(), "y_test": y.copy()}
    if arrays[where].ndim == 2:
        arrays[where][2, 1] = bad
    else:
        arrays[where][2] = bad
    with pytest.raises(SpecError, match="finite numbers") as err:
        Dataset(task="regression", name="mine", params={"x": ["width", "height"]}, **arrays)
    assert err.value.param == where and "row 2" in str(err.value)
    if where == "X":
        assert "column 1 ('height')" in str(err.value)


def test_a_non_finite_dataset_never_reaches_training():
    """Through the Python API a user trains on their own arrays: refused before a model step is taken."""
    X = X4.copy()
    X[0, 0] = np.nan
    with pytest.raises(SpecError, match="X: expected finite numbers"):
        train(build_model(hidden=[4], out_activation="sigmoid"), Dataset(X, [0, 1, 1, 0], "binary", "mine"),
              loss="bce", epochs=2)


@pytest.mark.parametrize(("param", "value"), [
    ("angle", float("nan")), ("angle", float("inf")), ("angle", 1e300), ("angle", "1e300"),
    ("scale", float("nan")), ("scale", -float("inf")), ("scale", 1e300),
    ("shift", [float("nan"), 0.0]), ("shift", [0.0, 1e300]), ("shift", [float("inf"), 0.0]),
])  # fmt: skip
def test_generator_parameters_out_of_range_are_refused_naming_the_parameter(param, value):
    """Before: NaN/inf/1e300 rotations, scales and shifts made NaN data that trained to 'diverged'."""
    with pytest.raises(SpecError, match="finite number") as err:
        make_dataset("rotation", params={param: value})
    assert err.value.param == f"data.params.{param}"
    with pytest.raises(SpecError) as err:  # the same through a preset run, as the CLI and web page give it
        mlplab.run("rotation-linear", data={"params": {param: value}}, train={"epochs": 1})
    assert err.value.param == f"data.params.{param}"


@pytest.mark.parametrize("sizes", [[1.5, 2, 3], [float("inf"), 1, 1], [1e9, 1, 1], [0, 5, 5], ["a", 1, 1]])
def test_cluster_sizes_must_be_positive_whole_numbers_within_the_point_limit(sizes):
    """Before: 1.5 was truncated silently, inf was an OverflowError, 1e9 allocated gigabytes."""
    with pytest.raises(SpecError, match="positive whole numbers") as err:
        make_dataset("piecewise", params={"sizes": sizes})
    assert err.value.param == "data.params.sizes"


# --------------------------------------------------------------------------- splits that leave nothing


@pytest.mark.parametrize(("name", "n", "fraction"), [("xor", 4, 0.9), ("moons", 2, 0.75), ("sine", 3, 0.9)])
def test_a_test_split_that_leaves_no_training_rows_is_refused(name, n, fraction):
    """Before: the split held out every row, and training divided by zero."""
    with pytest.raises(SpecError, match="leaves training rows") as err:
        make_dataset(name, n=n, test_fraction=fraction)
    assert err.value.param == "data.test_fraction"


def test_a_validation_split_that_leaves_no_training_rows_is_refused():
    data = make_dataset("xor")  # 4 points
    with pytest.raises(SpecError, match="leaves training rows") as err:
        train(build_model(hidden=[4], out_activation="sigmoid"), data, loss="bce", epochs=2, val_fraction=0.9)
    assert err.value.param == "train.val_fraction"
