"""Sweeps: spec validation and expansion, the stacked trainer against mlplab.train, the runner, the CLI pieces."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

import mlplab
from mlplab.errors import SpecError
from mlplab.presets import experiment, merge
from mlplab.api import prepare, run_experiment, run_stacked
from mlplab.engines import StackedEngine
from mlplab.sweep import groups as G
from mlplab.sweep.runner import sweep
from mlplab.sweep.spec import expand, load_sweep, make_sweep, run_name, sweep_from_dict, sweep_presets

STEPS = 300


def _reference(exp):
    """The same experiment alone on the torch engine (autograd + torch.optim)."""
    return run_experiment(exp.replace(train=exp.train.replace(engine="torch")), progress=False)


@pytest.mark.parametrize("name, overrides", [
    ("piecewise-residual", [{"train": {"lr": lr}, "data": {"seed": s}} for s in (0, 1) for lr in (0.01, 0.03)]),
    ("practice-mlp", [{"train": {"weight_decay": wd}, "data": {"seed": s, "noise": nz}}
                      for s, wd, nz in ((0, 0.0, 0.1), (1, 0.01, 0.2))]),
    ("sine-mlp-5", [{"train": {"seed": s}, "model": {"init": init}} for s in (0, 3) for init in ("default", "xavier_uniform")]),
])
def test_each_stacked_run_matches_training_it_alone(name, overrides):
    exps = [merge(experiment(name), {**o, "train": {**o.get("train", {}), "epochs": STEPS}}) for o in overrides]
    assert all(G.may_stack(e) for e in exps) and len({G.group_key(e) for e in exps}) == 1
    runs = run_stacked(exps)
    for exp, run in zip(exps, runs):
        ref = _reference(exp)
        assert run.losses.shape == (STEPS,) and run.status == "finished" and run.engine == "stacked"
        assert np.max(np.abs(run.losses - ref.losses) / np.abs(ref.losses)) <= 1e-5
        np.testing.assert_array_equal(run.frame_steps, ref.frame_steps)
        np.testing.assert_allclose(run.frames, ref.frames, rtol=1e-3, atol=1e-3)  # ReLU kinks amplify rounding a little
        assert run.metrics.keys() == ref.metrics.keys()
        for k in ref.metrics:
            assert run.metrics[k] == pytest.approx(ref.metrics[k], rel=1e-4, abs=1e-4)
        for k, v in ref.snapshots.items():
            np.testing.assert_allclose(run.snapshots[k], v, rtol=1e-3, atol=1e-4)
    # the runs really differ from each other: stacking did not mix them
    assert len({float(r.losses[-1]) for r in runs}) == len(runs)


def test_stacked_bce_sgd_on_moons_matches_with_grid_frames():
    exps = [merge(experiment("moons-mlp"), {"train": {"epochs": 120, "lr": lr, "seed": s, "grid": 12},
                                            "data": {"seed": s}}) for s in (0, 1) for lr in (0.3, 1.0)]
    for exp, run in zip(exps, run_stacked(exps)):
        ref = _reference(exp)
        assert np.max(np.abs(run.losses - ref.losses) / ref.losses) <= 1e-5
        np.testing.assert_allclose(run.grid_frames, ref.grid_frames, atol=1e-5)
        assert run.metrics["train_accuracy"] == ref.metrics["train_accuracy"]


def test_batch_norm_group_agrees_at_the_first_steps():
    # identity init + batch norm amplifies rounding (see tests/test_training.py): check the start only
    exps = [merge(experiment("practice-residual-bn"), {"train": {"epochs": 20}, "data": {"seed": s}}) for s in (0, 1)]
    for exp, run in zip(exps, run_stacked(exps)):
        ref = _reference(exp)
        assert np.max(np.abs(run.losses[:5] - ref.losses[:5]) / ref.losses[:5]) <= 1e-5


def test_a_diverging_member_does_not_stop_or_spoil_the_others():
    exps = [merge(experiment("piecewise-mlp"), {"train": {"epochs": 60, "lr": lr, "optimizer": "sgd"}})
            for lr in (1e-3, 50.0)]
    good, bad = run_stacked(exps)
    assert bad.status == "diverged" and "train.lr=50.0" in bad.message and bad.metrics == {}
    assert np.isfinite(bad.losses).all() and len(bad.losses) < 60
    assert good.status == "finished" and len(good.losses) == 60
    np.testing.assert_allclose(good.losses, _reference(exps[0]).losses, rtol=1e-5)


def test_what_the_stacked_engine_cannot_run_trains_alone_on_the_engine_auto_picks():
    mini = merge(experiment("piecewise-mlp"), {"train": {"batch_size": 10}})
    norm = merge(experiment("piecewise-mlp"), {"model": {"norm": "layer"}})
    scratch = experiment("moons-scratch")
    for exp in (mini, norm):
        e, data, model = prepare(exp)
        assert StackedEngine.refuses(model, e.train, data.task) is not None
    assert not G.may_stack(scratch)  # it asks for the NumPy engine by name
    assert G.split_groups([mini, norm, experiment("piecewise-mlp"), experiment("piecewise-mlp")]) == [[0], [1], [2, 3]]
    df = sweep(merge(mini, {"train": {"epochs": 2}}), {"seed": [0, 1]}, progress=False)
    assert set(df.engine) == {"compiled"} and set(df.status) == {"finished"}
    df = sweep(merge(norm, {"train": {"epochs": 2}}), {"seed": [0, 1]}, progress=False)
    assert set(df.engine) == {"compiled"}


# ---------------------------------------------------------------- spec


def test_grid_expands_to_every_combination_with_readable_names():
    spec = make_sweep("piecewise-residual", {"model.hidden": [[2], [8], [2, 2]], "model.residual": [False, True],
                                             "train.seed": range(10)})
    variants = expand(spec)
    assert len(variants) == spec.size == 60 and len({v.id for v in variants}) == 60
    v = variants[-1]
    assert v.experiment.model.hidden == [2, 2] and v.experiment.model.residual and v.experiment.train.seed == 9
    assert v.name == "piecewise-residual_hidden2x2_residual-on_seed9"
    assert v.label == "hidden=2x2, residual=on"
    assert experiment("piecewise-residual").train.epochs == v.experiment.train.epochs  # the rest is the base


def test_seed_sets_data_and_training_seed_and_random_draws_are_reproducible():
    a = expand(make_sweep("practice-mlp", {"seed": [4]}, random={"train.lr": ("log", 1e-3, 1e-1),
                                                               "model.init": ("choice", ["default", "kaiming"])},
                          n_random=5, seed=7))
    b = expand(make_sweep("practice-mlp", {"seed": [4]}, random={"train.lr": ("log", 1e-3, 1e-1),
                                                               "model.init": ("choice", ["default", "kaiming"])},
                          n_random=5, seed=7))
    assert [v.values for v in a] == [v.values for v in b] and len(a) == 5
    assert all(1e-3 <= v.experiment.train.lr <= 1e-1 for v in a)
    assert all(v.experiment.data.seed == 4 == v.experiment.train.seed for v in a)


@pytest.mark.parametrize("grid, random, n_random, param", [
    ({"model.hiden": [[2]]}, None, 0, "grid.model.hiden"),
    ({"optim.lr": [0.1]}, None, 0, "grid.optim.lr"),
    ({"train.lr": []}, None, 0, "grid.train.lr"),
    ({"train.lr": 0.1}, None, 0, "grid.train.lr"),
    ({"train.lr": [-1.0]}, None, 0, "train.lr"),
    ({}, {"train.lr": ("log", 0, 1)}, 3, "random.train.lr"),
    ({}, {"train.lr": ("normal", 0, 1)}, 3, "random.train.lr"),
    ({}, {"train.lr": ("log", 1e-3, 1e-1)}, 0, "n_random"),
    ({"train.lr": [0.1, 0.1]}, None, 0, "grid"),
])
def test_bad_sweeps_name_the_field(grid, random, n_random, param):
    with pytest.raises(SpecError) as err:
        expand(make_sweep("piecewise-mlp", grid, random=random, n_random=n_random))
    assert err.value.param == param


def test_toml_sweeps_and_presets(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text('experiment = "piecewise-mlp"\nn_random = 2\n[grid]\nseed = [0, 1]\n'
                 '[random]\n"train.lr" = ["log", 0.001, 0.1]\n')
    spec = load_sweep(f)
    assert spec.name == "s" and spec.size == 4
    assert {"practice-variants", "sine-hidden", "moons-lr-init"} <= set(sweep_presets())
    practice = load_sweep("practice-variants")
    variants = expand(practice)
    assert practice.size == 40 and {v.experiment.model.norm for v in variants} == {"none", "batch"}
    assert variants[0].name == "practice-linear_epochs3000_seed0"
    assert {v.experiment.train.epochs for v in variants} == {3000}  # equal budgets for the four models
    assert len(expand(load_sweep("sine-hidden"))) == 20 and len(expand(load_sweep("moons-lr-init"))) == 36
    from pathlib import Path

    example = load_sweep(Path(__file__).resolve().parent.parent / "examples" / "sweep_practice.toml")
    assert example.name == "practice-norm-lr" and example.size == 30
    bad = tmp_path / "bad.toml"
    bad.write_text('experiment = "piecewise-mlp"\ngrids = 1\n')
    with pytest.raises(SpecError, match="grids"):
        load_sweep(bad)
    with pytest.raises(SpecError) as err:
        sweep_from_dict({"experiment": "piecewise-mlp", "grid": {"train.lr": "fast"}})
    assert err.value.param == "grid.train.lr"


def test_long_names_stay_valid_and_unique():
    values = {f"data.params.p{i}": [1, 2, 3] for i in range(12)}
    a, b = run_name("piecewise-residual", values), run_name("piecewise-residual", {**values, "seed": 1})
    assert len(a) <= 80 and len(b) <= 80 and a != b


# ---------------------------------------------------------------- runner


def test_sweep_returns_one_row_per_run_and_groups_by_shape():
    seen = []
    df = sweep(experiment("practice-mlp", train={"epochs": 200}), {"model.hidden": [[2], [3]], "seed": range(3)}, random={"train.lr": ("log", 1e-3, 1e-1)},
               n_random=2, progress=lambda done, total: seen.append((done, total)), name="t")
    assert len(df) == 12 and set(df.status) == {"finished"} and set(df.engine) == {"stacked"}
    assert {"run_id", "variant", "model.hidden", "seed", "train.lr", "final_loss", "train_r2", "train_s", "run"} <= set(df.columns)
    assert df.group_s.nunique() == 2 and seen[-1] == (12, 12)  # one stacked group per shape; lr varies inside
    run = df.run[0]
    assert isinstance(run, mlplab.Run) and run.final_loss == df.final_loss[0] and run.frames.shape[0] >= 90


def test_sweep_without_stacking_gives_the_same_losses():
    grid = {"train.lr": [0.01, 0.02], "seed": [0, 1]}
    a = sweep(merge(experiment("piecewise-mlp"), {"train": {"epochs": 80}}), grid, progress=False)
    b = sweep(merge(experiment("piecewise-mlp"), {"train": {"epochs": 80}}), grid, progress=False, batched=False)
    assert list(b.engine) == ["compiled"] * 4
    np.testing.assert_allclose(a.final_loss, b.final_loss, rtol=1e-5)


def test_ray_executor_says_how_to_install_when_missing(monkeypatch):
    # Ray may well be installed here: a None entry in sys.modules makes `import ray` fail as if it were not.
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(SpecError, match="mlplab\\[ray\\]") as err:
        sweep("piecewise-mlp", {"seed": [0]}, executor="ray")
    assert err.value.param == "executor"
    with pytest.raises(SpecError) as err:
        sweep("piecewise-mlp", {"seed": [0]}, executor="slurm")
    assert err.value.param == "executor"


def test_process_pool_matches_local(tmp_path):
    exp = merge(experiment("piecewise-mlp"), {"train": {"epochs": 40}})
    grid = {"model.hidden": [[2], [4]], "seed": [0, 1]}
    local = sweep(exp, grid, progress=False)
    pooled = sweep(exp, grid, out=tmp_path, workers=2, progress=False)
    np.testing.assert_allclose(pooled.final_loss, local.final_loss, rtol=1e-6)
    assert len(mlplab.store.Store(tmp_path).query()) == 4


# ---------------------------------------------------------------- report and CLI pieces


def test_report_and_cli_pieces(tmp_path):
    from rich.console import Console

    from mlplab.sweep import runs_compare, runs_list, runs_show, sweep_command
    from mlplab.sweep.report import comparisons

    f = tmp_path / "s.toml"
    f.write_text('experiment = "practice-mlp"\n[grid]\n"model.hidden" = [[1], [8]]\nseed = [0, 1, 2, 3]\n')
    con = Console(record=True, width=200)
    report = sweep_command(str(f), tmp_path / "store", progress=False, console=con)
    text = report.read_text()
    assert report.name == "sweep.html" and text.count("<script") >= 3 and 'src="http' not in text
    assert "Final loss per variant" in text and "training: " in text
    printed = con.export_text()
    assert "8 runs (8 finished" in printed
    df = sweep(experiment("practice-mlp", train={"epochs": 3000}), {"model.hidden": [[1], [8]], "seed": range(4)},
               out=tmp_path / "store", progress=False)
    assert df.reused.all()
    sentences = comparisons(df)
    assert any(s.startswith("hidden=8 reaches a lower loss than hidden=1 in 4/4 seeds") for s in sentences), sentences
    runs_list(tmp_path / "store", console=con)
    runs_show(tmp_path / "store", df.run_id[0][:8], console=con)
    runs_compare(tmp_path / "store", ["sweep=s"], console=con)
    out = con.export_text()
    assert df.run_id[0][:10] in out and "hidden=8 reaches a lower loss" in out
    with pytest.raises(SpecError) as err:
        runs_list(tmp_path / "nowhere")
    assert err.value.param == "store"


def test_comparisons_stay_quiet_within_the_seed_spread():
    import pandas as pd

    from mlplab.sweep.report import comparisons

    rng = np.random.default_rng(0)
    rows = [{"run_id": f"{v}{s}", "variant": v, "seed": s, "status": "finished", "final_loss": 1 + rng.normal(0, 0.1)}
            for v in ("a", "b") for s in range(10)]
    assert comparisons(pd.DataFrame(rows)) == []
    rows += [{"run_id": f"c{s}", "variant": "c", "seed": s, "status": "finished", "final_loss": 5.0 + s} for s in range(10)]
    said = comparisons(pd.DataFrame(rows))
    assert len(said) == 2 and all("than c in 10/10 seeds" in s for s in said)


def test_ctrl_c_in_a_python_sweep_stops_the_script_and_keeps_what_was_done(tmp_path):
    """sweep() must not swallow Ctrl-C: it raises Interrupted (a KeyboardInterrupt) with the rows done."""

    from mlplab.training.callbacks import Callback

    class CtrlC(Callback):
        def on_step_end(self, t, step, loss, pred):
            if step == 20:
                raise KeyboardInterrupt

    exp = merge(experiment("piecewise-mlp"), {"train": {"epochs": 60}})
    with pytest.raises(KeyboardInterrupt) as info:
        sweep(exp, {"model.hidden": [[2], [3]], "seed": [0, 1]}, out=tmp_path, callbacks=[CtrlC()], progress=False)
    frame = info.value.frame
    assert isinstance(info.value, mlplab.Interrupted) and len(frame) == 4
    assert set(frame.status) == {"interrupted", "not run"} and "stored in" in str(info.value)


def test_the_sweep_report_shows_landscapes_and_layer_health_per_variant(tmp_path):
    from mlplab.sweep.report import write_sweep_report

    grid = {"model.residual": [False, True], "seed": [0, 1], "train.epochs": [60]}
    df = sweep(merge(experiment("piecewise-residual"), {"train": {"snapshots": True}}), grid, progress=False)
    text = write_sweep_report(df, tmp_path / "a").read_text()
    assert "Loss landscape around each variant" in text and "Layer health through training" in text
    assert "train.snapshots" not in text  # both analyses ran for both variants
    df = sweep(merge(experiment("piecewise-residual"), {"train": {"snapshots": False}}), grid, progress=False)
    text = write_sweep_report(df, tmp_path / "b").read_text()
    assert "Loss landscape around each variant" in text and "train.snapshots" in text  # health says what it needs


def test_runs_compare_groups_by_experiment_and_filters_on_it(tmp_path):
    from rich.console import Console

    from mlplab.sweep import runs_compare

    grid = {"experiment": ["practice-linear", "practice-mlp"], "train.epochs": [30], "seed": [0, 1, 2]}
    df = sweep("practice-linear", grid, out=tmp_path, progress=False)
    assert len(df) == 6
    con = Console(record=True, width=200)
    table = runs_compare(tmp_path, ["sweep=practice-linear-sweep"], console=con)
    rows = dict(zip(table.columns[0].cells, table.columns[1].cells))  # variant -> runs
    assert rows == {"practice-linear, epochs=30": "3", "practice-mlp, epochs=30": "3"}, rows
    only = runs_compare(tmp_path, ["experiment=practice-mlp"], console=con)
    assert list(only.columns[0].cells) == ["practice-mlp, epochs=30"] and list(only.columns[1].cells) == ["3"]
    seed = runs_compare(tmp_path, ["experiment=practice-mlp", "seed=1"], console=con)
    assert list(seed.columns[1].cells) == ["1"]
    with pytest.raises(SpecError) as err:
        runs_compare(tmp_path, ["experimnt=practice-mlp"], console=con)
    assert err.value.param == "experimnt" and "experiment" in str(err.value)
    with pytest.raises(SpecError):
        runs_compare(tmp_path, ["experiment=sine-poly"], console=con)


def _frame(losses: dict[str, list[float]]):
    import pandas as pd

    return pd.DataFrame([{"run_id": f"{v}{s}", "variant": v, "seed": s, "status": "finished", "final_loss": x}
                         for v, xs in losses.items() for s, x in enumerate(xs)])


def _welch_p(a, b):
    """Welch's two-sided p-value on log10 losses, written out: t, Welch-Satterthwaite df, Student's t tail."""
    from scipy.stats import t as student

    a, b = np.log10(a), np.log10(b)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    t = (a.mean() - b.mean()) / np.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    return 2 * student.sf(abs(t), df)


def test_one_or_two_seeds_are_never_evidence():
    from mlplab.sweep.report import comparisons

    assert comparisons(_frame({"a": [1.0, 1.1], "b": [100.0, 120.0]})) == []
    assert comparisons(_frame({"a": [1.0], "b": [100.0]})) == []


def test_three_seeds_far_apart_are_evidence_with_the_p_value_of_welchs_test():
    import re

    from mlplab.sweep.report import comparisons

    a, b = [1.0, 1.1, 0.95], [10.0, 12.0, 9.0]
    said = comparisons(_frame({"a": a, "b": b}))
    assert len(said) == 1 and said[0].startswith("a reaches a lower loss than b in 3/3 seeds")
    p = float(re.search(r"p = ([0-9.e-]+)", said[0]).group(1))
    assert p == pytest.approx(_welch_p(np.array(a), np.array(b)), rel=0.05)  # printed with 2 digits


def test_holm_correction_silences_a_difference_that_only_one_pair_would_show():
    from mlplab.sweep.report import comparisons

    a, b = np.array([1.0, 1.3, 0.8, 1.1]), np.array([1.6, 2.0, 1.4, 1.9])
    p = _welch_p(a, b)
    assert 0.05 / 10 < p < 0.05  # significant alone, not once ten pairs are tested
    assert len(comparisons(_frame({"a": list(a), "b": list(b)}))) == 1
    rng = np.random.default_rng(1)
    others = {k: list(1.3 * np.exp(rng.normal(0, 0.02, 4))) for k in ("c", "d", "e")}
    said = comparisons(_frame({"a": list(a), "b": list(b), **others}))
    assert not any(s.startswith("a reaches a lower loss than b") for s in said), said


def test_identical_seed_independent_runs_differ_exactly_or_not_at_all():
    from mlplab.sweep.report import comparisons

    assert len(comparisons(_frame({"a": [2.0] * 3, "b": [3.0] * 3}))) == 1
    assert comparisons(_frame({"a": [2.0] * 3, "b": [2.0] * 3})) == []
    # equal up to float rounding is equal (scipy warned of catastrophic cancellation here; warnings are errors)
    nearly = [0.6931471805599453, 0.6931471805599454, 0.6931471805599453]
    assert comparisons(_frame({"a": nearly, "b": [0.6931471805599453] * 3})) == []
    assert len(comparisons(_frame({"a": nearly, "b": [0.1, 0.11, 0.12]}))) == 1


@pytest.fixture(scope="module")
def depth_health():
    """The depth-health preset at 20 epochs (the preset trains 1500): 2 activations x 2 inits x 5 seeds."""
    import tomllib

    from mlplab.sweep.spec import PRESET_DIR

    values = tomllib.loads((PRESET_DIR / "depth-health.toml").read_text())
    values["experiment"]["train"]["epochs"] = 20
    return sweep(sweep_from_dict(values), progress=False)


def _first_layer_grad_norm(run) -> float:
    """The oracle: the untrained model built from the run's spec and seed, one BCE backward pass in float64."""
    model = mlplab.build_model(run.spec["model"], seed=run.spec["train"]["seed"]).double()
    X = torch.from_numpy(run.data.X).double()
    y = torch.from_numpy(run.data.y).double().reshape(-1, 1)
    torch.nn.functional.binary_cross_entropy(model(X), y).backward()
    first = model.net[0]
    return float(torch.cat([first.weight.grad.reshape(-1), first.bias.grad]).norm())


