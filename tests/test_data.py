"""Tests for mlplab.data: the notebooks' data bit for bit, the Playground's rules, the CSV loader's errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.datasets import make_moons

from mlplab.data import GENERATORS, load_csv, make_dataset
from mlplab.data.synthetic import reg_gauss_target
from mlplab.errors import DataFileError, SpecError

DEFAULT_SIZES = {
    "rotation": 100, "piecewise": 300, "practice": 500, "moons": 100, "sine": 15, "xor": 4,
    "circle": 500, "tf-xor": 500, "gauss": 500, "spiral": 500, "reg-plane": 1200, "reg-gauss": 1200,
    "sines": 64,
}  # fmt: skip
DEFAULT_TASKS = {
    "rotation": ("regression", 2, 2), "piecewise": ("regression", 2, 2), "practice": ("regression", 2, 2),
    "moons": ("binary", 2, 1), "sine": ("regression", 1, 1), "xor": ("binary", 2, 1),
    "circle": ("binary", 2, 1), "tf-xor": ("binary", 2, 1), "gauss": ("binary", 2, 1),
    "spiral": ("binary", 2, 1), "reg-plane": ("regression", 2, 1), "reg-gauss": ("regression", 2, 1),
    "sines": ("regression", 1, 1),
}  # fmt: skip
SYNTHETIC = sorted(DEFAULT_SIZES)


# ---------------------------------------------------------------------------------------------
# the notebooks' cells, run with the global RNG as the notebooks run them


def _notebook_rotation(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        X = torch.randn(100, 2) * 5
        theta = torch.tensor(30.0 * torch.pi / 180.0)
        rotation_matrix = torch.tensor([[torch.cos(theta), -torch.sin(theta)], [torch.sin(theta), torch.cos(theta)]])
        y = X @ rotation_matrix + torch.tensor([5, 5]) + 0.01 * torch.randn(100, 2)
    return X, y


def _notebook_piecewise(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        X1 = torch.randn(100, 2) + torch.tensor([3, -3])
        y1 = 3 * X1 + 0.01 * torch.randn(100, 2)
        X2 = torch.randn(100, 2)
        theta = torch.tensor(150.0 * torch.pi / 180.0)
        rotation_matrix2 = torch.tensor([[torch.cos(theta), -torch.sin(theta)], [torch.sin(theta), torch.cos(theta)]])
        y2 = (X2 @ rotation_matrix2) + torch.tensor([-3, 3]) + 0.01 * torch.randn(100, 2)
        X3 = torch.randn(100, 2) + torch.tensor([3, 3])
        y3 = -5 * X3 - 0.01 * torch.randn(100, 2)
    return torch.cat((X1, X2, X3), dim=0), torch.cat((y1, y2, y3), dim=0)


def _notebook_practice(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        x1 = torch.linspace(-1, 1, 500)
        x2 = torch.linspace(1, -1, 500)
        X = torch.stack([x1, x2], dim=1)
        X += 0.1 * torch.randn(500, 2)
        y = 2 * X + X**2 + 0.5
    return X, y


def _notebook_sine() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    state = np.random.get_state()
    try:
        se = 0.1
        np.random.seed(0)
        x = np.linspace(0, 1, num=20)
        x_test = np.linspace(-0.05, 1.05, num=200)
        x = np.delete(x, slice(9, 14))
        y = x * np.sin(10 * x) + se * np.random.randn(len(x))
    finally:
        np.random.set_state(state)
    return x.astype("float32")[:, None], y.astype("float32")[:, None], x_test.astype("float32")[:, None]


@pytest.mark.parametrize("seed", [0, 20])
def test_rotation_equals_notebook_cell(seed):
    X, y = _notebook_rotation(seed)
    ds = make_dataset("rotation", seed=seed)
    assert np.array_equal(ds.X, X.numpy()) and np.array_equal(ds.y, y.numpy())
    assert ds.X.dtype == np.float32 and ds.task == "regression"


def test_rotation_is_the_stated_map():
    ds = make_dataset("rotation", noise=0.0, params={"angle": 90.0, "shift": [1.0, -1.0]})
    # [x, y] @ [[0, -1], [1, 0]] = [y, -x]
    expected = np.stack([ds.X[:, 1], -ds.X[:, 0]], axis=1) + np.array([1.0, -1.0])
    np.testing.assert_allclose(ds.y, expected, atol=1e-5)
    with pytest.raises(SpecError, match=r"data.params.angle: expected a finite number.*, got 'left'"):
        make_dataset("rotation", params={"angle": "left"})
    with pytest.raises(SpecError, match=r"data.params.shift: expected a list of 2 finite numbers.*, got \[1\]"):
        make_dataset("rotation", params={"shift": [1]})


@pytest.mark.parametrize("seed", [0, 20])
def test_piecewise_equals_notebook_cell(seed):
    X, y = _notebook_piecewise(seed)
    ds = make_dataset("piecewise", seed=seed)
    assert np.array_equal(ds.X, X.numpy()) and np.array_equal(ds.y, y.numpy())
    assert ds.params["sizes"] == [100, 100, 100]


def test_piecewise_sizes():
    assert make_dataset("piecewise", n=10).params["sizes"] == [4, 3, 3]
    ds = make_dataset("piecewise", params={"sizes": [5, 6, 7]}, noise=0.0)
    assert ds.n == 18
    np.testing.assert_allclose(ds.y[:5], 3 * ds.X[:5], rtol=1e-6)
    np.testing.assert_allclose(ds.y[11:], -5 * ds.X[11:], rtol=1e-6)
    with pytest.raises(SpecError, match=r"data.params.sizes: expected 3 positive whole numbers"):
        make_dataset("piecewise", params={"sizes": [5, 0, 7]})
    with pytest.raises(SpecError, match=r"data.n: expected None or the sum of data.params.sizes \(18\), got 10"):
        make_dataset("piecewise", n=10, params={"sizes": [5, 6, 7]})


def test_practice_equals_notebook_cell():
    X, y = _notebook_practice(0)
    ds = make_dataset("practice")
    assert np.array_equal(ds.X, X.numpy()) and np.array_equal(ds.y, y.numpy())


def test_moons_equals_notebook():
    X, y = make_moons(noise=0.25, n_samples=100, random_state=0)
    ds = make_dataset("moons")
    assert np.array_equal(ds.X, X.astype(np.float32)) and np.array_equal(ds.y, y)
    assert ds.task == "binary" and ds.n_classes == 2 and ds.y.dtype == np.int64


def test_moons_noise_zero_means_zero():
    ds = make_dataset("moons", noise=0.0, n=50)
    X, _ = make_moons(n_samples=50, noise=0.0, random_state=0)
    assert np.array_equal(ds.X, X.astype(np.float32)) and ds.params["noise"] == 0.0


def test_sine_equals_notebook_cell():
    x, y, grid = _notebook_sine()
    ds = make_dataset("sine")
    assert np.array_equal(ds.X, x) and np.array_equal(ds.y, y) and np.array_equal(ds.grid, grid)
    assert ds.X.shape == (15, 1) and ds.grid.shape == (200, 1)


def test_sine_noise_and_gap():
    clean = make_dataset("sine", noise=0.0)
    np.testing.assert_allclose(clean.y[:, 0], clean.X[:, 0] * np.sin(10 * clean.X[:, 0]), atol=1e-6)
    assert not np.any((clean.X > 0.45) & (clean.X < 0.7))
    assert make_dataset("sine", params={"gap": False}).n == 20
    assert make_dataset("sine", n=39).n == 39 - 9  # grid step 1/38: 18/38..26/38 fall in the gap


def test_xor_four_points():
    ds = make_dataset("xor")
    assert ds.X.tolist() == [[0, 0], [1, 1], [0, 1], [1, 0]] and ds.y.tolist() == [0, 0, 1, 1]


def test_xor_noisy_copies():
    ds = make_dataset("xor", n=400)
    assert ds.params["noise"] == 0.1 and np.bincount(ds.y).tolist() == [200, 200]
    corner = np.round(ds.X).clip(0, 1)
    assert (corner[:, 0] != corner[:, 1]).astype(int).tolist() == ds.y.tolist()  # noise 0.1 rarely crosses 0.5
    assert 0.08 < np.std(ds.X - np.array([[0, 0], [1, 1], [0, 1], [1, 0]] * 100)) < 0.12
    with pytest.raises(SpecError, match="data.n: expected at least 4 points for 'xor', got 3"):
        make_dataset("xor", n=3)


# ---------------------------------------------------------------------------------------------
# TensorFlow Playground


def test_circle_rules():
    ds = make_dataset("circle")
    r = np.hypot(ds.X[:, 0], ds.X[:, 1])
    assert ds.X.shape == (500, 2) and np.bincount(ds.y).tolist() == [250, 250]
    assert np.all(r[ds.y == 1] < 2.5) and np.all((r[ds.y == 0] >= 3.5 - 1e-6) & (r[ds.y == 0] <= 5 + 1e-6))
    noisy = make_dataset("circle", noise=0.5)
    assert np.array_equal(noisy.X, ds.X)  # noise moves the labels' test point, not the point
    assert 0 < np.sum(noisy.y != ds.y) < 250


def test_tf_xor_rules():
    ds = make_dataset("tf-xor")
    assert ds.X.shape == (500, 2)
    assert np.all(np.abs(ds.X) >= 0.3 - 1e-6) and np.all(np.abs(ds.X) <= 5.3 + 1e-6)
    assert np.array_equal(ds.y, (ds.X[:, 0] * ds.X[:, 1] >= 0).astype(np.int64))
    assert 200 < ds.y.sum() < 300
    quadrant = (ds.X[:, 0] > 0) * 2 + (ds.X[:, 1] > 0)
    assert np.bincount(quadrant).min() > 90
    assert np.sum(make_dataset("tf-xor", noise=0.3).y != ds.y) > 0


def test_gauss_rules():
    ds = make_dataset("gauss", n=4000)
    pos, neg = ds.X[ds.y == 1], ds.X[ds.y == 0]
    assert len(pos) == len(neg) == 2000
    np.testing.assert_allclose(pos.mean(0), [2, 2], atol=0.1)
    np.testing.assert_allclose(neg.mean(0), [-2, -2], atol=0.1)
    np.testing.assert_allclose(pos.var(0), [0.5, 0.5], rtol=0.1)
    wide = make_dataset("gauss", n=4000, noise=0.5)
    assert wide.params["variance"] == 4.0
    np.testing.assert_allclose(wide.X[wide.y == 0].var(0), [4, 4], rtol=0.1)


def test_spiral_rules():
    ds = make_dataset("spiral")
    pos, neg = ds.X[ds.y == 1], ds.X[ds.y == 0]
    assert len(pos) == len(neg) == 250
    i = np.arange(250)
    np.testing.assert_allclose(np.hypot(pos[:, 0], pos[:, 1]), 5 * i / 250, atol=1e-5)
    np.testing.assert_allclose(neg, -pos, atol=1e-5)  # the second arm is the first turned by pi
    t = 1.75 * 2 * math.pi * 100 / 250
    np.testing.assert_allclose(pos[100], [2 * math.sin(t), 2 * math.cos(t)], atol=1e-5)
    jitter = make_dataset("spiral", noise=0.5).X - ds.X
    assert np.abs(jitter).max() <= 0.5 and np.abs(jitter).max() > 0.4


def test_reg_plane_rules():
    ds = make_dataset("reg-plane")
    assert ds.X.shape == (1200, 2) and ds.y.shape == (1200, 1)
    assert np.all(np.abs(ds.X) <= 6)
    np.testing.assert_allclose(ds.y[:, 0], (ds.X[:, 0] + ds.X[:, 1]) / 10, atol=1e-6)
    noisy = make_dataset("reg-plane", noise=0.2)
    assert np.array_equal(noisy.X, ds.X) and not np.allclose(noisy.y, ds.y)


def test_reg_gauss_target_by_hand():
    points = np.array([[-4, 2.5], [0, 2.5], [-4, 1.5], [1, 2.5], [2, 0], [0, -2.5], [4, -3.5]], dtype=float)
    # centre +1, centre -1, 1 from a + centre, 1 from a - centre, out of reach, centre +1, 1 from a - centre
    assert reg_gauss_target(points).tolist() == [1.0, -1.0, 0.5, -0.5, 0.0, 1.0, -0.5]
    ds = make_dataset("reg-gauss")
    np.testing.assert_allclose(ds.y[:, 0], reg_gauss_target(ds.X.astype(float)), atol=1e-6)
    assert ds.y.min() < -0.9 and ds.y.max() > 0.9


def test_sines_by_hand_and_its_frequencies_checked():
    ds = make_dataset("sines", n=16, params={"freqs": [1, 3], "amps": [2, 0.5]})
    x = np.arange(16) / 16
    np.testing.assert_allclose(ds.X[:, 0], x)
    np.testing.assert_allclose(ds.y[:, 0], 2 * np.sin(2 * np.pi * x) + 0.5 * np.sin(6 * np.pi * x), atol=1e-6)
    np.testing.assert_allclose(ds.grid[:, 0], np.arange(64) / 64)  # one period, four times denser
    with pytest.raises(SpecError, match=r"data.params.freqs: expected frequencies above 0 and below n/2 = 8"):
        make_dataset("sines", n=16, params={"freqs": [1, 8]})
    with pytest.raises(SpecError, match="data.params.amps"):
        make_dataset("sines", params={"freqs": [1, 2], "amps": [1]})
    with pytest.raises(SpecError, match="data.params.freqs"):
        make_dataset("sines", params={"freqs": "low"})


def test_playground_noise_is_a_fraction():
    message = r"data.noise: expected a fraction between 0 and 0.5 .* got 25.0\. .*noise=0.25"
    with pytest.raises(SpecError, match=message):
        make_dataset("circle", noise=25)


# ---------------------------------------------------------------------------------------------
# every generator


def test_every_generator_is_tested():
    modules = ("mlplab.data.synthetic", "mlplab.data.tabular")
    ours = {name for name, fn in GENERATORS.items() if fn.__module__ in modules}
    assert ours == set(SYNTHETIC) | {"csv"}


@pytest.mark.parametrize("name", SYNTHETIC)
def test_defaults(name):
    ds = make_dataset(name)
    task, d_in, d_out = DEFAULT_TASKS[name]
    assert (ds.n, ds.task, ds.d_in, ds.d_out, ds.name) == (DEFAULT_SIZES[name], task, d_in, d_out, name)
    assert ds.X.dtype == np.float32 and np.all(np.isfinite(ds.X))
    assert ds.y.dtype == (np.float32 if task == "regression" else np.int64)
    assert {"n", "noise", "seed"} <= set(ds.params) and ds.params["seed"] == 0
    if task == "binary":
        assert set(np.unique(ds.y)) == {0, 1} and ds.n_classes == 2


@pytest.mark.parametrize("name", SYNTHETIC)
def test_same_seed_same_arrays_other_seed_other_arrays(name):
    n = 8 if name == "xor" else None
    a, b = make_dataset(name, n=n, noise=0.1, seed=3), make_dataset(name, n=n, noise=0.1, seed=3)
    c = make_dataset(name, n=n, noise=0.1, seed=4)
    assert np.array_equal(a.X, b.X) and np.array_equal(a.y, b.y)
    assert not (np.array_equal(a.X, c.X) and np.array_equal(a.y, c.y))


@pytest.mark.parametrize("name", SYNTHETIC)
def test_unknown_param_is_named(name):
    with pytest.raises(SpecError, match=rf"data.params.bogus: expected a parameter of '{name}'"):
        make_dataset(name, params={"bogus": 1})


def test_generators_leave_global_rngs_alone():
    np_state = np.random.get_state()
    with torch.random.fork_rng():
        try:
            torch.manual_seed(123)
            np.random.seed(123)
            expected_t, expected_n = torch.rand(3), np.random.rand(3)
            torch.manual_seed(123)
            np.random.seed(123)
            for name in SYNTHETIC:
                make_dataset(name)
            assert torch.equal(torch.rand(3), expected_t) and np.array_equal(np.random.rand(3), expected_n)
        finally:
            np.random.set_state(np_state)


def test_moons_seeded_split():
    ds = make_dataset("moons", test_fraction=0.3)
    assert (ds.n, len(ds.X_test)) == (70, 30)
    again, other = make_dataset("moons", test_fraction=0.3), make_dataset("moons", test_fraction=0.3, seed=1)
    assert np.array_equal(ds.X_test, again.X_test) and not np.array_equal(ds.X_test, other.X_test)
    full = make_dataset("moons")
    rows = {tuple(r) for r in full.X.tolist()}
    assert {tuple(r) for r in ds.X.tolist()} | {tuple(r) for r in ds.X_test.tolist()} == rows


# ---------------------------------------------------------------------------------------------
# CSV


def _write(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_regression(tmp_path):
    path = _write(tmp_path, "a,b,t1,t2\n1,2,0.5,1\n3,4,1.5,2\n\n5,6,2.5,3\n")
    ds = load_csv(path, x=["a", "b"], y=["t1", "t2"])
    assert ds.task == "regression" and ds.X.tolist() == [[1, 2], [3, 4], [5, 6]]
    assert ds.y.tolist() == [[0.5, 1], [1.5, 2], [2.5, 3]] and ds.name == "data"
    assert ds.params == {"path": str(path), "x": ["a", "b"], "y": ["t1", "t2"], "task": "regression", "rows": 3}


def test_csv_defaults_and_inferred_task(tmp_path):
    path = _write(tmp_path, "a, b ,label\n1,2,0\n3,4,2\n5,6,1\n")
    ds = load_csv(path)  # y: the last column; x: the others
    assert ds.params["x"] == ["a", "b"] and ds.task == "multiclass" and ds.n_classes == 3 and ds.y.tolist() == [0, 2, 1]
    binary = load_csv(_write(tmp_path, "a,y\n1,-1\n2,1\n3,1\n", "b.csv"), y="y")
    assert binary.task == "binary" and binary.y.tolist() == [0, 1, 1] and binary.class_names == ["-1", "1"]
    many = load_csv(_write(tmp_path, "a,y\n" + "".join(f"{i},{i}\n" for i in range(21)), "m.csv"), y="y")
    assert many.task == "regression"  # 21 distinct whole numbers: more than 20, a number to fit
    real = load_csv(_write(tmp_path, "a,y\n1,0.5\n2,1\n", "r.csv"))
    assert real.task == "regression"


def test_csv_string_labels(tmp_path):
    path = _write(tmp_path, "x1,x2,species\n1,2,setosa\n3,4,virginica\n5,6,setosa\n7,8,versicolor\n")
    ds = load_csv(path, x=["x1", "x2"], y="species")
    assert ds.task == "multiclass" and ds.class_names == ["setosa", "versicolor", "virginica"]
    assert ds.y.tolist() == [0, 2, 0, 1] and ds.d_out == 3
    message = r"task: expected 'multiclass' for column 'species', which has 3 classes, got 'binary'"
    with pytest.raises(SpecError, match=message):
        load_csv(path, y="species", task="binary")
    message = r"line 2, column 'species': 'setosa' is not a number\. for class labels give task="
    with pytest.raises(DataFileError, match=message):
        load_csv(path, y="species", task="regression")


def test_csv_task_checks(tmp_path):
    path = _write(tmp_path, "a,y\n1,0.5\n2,1\n")
    message = r"task: expected 'regression' for column 'y' \(line 2 holds 0.5, not a class number\), got 'binary'"
    with pytest.raises(SpecError, match=message):
        load_csv(path, task="binary")
    message = r"task: expected one of regression, binary, multiclass or None \(infer it\), got 'classes'"
    with pytest.raises(SpecError, match=message):
        load_csv(path, task="classes")
    with pytest.raises(SpecError, match=r"y: expected one target column for task='multiclass'"):
        load_csv(_write(tmp_path, "a,b,c\n1,2,3\n", "two.csv"), x="a", y=["b", "c"], task="multiclass")


@pytest.mark.parametrize(
    "text, message",
    [
        ("", r"the file is empty\. expected a header line"),
        ("\n  \n", r"the file is empty"),
        ("a,b,y\n", r"has a header \(a, b, y\) but no data rows"),
        ("a,b,y\n\n", r"has a header \(a, b, y\) but no data rows"),
        ("a,b,y\n1,2,3\n4,abc,6\n", r"line 3, column 'b': 'abc' is not a number"),
        ("a,b,y\n1,,3\n", r"line 2, column 'b': empty cell\. fill in or drop rows with missing values"),
        ("a,b,y\n1,2,3\n1,nan,3\n", r"line 3, column 'b': NaN \(a missing value\)"),
        ("a,b,y\n1,inf,3\n", r"line 2, column 'b': 'inf' is not finite"),
        ("a,b,y\n1,2,3\n1,2\n", r"line 3 has 2 fields, the header has 3"),
        ("a,,y\n1,2,3\n", r"line 1: column 2 of the header has no name"),
        ("a,a,y\n1,2,3\n", r"line 1: the header names column 'a' twice"),
        ("a,b,y\n1,2,\n", r"line 2, column 'y': empty cell"),
        # found by trying the loader as a user would (issue 13)
        ("a,b,y\n1,2,0.5\n1e300,3,1.5\n", r"line 3, column 'a': 1e300 is too large for float32"),
        ("a,b,y\n1,2,0.5\n3,-4e39,1.5\n", r"line 3, column 'b': -4e39 is too large for float32"),
        ("a,y\n1,0.5\n2,1e300\n", r"line 3, column 'y': 1e300 is too large for float32"),
        ("a,b,y\n1_000,2,0.5\n", r"line 2, column 'a': '1_000' is not a number"),
        ("a,b,y\n1,2,0.5\n3,4,1_5.0\n", r"line 3, column 'y': '1_5.0' is not a number"),
        ("a,y\n1,1\n2,1\n3,1\n", r"column 'y' holds one class \(1\) on all 3 rows; a classification needs at least two"),
        ("a,y\n1,cat\n2,cat\n", r"column 'y' holds one class \(cat\) on all 2 rows"),
    ],
)
def test_csv_file_errors(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(DataFileError, match=message) as info:
        load_csv(path)
    assert str(info.value).startswith(str(path))


def test_csv_missing_file_and_folder(tmp_path):
    with pytest.raises(DataFileError, match=r"nope\.csv: no such file\. check the path"):
        load_csv(tmp_path / "nope.csv")
    with pytest.raises(DataFileError, match=r"is a folder, not a CSV file"):
        load_csv(tmp_path)
    bad = tmp_path / "latin1.csv"
    bad.write_bytes(b"a,y\n\xe9,1\n")
    with pytest.raises(DataFileError, match=r"is not UTF-8 text"):
        load_csv(bad)


def test_csv_column_errors(tmp_path):
    path = _write(tmp_path, "a,b,y\n1,2,3\n")
    message = r"^x: expected columns of data.csv \(it has: a, b, y\), got 'z'\. no column named 'z'"
    with pytest.raises(SpecError, match=message):
        load_csv(path, x=["a", "z"], y="y")
    with pytest.raises(SpecError, match=r"^y: expected columns of data.csv \(it has: a, b, y\), got 'target'"):
        load_csv(path, y="target")
    with pytest.raises(SpecError, match=r"^x: expected columns that are not targets too .* remove 'y' from x"):
        load_csv(path, x=["a", "y"], y="y")
    with pytest.raises(SpecError, match=r"^x: expected a column name or a list of column names, got \[\]"):
        load_csv(path, x=[], y="y")


def test_csv_generator(tmp_path):
    path = _write(tmp_path, "u,v,c\n" + "".join(f"{i},{-i},{'odd' if i % 2 else 'even'}\n" for i in range(10)))
    ds = make_dataset("csv", params={"path": str(path), "x": ["u", "v"], "y": "c"}, test_fraction=0.2)
    assert (ds.n, len(ds.X_test), ds.task, ds.class_names) == (8, 2, "binary", ["even", "odd"])
    first = make_dataset("csv", n=4, params={"path": str(path), "y": "c"})
    assert first.X[:, 0].tolist() == [0, 1, 2, 3] and first.y.tolist() == [0, 1, 0, 1]
    with pytest.raises(SpecError, match=r"data.params.y: expected columns of data.csv \(it has: u, v, c\), got 'w'"):
        make_dataset("csv", params={"path": str(path), "y": "w"})
    with pytest.raises(SpecError, match=r"data.params.path: expected the path of a CSV file, got None"):
        make_dataset("csv")
    with pytest.raises(SpecError, match=r"data.params.colums: expected one of delimiter, path, task, x, y"):
        make_dataset("csv", params={"path": str(path), "colums": ["u"]})
    with pytest.raises(SpecError, match=r"data.noise: expected None for a CSV file"):
        make_dataset("csv", noise=0.1, params={"path": str(path)})
    with pytest.raises(DataFileError, match=r"missing.csv: no such file"):
        make_dataset("csv", params={"path": str(tmp_path / "missing.csv")})


def test_csv_semicolons(tmp_path):
    path = _write(tmp_path, "a;y\n1.5;2\n2.5;4.5\n")
    ds = make_dataset("csv", params={"path": str(path), "delimiter": ";", "task": "regression"})
    assert ds.X.tolist() == [[1.5], [2.5]] and ds.y.tolist() == [[2], [4.5]]


def test_csv_float32_edge_is_kept_and_a_given_one_class_task_is_refused(tmp_path):
    """The largest float32 is a number, not an error; one class is refused whichever task is given."""
    big = float(np.finfo(np.float32).max)
    ds = load_csv(_write(tmp_path, f"a,y\n{big!r},0.5\n-1,1.5\n"))
    assert ds.X[0, 0] == np.float32(big) and np.isfinite(ds.X).all()
    one = _write(tmp_path, "a,y\n1,0\n2,0\n", "one.csv")
    for task in ("binary", "multiclass"):
        with pytest.raises(DataFileError, match="needs at least two"):
            load_csv(one, task=task)
    assert load_csv(one, task="regression").y.tolist() == [[0], [0]]  # a constant target is still a regression
