"""mlplab.budget and mlplab.extras: what a spec will hold in memory, and the settings each kind accepts."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import mlplab
from mlplab import api, budget
from mlplab.errors import SpecError
from mlplab.extras import EXTRAS, ActivationName, check_extras
from mlplab.models import count_parameters
from mlplab.presets import PRESETS, experiment
from mlplab.specs import Experiment, ModelSpec

GB = 10**9


@pytest.mark.parametrize("residual,norm,position", [
    (r, n, p) for r, n, p in itertools.product([False, True], ["none", "batch", "layer"], [None, "pre", "post"])
])
def test_parameter_count_agrees_with_the_built_model(residual, norm, position):
    """Oracle: the parameters of the torch model the spec builds (on the meta device)."""
    for hidden, bias, poly in itertools.product([[3], [4, 4], [2, 5, 3]], [True, False], [0, 3]):
        spec = ModelSpec(in_dim=1 if poly else 2, out_dim=2, hidden=hidden, residual=residual, norm=norm,
                         norm_position=position, bias=bias, poly_degree=poly)
        assert budget.parameter_count(spec) == count_parameters(spec), spec


def test_parameters_and_widths_are_those_of_the_model_as_built():
    """Oracle: sum(p.numel()) and the Linear layers of the real model, across features, residual, norms, poly."""
    import torch

    from mlplab.models import build_model
    from mlplab.specs import FEATURES

    feature_sets = [[], ["x1", "x2"], list(FEATURES), ["x1^2", "sin(x2)"]]
    for features, residual, norm, position, hidden in itertools.product(
            feature_sets, [False, True], ["none", "batch", "layer"], [None, "pre", "post"], [[3], [4, 6, 4]]):
        spec = ModelSpec(features=features, residual=residual, norm=norm, norm_position=position, hidden=hidden,
                         out_dim=3)
        model = build_model(spec)
        assert budget.parameter_count(spec) == sum(p.numel() for p in model.parameters()), spec
        linears = [(m.in_features, m.out_features) for m in model.modules() if isinstance(m, torch.nn.Linear)]
        assert budget.layer_shapes(spec) == linears, spec
    for degree in (1, 4, 9):
        spec = ModelSpec(in_dim=1, poly_degree=degree, hidden=[5, 5], residual=True)
        assert budget.parameter_count(spec) == sum(p.numel() for p in build_model(spec).parameters())


def test_input_features_are_counted():
    """The issue's case: 7 input features feeding 8 units then 1 output is 73 parameters (the estimate said 33)."""
    from mlplab.specs import FEATURES

    spec = ModelSpec(features=list(FEATURES), hidden=[8])
    assert budget.parameter_count(spec) == 7 * 8 + 8 + 8 + 1 == 73


@pytest.mark.parametrize("sizes", [[1e9, 1, 1], [10**9, 1, 1], [2.5, 1, 1], [float("inf"), 1, 1], [0, 1, 1],
                                   [True, 1, 1], "3"])
def test_cluster_sizes_are_counted_and_checked_before_they_are_drawn(sizes, monkeypatch):
    from mlplab.data import GENERATORS

    monkeypatch.setitem(GENERATORS, "piecewise", lambda spec: pytest.fail("drew the clusters before the check"))
    with pytest.raises(SpecError) as err:
        mlplab.run("piecewise-mlp", data={"params": {"sizes": sizes}}, progress=False)
    assert err.value.param == "data.params.sizes"


def test_a_small_estimate_worked_by_hand():
    """2-32-1 Adam on 100 rows, 10 full-batch epochs, 5 frames, a 10x10 grid."""
    exp = Experiment(data={"name": "moons", "n": 100}, model={"hidden": [32]},
                     train={"epochs": 10, "frames": 5, "grid": 10, "optimizer": "adam"})
    parts = {k: b for k, (b, _) in budget.estimate(exp).parts.items()}
    p = 2 * 32 + 32 + 32 * 1 + 1  # 129 parameters
    assert parts["model.hidden"] == 4 * p * 4  # weights, gradients and Adam's two moments
    assert parts["data.n"] == 100 * 33 * 4 * 4 + 100 * 3 * 4  # activations of the full batch + the data
    assert parts["train.epochs"] == 10 * 4
    assert parts["train.frames"] == 5 * 100 * 1 * 4 * budget.RECORD_COPIES
    assert parts["train.frames x train.grid"] == 5 * 100 * 1 * 4 * budget.RECORD_COPIES


