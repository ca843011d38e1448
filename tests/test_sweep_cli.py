"""Sweeps from the command line, and the Ray executor on a local instance."""

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
