"""`mlplab analyze` and `mlplab regions` on run folders a user damaged, and analyses of runs that
recorded no snapshots: one message naming the file or field, exit 2, never a traceback (issue 20)."""

from __future__ import annotations

import json
import shutil
from functools import partial

import numpy as np
import pytest
import torch

import mlplab
from mlplab import analysis as A
from mlplab.cli import main
from mlplab.errors import MlplabError


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A finished 2-D run (moons-mlp, snapshots on), saved as `mlplab run` saves it."""
    folder = tmp_path_factory.mktemp("runs") / "moons-mlp"
    mlplab.run("moons-mlp", progress=False, epochs=4, train={"snapshots": True}).save(folder)
    return folder


class _Pickled:  # an arbitrary object: its model.pt is a pickle, not a state dict
    pass


def _empty_json(f):
    (f / "run.json").write_text("")


def _malformed_json(f):
    (f / "run.json").write_text('{"spec": {"model": ')


def _spec_not_a_table(f):
    meta = json.loads((f / "run.json").read_text())
    (f / "run.json").write_text(json.dumps({**meta, "spec": [1, 2]}))


def _no_losses(f):
    with np.load(f / "trajectory.npz") as z:
        arrays = {k: z[k] for k in z.files if k != "losses"}
    np.savez(f / "trajectory.npz", **arrays)


def _garbage_model(f):
    (f / "model.pt").write_bytes(bytes(range(256)) * 4)


def _other_architecture(f):
    torch.save(torch.nn.Linear(5, 7).state_dict(), f / "model.pt")


def _pickle_model(f):
    torch.save({"net": _Pickled()}, f / "model.pt")


DAMAGE = {"empty run.json": _empty_json, "malformed run.json": _malformed_json, "spec not a table": _spec_not_a_table,
          "no losses array": _no_losses, "garbage model.pt": _garbage_model,
          "model.pt of another architecture": _other_architecture, "model.pt a pickle": _pickle_model}


@pytest.mark.parametrize("command", ["analyze", "regions"])
@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_run_folder_is_one_message_and_exit_2(saved, tmp_path, capsys, damage, command):
    folder = tmp_path / "damaged"
    shutil.copytree(saved, folder)
    DAMAGE[damage](folder)
    assert main([command, str(folder), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert str(folder) in err.replace("\n", "") and "Traceback" not in err
    assert not (tmp_path / "out" / "moons-mlp").exists()


def test_the_undamaged_folder_is_analysed(saved, tmp_path, capsys):
    assert main(["analyze", str(saved), "--what", "health", "-o", str(tmp_path)]) == 0
    assert (tmp_path / "moons-mlp" / "analysis.html").exists()


def test_analyze_refuses_every_target_before_training_any(tmp_path, capsys, monkeypatch):
    """A bad second target (an unknown preset, a damaged folder) is named before the first one trains."""
    import mlplab.api

    def never(*args, **kwargs):
        raise AssertionError("trained before every target was checked")

    monkeypatch.setattr(mlplab.api, "run", never)
    assert main(["analyze", "xor-mlp", "no-such-preset", "-o", str(tmp_path)]) == 2
    assert "no-such-preset" in capsys.readouterr().err
    (tmp_path / "empty-run").mkdir()
    assert main(["analyze", "xor-mlp", str(tmp_path / "empty-run"), "-o", str(tmp_path)]) == 2
    assert "run.json" in capsys.readouterr().err
    assert main(["analyze", "xor-mlp", "--what", "health,curvature", "-o", str(tmp_path)]) == 2
    assert "--what" in capsys.readouterr().err
    toml = tmp_path / "huge.toml"
    toml.write_text('preset = "moons-mlp"\n[model]\nhidden = [100000, 100000]\n')
    assert main(["analyze", str(toml), "-o", str(tmp_path)]) == 2
    assert "model.hidden" in capsys.readouterr().err
    assert not (tmp_path / "xor-mlp").exists()


def _no_frames(run):
    run.snapshots = {k: np.asarray(v)[:0] for k, v in run.snapshots.items()}


def _unequal_frames(run):
    first = next(iter(run.snapshots))
    run.snapshots = {**run.snapshots, first: np.asarray(run.snapshots[first])[:1]}


def _other_parameters(run):
    run.snapshots = {"weight": np.zeros((3, 7, 5), np.float32)}


@pytest.mark.parametrize("damage", [_no_frames, _unequal_frames, _other_parameters])
@pytest.mark.parametrize("analysis", [A.health, partial(A.landscape, directions="pca", steps=3)],
                         ids=["health", "pca"])
def test_health_and_pca_of_a_run_without_usable_snapshots_refuse_naming_them(saved, damage, analysis):
    from mlplab.training.run import load_run

    run = load_run(saved)
    damage(run)
    with pytest.raises(MlplabError, match=r"snapshots"):
        analysis(run)