def test_depth_health_measures_the_vanishing_gradient_of_a_deep_sigmoid_stack(depth_health):
    from mlplab import analysis as A

    assert "depth-health" in sweep_presets() and len(expand(load_sweep("depth-health"))) == 20
    df = depth_health
    assert set(df.status) == {"finished"} and df.variant.nunique() == 4
    first: dict[str, list[float]] = {}
    for run, variant in zip(df.run, df.variant):
        table = A.health(run).table
        row = table[(table["frame"] == 0) & (table["layer"] == "net.0")].iloc[0]
        assert row["step"] == 0
        assert row["grad_norm"] == pytest.approx(_first_layer_grad_norm(run), rel=1e-4)
        first.setdefault(variant, []).append(row["grad_norm"])
    sigmoid, relu = first["activation=sigmoid, init=default"], first["activation=relu, init=xavier_uniform"]
    # measured: 2e-8 to 6e-8 against 2e-3 to 9e-3; 1000x leaves room for other seeds
    assert max(sigmoid) * 1000 < min(relu), (sigmoid, relu)
    assert max(first["activation=sigmoid, init=xavier_uniform"]) < min(relu)  # Xavier alone does not rescue sigmoid


def test_the_sweep_health_figure_names_variants_shortly_and_shares_each_rows_axis(depth_health):
    from mlplab.sweep.report import analysis_sections, collect_runs

    figures = []
    analysis_sections(depth_health, collect_runs(depth_health), lambda fig: figures.append(fig) or "")
    landscape, health = figures
    labels = list(dict.fromkeys(depth_health.variant))
    for fig in (landscape, health):
        heads = [a.text for a in fig.layout.annotations if a.textangle != 90][:len(labels)]  # row titles stand upright
        assert [h.replace("<br>", ", ") for h in heads] == labels  # the variant labels, not the 50-character run names
        assert all(len(line) <= 24 for h in heads for line in h.split("<br>")) and len(set(heads)) == len(heads)
        assert fig.layout.margin.t >= 80 + 18  # room for the second line
    n = len(labels)
    rows = [a.text for a in health.layout.annotations if a.textangle == 90]
    assert rows[:2] == ["gradient norm", "update / weight per step"]
    for r in range(len(rows)):
        axes = [health.layout["yaxis" if i == 1 else f"yaxis{i}"] for i in range(r * n + 1, r * n + n + 1)]
        first = "y" if r == 0 else f"y{r * n + 1}"
        assert all(a.matches == first for a in axes[1:]), r  # one scale per row: a 100x gap reads as 100x
        if r < 2:
            assert all(a.type == "log" and list(a.tickvals) == list(axes[0].tickvals) for a in axes)


