"""Sweeps from the command line, and the Ray executor on a local instance."""

import numpy as np
import pytest

from mlplab.cli import main
from mlplab.store import Store
from mlplab.sweep import sweep


def test_sweep_command_and_runs_commands(tmp_path, capsys):
    toml = tmp_path / "s.toml"
    toml.write_text('experiment = "sine-mlp-2"\nname = "tiny"\n[grid]\n"train.epochs" = [30]\nseed = [0, 1]\n"train.lr" = [0.01, 0.05]\n')
    assert main(["sweep", str(toml), "-o", str(tmp_path / "store"), "--no-progress"]) == 0
    assert (tmp_path / "store" / "tiny" / "sweep.html").exists()
    capsys.readouterr()
    assert main(["runs", "list", "-s", str(tmp_path / "store")]) == 0
    listing = capsys.readouterr().out
    assert listing.count("finished") == 4
    first = Store(tmp_path / "store").query().iloc[0]["id"]
    assert main(["runs", "show", first[:8], "-s", str(tmp_path / "store")]) == 0
    assert main(["runs", "compare", "train__lr=0.05", "-s", str(tmp_path / "store")]) == 0
    assert main(["sweep", str(toml), "-o", str(tmp_path / "store"), "--executor", "slurm"]) == 2
    assert "executor" in capsys.readouterr().err


def test_ray_executor_on_a_local_instance(tmp_path):
    import ray

    try:
        grid = {"seed": [0, 1], "model.hidden": [[2], [4]], "train.epochs": [25]}
        remote = sweep("piecewise-mlp", grid=grid, out=tmp_path / "ray", executor="ray", progress=False)
        local = sweep("piecewise-mlp", grid=grid, progress=False)
        assert list(remote["status"]) == ["finished"] * 4
        assert sorted(remote["final_loss"]) == pytest.approx(sorted(local["final_loss"]), rel=1e-6)
        again = sweep("piecewise-mlp", grid=grid, out=tmp_path / "ray", executor="ray", progress=False)
        assert again["reused"].all()  # the store already holds every run
    finally:
        ray.shutdown()


def test_a_sweep_checks_each_runs_memory_before_allocating(tmp_path, capsys):
    """A grid value that cannot fit is refused with the field's name and exit 2, as `mlplab run` refuses it
    (the stacked path used to build the 40 GB model and end in a torch traceback)."""
    toml = tmp_path / "big.toml"
    toml.write_text('name = "big"\nexperiment = "practice-residual"\n[grid]\n'
                    '"model.hidden" = [[100000, 100000]]\n"train.lr" = [0.01, 0.02]\n')
    assert main(["sweep", str(toml), "-o", str(tmp_path / "s"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "every run of sweep 'big' failed" in err and "expected a run that fits in" in err
    assert "Traceback" not in err


def test_a_sweep_says_why_runs_failed_and_still_reports_the_others(tmp_path, capsys):
    toml = tmp_path / "mixed.toml"
    toml.write_text('name = "mixed"\nexperiment = "piecewise-mlp"\n[grid]\n"model.hidden" = [[8], [100000, 100000]]\n"train.epochs" = [3]\n')
    assert main(["sweep", str(toml), "-o", str(tmp_path / "s"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "1 failed: model.hidden: expected a run that fits in" in out
    assert (tmp_path / "s" / "mixed" / "sweep.html").exists()


def test_a_stacked_group_that_would_not_fit_trains_in_parts_that_do(monkeypatch):
    """Each run fits, four at once do not: the group is cut, and the runs equal those of an uncut group."""
    import mlplab.budget as budget
    from mlplab.api import resolve

    per_run = budget.estimate(resolve("piecewise-mlp", train={"epochs": 5})).total
    whole = sweep("piecewise-mlp", {"train.epochs": [5], "seed": [0, 1, 2, 3]}, progress=False)
    monkeypatch.setenv(budget.ENV_LIMIT, str(int(per_run * 2.5)))
    cut = sweep("piecewise-mlp", {"train.epochs": [5], "seed": [0, 1, 2, 3]}, progress=False)
    assert [r.timings["group_size"] for r in cut.run] == [2.0, 2.0, 2.0, 2.0]
    assert [r.timings["group_size"] for r in whole.run] == [4.0] * 4
    for a, b in zip(whole.run, cut.run):
        np.testing.assert_array_equal(a.losses, b.losses)
