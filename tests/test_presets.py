"""Every preset runs and writes its report; the headline numbers of the course come out."""

import json

import numpy as np
import pytest

import mlplab
from mlplab.cli import main
from mlplab.presets import PRESETS

QUICK = {"train": {"epochs": 12}}


# What each kind of experiment must leave in trajectory.npz besides the losses.
KIND_ARRAYS = {"prior": {"extra/x", "extra/samples"}, "activations": {"extra/x", "extra/relu", "extra/relu_grad"}}
STUDY_ARRAYS = {"paths": "extra/loss/", "backprop-by-hand": "extra/check/autograd/", "vjp-sin": "extra/x.grad",
                "depth-gradients": "extra/norm/", "optimizers": "extra/loss/"}


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_runs_and_reports(name, tmp_path):
    """Through a TOML file and the CLI, as a user would: the files agree with each other and with the spec."""
    import html
    import math

    exp = PRESETS[name]
    if exp.kind in ("train", "compare"):
        exp = mlplab.presets.merge(exp, {"train": {"epochs": 3 if exp.train.batch_size else 12}})
    assert main(["run", str(_toml(tmp_path, exp)), "-o", str(tmp_path)]) == 0
    folder = tmp_path / name
    meta = json.loads((folder / "run.json").read_text())
    arrays = np.load(folder / "trajectory.npz")
    assert meta["status"] == "finished" and meta["name"] == name
    losses = arrays["losses"]
    assert meta["steps"] == len(losses)
    if len(losses):
        assert meta["final_loss"] == pytest.approx(float(losses[-1])) and np.all(np.isfinite(losses))
        data = mlplab.make_dataset(exp.data)
        rows = len(data.X)
        per_epoch = math.ceil(rows / exp.train.batch_size) if exp.train.batch_size else 1
        assert len(losses) == exp.train.epochs * per_epoch  # the epochs asked for, and no others
        assert losses[-1] < losses[0]  # it learned something in those steps
    elif exp.kind in KIND_ARRAYS:
        assert KIND_ARRAYS[exp.kind] <= set(arrays.files)
    else:
        assert exp.kind == "compare"
    if exp.kind == "compare":
        want = STUDY_ARRAYS[exp.extras.get("study", "paths")]
        assert any(f.startswith(want) for f in arrays.files), arrays.files
    page = (folder / "report.html").read_text()
    assert html.escape(meta["spec"]["title"]) in page and "Plotly.newPlot" in page
    assert page.count('class="plotly-graph-div"') >= 1


def test_list_is_in_course_order(capsys):
    assert main(["list"]) == 0
    text = capsys.readouterr().out
    rows = [line for line in text.splitlines() if any(f" {n} " in f" {line} " for n in PRESETS)]
    numbers = [next(t for t in ("000/001", "002", "003", "004") if t in line) for line in rows]
    assert len(rows) == len(PRESETS) and numbers == sorted(numbers)
    assert text.index("moons-sklearn") < text.index("xor-mlp")  # notebook 002's presets before 004's


def test_epochs_are_honoured_on_digits():
    run = mlplab.run("d2l-mlp", epochs=2)
    assert run.data.name == "digits" and run.spec["train"]["epochs"] == 2 and run.steps == 2 * 6  # 1294 rows / 256
    assert "digits 8x8, 64-256-10" in run.spec["title"] and run.spec["data"]["name"] == "digits"
    default = mlplab.experiment("d2l-mlp")
    assert mlplab.presets.merge(default, {"data": {"seed": 1}}).extras["digits_epochs"] == 100  # untouched otherwise


def _toml(tmp_path, exp):
    import tomli_w

    path = tmp_path / f"{exp.name}.toml"
    values = exp.model_dump(exclude_none=True)
    path.write_text(tomli_w.dumps(values))
    return path


def test_d2l_mlp_reaches_097_on_digits():
    run = mlplab.run("d2l-mlp")
    assert run.data.name == "digits" and "digits" in run.data.params["note"]
    assert run.spec["model"]["in_dim"] == 64 and run.spec["model"]["hidden"] == [256]
    assert run.metrics["test_accuracy"] >= 0.97


def test_moons_three_paths_agree_and_sklearn_is_beside_them():
    run = mlplab.run("moons-sklearn")
    curves = {k: v for k, v in run.extras.items() if k.startswith("loss/")}
    mlp, manual, scratch = (curves[f"loss/mlplab {n}"] for n in
                            ("moons-mlp (torch)", "moons-manual-step (torch)", "moons-scratch (numpy)"))
    np.testing.assert_allclose(manual, mlp, rtol=1e-5)
    np.testing.assert_allclose(scratch, mlp, rtol=1e-3)  # float32 NumPy vs float32 torch over 1000 SGD steps
    assert run.metrics["moons-scratch/train_accuracy"] >= 0.9
    assert any(k.startswith("loss/scikit-learn") for k in curves)


def test_prior_and_activations_kinds():
    prior = mlplab.run("prior-mlp")
    assert prior.extras["samples"].shape == (10, 1000)
    assert np.std(prior.extras["samples"][:, -1]) > 1  # N(0, 5^2) weights: the functions spread widely
    act = mlplab.run("activations")
    x = act.extras["x"]
    np.testing.assert_allclose(act.extras["sigmoid_grad"], act.extras["sigmoid"] * (1 - act.extras["sigmoid"]), atol=1e-6)
    assert np.array_equal(act.extras["relu_grad"], (x > 0).astype(np.float32))


def test_explain_and_regions_commands(tmp_path, capsys):
    assert main(["explain", "params", "2-32-1"]) == 0
    assert "129" in capsys.readouterr().out
    assert main(["explain", "nonsense"]) == 2
    assert main(["regions", "piecewise-mlp", "-o", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "linear regions" in text and (tmp_path / "piecewise-mlp" / "regions.html").exists()
    assert main(["regions", "sine-mlp-2", "-o", str(tmp_path)]) == 2  # tanh: no linear pieces (1-D ReLU nets are drawn)


def test_study_reports_draw_the_studies_numbers():
    from mlplab.viz.panels import extra_figures

    depth = mlplab.run("depth-gradients")
    [(caption, fig)] = extra_figures(depth)
    assert fig.layout.yaxis.type == "log" and "sigmoid" in caption
    lines = {t.name: t for t in fig.data}
    assert len(lines) == 4
    np.testing.assert_array_equal(lines["sigmoid, PyTorch default"].y, depth.extras["norm/sigmoid, default"])
    np.testing.assert_array_equal(lines["relu, Xavier (uniform)"].x, np.arange(1, 10))
    sin = mlplab.run("vjp-sin")
    [(_, fig)] = extra_figures(sin)
    traces = {t.name: t for t in fig.data if t.xaxis == "x2"}
    for name in ("x.grad (autograd)", "v * cos(x)", "f.grad_fn(v)", "mlplab ops.sin VJP"):
        np.testing.assert_allclose(traces[name].y, np.cos(sin.extras["x"]), atol=2e-7)
    checks = mlplab.run("moons-backprop-mse", epochs=5)
    [(_, table)] = extra_figures(checks)
    cells = table.data[0].cells.values
    assert list(cells[0]) == ["dz2", "dw2", "da1", "dz1", "dw1"] and list(cells[1]) == ["100", "32x1", "100x32", "100x32", "2x32"]
    assert list(cells[2]) == ["True"] * 5
    assert [float(v) for v in cells[3]] == pytest.approx(
        [checks.metrics[f"{n}: max |mlplab VJP - autograd|"] for n in cells[0]], rel=0.05)