# ---------------------------------------------------------------- hostile sweep files (issue 20)


@pytest.mark.parametrize("line, field", [
    ('name = "../escaped"', "name"), ('name = "/tmp/absolute"', "name"), ('name = ".."', "name"),
    ('name = 5', "name"), ('name = "a/b"', "name"), ('name = ""', "name"),
    ("seed = -1", "seed"), ("seed = true", "seed"), ('n_random = "2"', "n_random"), ("n_random = 2.0", "n_random"),
])
def test_a_sweep_names_its_own_fields_and_never_writes_outside_its_folder(tmp_path, capsys, line, field):
    from mlplab.cli import main

    store = tmp_path / "work" / "store"
    (tmp_path / "s.toml").write_text(f'{line}\nexperiment = "xor-mlp"\n[grid]\n"train.epochs" = [2]\n')
    assert main(["sweep", str(tmp_path / "s.toml"), "-o", str(store), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"error: {field}: expected" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["s.toml"]  # nothing written anywhere


def test_a_sweep_file_named_after_odd_characters_gets_a_safe_name(tmp_path):
    path = tmp_path / "my sweep (v2).toml"
    path.write_text('experiment = "xor-mlp"\n[grid]\n"train.epochs" = [2]\n')
    assert load_sweep(path).name == "my-sweep--v2-"


@pytest.mark.parametrize("grid, random, n_random, field", [
    ({"seed": range(10**9)}, None, 0, "grid.seed"),  # counted, never listed
    ({"seed": list(range(200)), "train.lr": [0.01 * (i + 1) for i in range(60)]}, None, 0, "grid"),
    ({}, {"train.lr": ("log", 1e-3, 1e-1)}, 10**6, "n_random"),
    ({"seed": list(range(20))}, {"train.lr": ("log", 1e-3, 1e-1)}, 1000, "grid"),
])
def test_a_sweep_too_large_is_refused_by_counting_before_expanding(grid, random, n_random, field):
    with pytest.raises(SpecError) as err:
        make_sweep("xor-mlp", grid, random=random, n_random=n_random)
    assert err.value.param == field


@pytest.mark.parametrize("dist", [
    ("log", 1e-3, float("inf")), ("log", 1e-3, 1e300), ("uniform", float("-inf"), 1.0), ("uniform", 0.0, float("nan")),
    ("int", 1, 1e300), ("log", 1e-3, 1000.0),  # 1000 is beyond train.lr's own range (at most 100)
])
def test_random_bounds_are_finite_and_within_the_fields_range(dist):
    key = "train.epochs" if dist[0] == "int" else "train.lr"
    with pytest.raises(SpecError) as err:
        expand(make_sweep("xor-mlp", random={key: dist}, n_random=3))
    assert err.value.param == f"random.{key}"


def test_random_bounds_of_a_generator_parameter_are_finite_too():
    with pytest.raises(SpecError) as err:
        make_sweep("piecewise-mlp", random={"data.params.sizes": ("int", 1, 1e300)}, n_random=2)
    assert err.value.param == "random.data.params.sizes"


def test_sweep_fields_from_python_are_as_strict_as_from_a_file():
    for kwargs, field in [({"seed": True}, "seed"), ({"name": "../x"}, "name"), ({"n_random": 2.0}, "n_random")]:
        with pytest.raises(SpecError) as err:
            make_sweep("xor-mlp", {"train.epochs": [2]}, **kwargs)
        assert err.value.param == field


def test_stacked_runs_get_every_check_a_single_run_gets(monkeypatch):
    """run_stacked used to prepare (and allocate) without the settings and memory checks of run_experiment."""
    import mlplab.api as api

    monkeypatch.setattr(api, "prepare", lambda e: pytest.fail("data and model made before the checks"))
    small = experiment("piecewise-mlp", train={"epochs": 2})
    cases = [
        (experiment("piecewise-mlp", model={"hidden": [100000, 100000]}), "model.hidden"),  # 80 GB
        (experiment("piecewise-mlp", extras={"digits_epochs": 0}), "extras.digits_epochs"),
        (experiment("piecewise-mlp", data={"params": {"sizes": [1e9, 1, 1]}}), "data.params.sizes"),
    ]
    for bad, field in cases:
        for exp in (bad, [small, bad]):
            with pytest.raises(SpecError) as err:
                run_stacked(exp if isinstance(exp, list) else [exp])
            assert err.value.param == field
            with pytest.raises(SpecError) as single:
                run_experiment(bad, progress=False)
            assert str(single.value) == str(err.value)


@pytest.mark.parametrize("sizes", ["1e9", "[1e9, 1, 1]", "[2.5, 10, 10]", "[inf, 10, 10]", "[1000000000, 1, 1]"])
def test_cluster_sizes_in_a_sweep_are_refused_before_anything_is_made(tmp_path, capsys, sizes):
    from mlplab.cli import main

    (tmp_path / "s.toml").write_text(f'experiment = "piecewise-mlp"\n[grid]\n"data.params.sizes" = [{sizes}]\n')
    assert main(["sweep", str(tmp_path / "s.toml"), "-o", str(tmp_path / "store"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "error: data.params.sizes: expected" in err and "Traceback" not in err
    assert not (tmp_path / "store").exists()
