"""A full disk or a file name over the system's limit while writing runs and reports: one line naming
the path, exit 2, never a traceback (issue 20)."""

from __future__ import annotations

import errno
import os

import pytest

from mlplab.cli import main


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT, errno.EROFS])
def test_a_full_disk_while_saving_a_run_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch, code):
    from mlplab.training.run import Run

    def full(self, folder, *args, **kwargs):  # what the disk answers when a run's files are written
        raise OSError(code, os.strerror(code), str(folder / "trajectory.npz"))

    monkeypatch.setattr(Run, "save", full)
    assert main(["run", "moons-mlp", "--epochs", "2", "-o", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "moons-mlp" / "trajectory.npz") in err.replace("\n", "")
    assert os.strerror(code) in err and "Traceback" not in err


def test_a_sweep_name_over_the_file_name_limit_is_one_line_and_exit_2(tmp_path, capsys):
    limit = os.pathconf(tmp_path, "PC_NAME_MAX")
    toml = tmp_path / "s.toml"
    toml.write_text(f'experiment = "moons-mlp"\nname = "{"a" * (limit + 1)}"\n[grid]\n"train.epochs" = [2]\n')
    assert main(["sweep", str(toml), "-o", str(tmp_path / "store"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "name" in err.lower()