def test_recorded_parts_match_what_a_run_records():
    """Oracle: the arrays a real run holds. The estimate may count one frame more, never fewer bytes."""
    exp = experiment("piecewise-mlp", data={"n": 300}, train={"epochs": 60, "frames": 12, "grid": 20, "snapshots": True})
    run = mlplab.run(exp)
    assert run.data.n == 300
    parts = {k: b // budget.RECORD_COPIES for k, (b, _) in budget.estimate(exp).parts.items()}
    k = len(run.frame_steps)
    for key, array in [("train.frames", run.frames), ("train.frames x train.grid", run.grid_frames)]:
        per_frame = array.nbytes // k
        assert array.nbytes <= parts[key] <= array.nbytes + per_frame, key
    snap = sum(v.nbytes for v in run.snapshots.values())
    assert snap <= parts["train.snapshots"] <= snap + snap // k
    assert budget.estimate(exp).parts["train.epochs"][0] == run.losses.astype(np.float32).nbytes


def test_rows_are_never_underestimated():
    """Without data.n the estimate assumes DEFAULT_ROWS (or the known size): at least what a generator makes."""
    from mlplab.data import GENERATORS, make_dataset

    for name in sorted(set(GENERATORS) - {"csv", "fashion-mnist", "mnist", "fashion-or-digits"}):
        spec = Experiment(data={"name": name}).data
        assert make_dataset(spec).n <= budget.rows(spec), name


def test_a_csv_is_counted_by_its_lines(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,y\n" + "".join(f"{i},{i % 2}\n" for i in range(5000)))
    assert budget.rows(Experiment(data={"name": "csv", "params": {"path": str(path)}}).data) == 5001
    assert budget.rows(Experiment(data={"name": "csv", "n": 7, "params": {"path": str(path)}}).data) == 7


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_fits_in_a_modest_machine(name):
    budget.check(PRESETS[name], limit=2 * GB)
    check_extras(PRESETS[name])


ISSUE_CASES = {  # issue 13: values that pass validation and still ask for far too much
    "hidden [100000, 100000]": (experiment("moons-mlp", model={"hidden": [100000, 100000]},
                                           train={"snapshots": False}), "model.hidden", 80 * GB),  # SGD: weights + gradients
    "1e12 steps": (experiment("moons-mlp", data={"n": 1_000_000}, train={
        "batch_size": 1, "epochs": 1_000_000, "frames": 0, "snapshots": False}), "train.epochs", 4000 * GB),
    "frames 10000 x grid 400": (experiment("moons-mlp", train={"frames": 10_000, "grid": 400, "epochs": 100_000,
                                                              "snapshots": False}), "train.frames x train.grid", 6 * GB),
    "activation step 1e-9": (experiment("activations", extras={"step": 1e-9}), "extras.step", 64 * GB),
    "prior points 1e8": (experiment("prior-mlp", extras={"points": 100_000_000}), "extras.points", 400 * GB),
}


@pytest.mark.parametrize("case", sorted(ISSUE_CASES))
def test_what_cannot_fit_is_refused_naming_the_field(case, monkeypatch):
    exp, field, at_least = ISSUE_CASES[case]
    est = budget.estimate(exp)
    assert est.dominant[0] == field and est.total >= at_least
    with pytest.raises(SpecError) as err:
        budget.check(exp, limit=8 * GB)
    assert err.value.param == field and "8 GB" in str(err.value) and budget.human(est.dominant[1]) in str(err.value)
    monkeypatch.setenv(budget.ENV_LIMIT, "8G")
    with pytest.raises(SpecError, match=field):
        mlplab.run(exp)  # refused by the API itself, before any array is made


@pytest.mark.parametrize("text,value", [("8G", 8 * GB), ("8 GB", 8 * GB), ("512MB", 512 * 10**6), ("2GiB", 2 * 2**30),
                                        ("1e9", GB), ("123456", 123456), ("1.5t", 1500 * GB)])
def test_memory_limit_from_the_environment(monkeypatch, text, value):
    monkeypatch.setenv(budget.ENV_LIMIT, text)
    assert budget.memory_limit() == value


@pytest.mark.parametrize("text", ["lots", "-1G", "0", "8 parsecs", "nan", "inf", "G"])
def test_a_bad_memory_limit_is_a_spec_error_naming_the_variable(monkeypatch, text):
    monkeypatch.setenv(budget.ENV_LIMIT, text)
    with pytest.raises(SpecError) as err:
        budget.memory_limit()
    assert err.value.param == budget.ENV_LIMIT


def test_the_default_limit_is_half_the_machine(monkeypatch):
    import os

    monkeypatch.delenv(budget.ENV_LIMIT, raising=False)
    assert budget.memory_limit() == int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * 0.5)


# ---------------------------------------------------------------------------------------------- extras


def test_the_activation_names_are_the_ones_the_api_draws():
    assert set(ActivationName.__args__) == set(api.ACTIVATION_FUNCTIONS)


def test_every_kind_has_a_table():
    assert set(EXTRAS) == set(Experiment.model_fields["kind"].annotation.__args__)


BAD_EXTRAS = [
    ("activations", {"step": 0}, "extras.step"),
    ("activations", {"step": -0.1}, "extras.step"),
    ("activations", {"step": "small"}, "extras.step"),
    ("activations", {"names": ["swish"]}, "extras.names[0]"),
    ("activations", {"names": []}, "extras.names"),
    ("activations", {"x_min": 1.0, "x_max": -1.0}, "extras.x_max"),
    ("activations", {"x_min": float("nan")}, "extras.x_min"),
    ("activations", {"samples": 3}, "extras.samples"),
    ("prior", {"samples": -5}, "extras.samples"),
    ("prior", {"samples": 0}, "extras.samples"),
    ("prior", {"points": "many"}, "extras.points"),
    ("prior", {"points": 2.5}, "extras.points"),
    ("prior", {"points": 1}, "extras.points"),
    ("prior", {"x_max": -9.0}, "extras.x_max"),
    ("prior", {"x_max": float("inf")}, "extras.x_max"),
    ("prior", {"in_course": "yes"}, "extras.in_course"),
    ("train", {"digits_epochs": 0}, "extras.digits_epochs"),
    ("train", {"fit_dims": "yes"}, "extras.fit_dims"),
    ("train", {"step": 0.1}, "extras.step"),
    ("compare", {"runs": "moons-mlp"}, "extras.runs"),
    ("compare", {"sklearn": [3]}, "extras.sklearn[0]"),
]


@pytest.mark.parametrize("kind,extras,field", BAD_EXTRAS)
def test_bad_extras_are_spec_errors_naming_the_field(kind, extras, field):
    exp = Experiment(kind=kind, extras=extras)
    with pytest.raises(SpecError) as err:
        check_extras(exp)
    assert err.value.param == field
    with pytest.raises(SpecError) as err:
        mlplab.run(exp)  # the API checks them first
    assert err.value.param == field


def test_good_extras_pass_and_change_nothing():
    exp = experiment("prior-mlp", extras={"samples": 3, "points": 50, "x_min": -1, "x_max": 1})
    assert check_extras(exp).points == 50
    run = mlplab.run(exp)
    assert run.extras["samples"].shape == (3, 50) and run.extras["x"][0] == -1


@pytest.mark.parametrize("model,field", [({"in_dim": 2}, "model.in_dim"), ({"in_dim": 1, "out_dim": 3}, "model.out_dim")])
def test_a_prior_of_more_than_one_input_or_output_is_refused_by_name(tmp_path, capsys, model, field):
    """kind="prior" draws curves of one input: a 2-D model was a torch shape traceback."""
    from mlplab.cli import main

    with pytest.raises(SpecError) as err:
        mlplab.run(Experiment(kind="prior", model=model))
    assert err.value.param == field
    toml = tmp_path / "pr.toml"
    toml.write_text('name = "pr"\nkind = "prior"\n[model]\n' + "".join(f"{k} = {v}\n" for k, v in model.items()))
    assert main(["run", str(toml), "-o", str(tmp_path)]) == 2
    assert f"error: {field}:" in capsys.readouterr().err


def test_run_leaves_the_callers_settings_as_they_were():
    train = {"lr": 0.01}
    mlplab.run("piecewise-mlp", train=train, epochs=2, seed=1, progress=False)
    assert train == {"lr": 0.01}


def test_a_comparison_of_an_unknown_preset_names_the_entry_before_training():
    with pytest.raises(SpecError) as err:
        mlplab.run(Experiment(kind="compare", extras={"runs": ["moons-mlp", "nope"]}))
    assert err.value.param == "extras.runs[1]" and err.value.got == "nope"


def test_run_takes_callbacks_into_the_training_loop():
    from mlplab.training.callbacks import Callback

    class Count(Callback):
        steps = 0

        def on_step_end(self, t, step, loss, pred):
            Count.steps += 1

    run = mlplab.run("piecewise-mlp", epochs=4, progress=False, callbacks=[Count()])
    assert Count.steps == run.steps == 4
