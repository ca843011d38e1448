"""The CLI in-process: outputs, exit codes, one clear message for bad input."""

import json
import re

import numpy as np
import pytest

from mlplab.cli import main


def test_list(capsys):
    assert main(["list"]) == 0
    text = capsys.readouterr().out
    for name in ("rotation-linear", "piecewise-residual-bn", "moons-mlp", "sine-poly", "prior-mlp", "activations"):
        assert name in text


def test_run_writes_the_contract_files(tmp_path, capsys):
    assert main(["run", "moons-mlp", "-o", str(tmp_path), "--epochs", "30", "--seed", "3"]) == 0
    folder = tmp_path / "moons-mlp"
    meta = json.loads((folder / "run.json").read_text())
    assert {"spec", "final_loss", "metrics", "timings", "versions"} <= set(meta)
    assert meta["spec"]["train"]["epochs"] == 30 and meta["spec"]["train"]["seed"] == 3
    assert "train_accuracy" in meta["metrics"]
    with np.load(folder / "trajectory.npz") as z:
        assert z["losses"].shape == (30,)
    html = (folder / "report.html").read_text()
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=[\"']https?:", html)  # nothing fetched from outside
    assert "report:" in capsys.readouterr().out


def test_run_toml_file_with_preset_base(tmp_path):
    toml = tmp_path / "mine.toml"
    toml.write_text('preset = "piecewise-mlp"\nname = "wide"\n[model]\nhidden = [8]\n[train]\nepochs = 20\n')
    assert main(["run", str(toml), "-o", str(tmp_path)]) == 0
    meta = json.loads((tmp_path / "wide" / "run.json").read_text())
    assert meta["spec"]["model"]["hidden"] == [8] and meta["steps"] == 20


@pytest.mark.parametrize("body,field", [
    ('[model]\nhiden = [3]\n', "model.hiden"),
    ('[train]\nepochs = "many"\n', "train.epochs"),
    ('[train]\nlr = -0.1\n', "train.lr"),
    ('[model]\nactivation = "swish"\n', "model.activation"),
    ('preset = "nope"\n', "name"),
    ('[model\n', "bad.toml"),
    ('colour = 3\n', "colour"),
])
def test_bad_toml_is_exit_2_with_one_line(tmp_path, capsys, body, field):
    toml = tmp_path / "bad.toml"
    toml.write_text(body)
    assert main(["run", str(toml), "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert field in err and "Traceback" not in err
    assert len(err.strip().splitlines()) <= 3


@pytest.mark.parametrize("args,word", [
    (["run", "no-such-preset"], "preset"),
    (["run", "moons-mlp", "--export", "avi"], "--export"),
    (["run", "moons-mlp", "--epochs", "0"], "--epochs"),
    (["run", "missing.toml"], "missing.toml"),
    (["course", "--only", "nope"], "--only"),
])
def test_bad_arguments_exit_2(tmp_path, capsys, args, word):
    assert main(args + ["-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert word in err and "Traceback" not in err


def test_unknown_option_is_a_usage_error(capsys):
    assert main(["run", "moons-mlp", "--bogus"]) == 2


def test_course_gallery(tmp_path, capsys):
    assert main(["course", "-o", str(tmp_path), "--only", "piecewise-mlp", "--only", "prior-mlp", "--epochs", "10"]) == 0
    index = (tmp_path / "index.html").read_text()
    assert "piecewise-mlp/report.html" in index and "prior-mlp/report.html" in index
    assert (tmp_path / "prior-mlp" / "run.json").exists()


def test_run_exports_png_gif_mp4(tmp_path):
    assert main(["run", "xor-mlp", "--epochs", "6", "-o", str(tmp_path), "--export", "gif", "--export", "mp4",
                 "--export", "png", "--export", "html"]) == 0
    folder = tmp_path / "xor-mlp"
    assert (folder / "animation.gif").read_bytes()[:6] in (b"GIF87a", b"GIF89a")
    assert (folder / "animation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"ftyp" in (folder / "animation.mp4").read_bytes()[:16]
    assert "<script" in (folder / "animation.html").read_text()


def test_ctrl_c_saves_the_partial_run(tmp_path):
    """A real SIGINT to a real process: exit 130, and the steps done so far are on disk."""
    import os
    import signal
    import subprocess
    import sys
    import time

    proc = subprocess.Popen(
        [sys.executable, "-m", "mlplab", "run", "piecewise-residual-bn", "--epochs", "1000000", "-o", str(tmp_path),
         "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.time() + 120
    first = proc.stdout.readline().decode()  # printed once the experiment is resolved, right before training
    assert "training" in first, first
    time.sleep(2)  # well inside the million steps
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=max(1, deadline - time.time()))
    assert proc.returncode == 130, err.decode()
    meta = json.loads((tmp_path / "piecewise-residual-bn" / "run.json").read_text())
    assert meta["status"] == "interrupted" and 0 < meta["steps"] < 1_000_000
    with np.load(tmp_path / "piecewise-residual-bn" / "trajectory.npz") as z:
        assert len(z["losses"]) == meta["steps"] and np.isfinite(z["losses"]).all()
    assert "interrupted" in err.decode()
