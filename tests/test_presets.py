"""Every preset runs and writes its report; the headline numbers of the course come out."""

import json

import numpy as np
import pytest

import mlplab
from mlplab.cli import main
from mlplab.presets import PRESETS

QUICK = {"train": {"epochs": 12}}


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_runs_and_reports(name, tmp_path):
    exp = PRESETS[name]
    if exp.kind == "train":
        exp = mlplab.presets.merge(exp, {"train": {"epochs": 3 if exp.train.batch_size else 12}, "extras": {**exp.extras, "digits_epochs": 2}})
    assert main(["run", str(_toml(tmp_path, exp)), "-o", str(tmp_path)]) == 0
    meta = json.loads((tmp_path / name / "run.json").read_text())
    assert meta["status"] == "finished" and meta["name"] == name
    assert (tmp_path / name / "report.html").stat().st_size > 100_000


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
    assert main(["regions", "sine-mlp-2", "-o", str(tmp_path)]) == 2  # 1-D input: no plane to draw
