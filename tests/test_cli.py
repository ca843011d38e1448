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
    import mlplab

    assert main(["course", "-o", str(tmp_path), "--only", "piecewise-mlp", "--only", "prior-mlp", "--epochs", "10"]) == 0
    assert "2 experiments" in capsys.readouterr().out
    index = (tmp_path / "index.html").read_text()
    assert set(re.findall(r'href="([^"]+/report\.html)"', index)) == {"piecewise-mlp/report.html", "prior-mlp/report.html"}
    # each card's run is the run the Python API gives for the same preset and epochs, bit for bit
    trained = json.loads((tmp_path / "piecewise-mlp" / "run.json").read_text())
    assert trained["steps"] == 10 and trained["status"] == "finished"
    assert trained["final_loss"] == float(mlplab.run("piecewise-mlp", epochs=10).final_loss)
    with np.load(tmp_path / "prior-mlp" / "trajectory.npz") as z:
        np.testing.assert_array_equal(z["extra/samples"], mlplab.run("prior-mlp").extras["samples"])  # (10, 1000)
        assert z["extra/samples"].shape == (10, 1000)


def test_run_exports_png_gif_mp4(tmp_path):
    assert main(["run", "xor-mlp", "--epochs", "6", "-o", str(tmp_path), "--export", "gif", "--export", "mp4",
                 "--export", "png", "--export", "html"]) == 0
    folder = tmp_path / "xor-mlp"
    assert (folder / "animation.gif").read_bytes()[:6] in (b"GIF87a", b"GIF89a")
    assert (folder / "animation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"ftyp" in (folder / "animation.mp4").read_bytes()[:16]
    assert "<script" in (folder / "animation.html").read_text()


# ---------------------------------------------------------------------------------------------
# Real signals to real processes. Each waits on a line the process prints (never on a sleep): the
# prelude below adds a callback to every training that prints MARK once a few steps are done.

PRELUDE = """
import sys
import mlplab.training.loop as loop
from mlplab.training.callbacks import Callback

class Mark(Callback):
    said = False
    def on_step_end(self, t, step, loss, pred):
        if step >= 20 and not Mark.said:
            Mark.said = True
            print("MARK", flush=True)

def with_mark(fn):
    def wrapped(*args, callbacks=None, **kwargs):
        return fn(*args, callbacks=[*(callbacks or []), Mark()], **kwargs)
    return wrapped

loop.train = with_mark(loop.train)
loop.train_stacked = with_mark(loop.train_stacked)
"""


def _spawn(tmp_path, code: str):
    import os
    import subprocess
    import sys

    return subprocess.Popen([sys.executable, "-c", PRELUDE + code], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _signal_at_mark(proc, signum) -> tuple[str, str]:
    lines = []
    for line in proc.stdout:  # blocks until the process prints; ends if it exits first
        lines.append(line)
        if line.strip() == "MARK":
            proc.send_signal(signum)
            break
    out, err = proc.communicate(timeout=300)
    assert any(line.strip() == "MARK" for line in lines), "".join(lines) + err
    return "".join(lines) + out, err


def _cli(args: list[str]) -> str:
    return f"from mlplab.cli import main\nsys.exit(main({args!r}))\n"


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_ctrl_c_and_sigterm_save_the_partial_run(tmp_path, signame):
    """exit 130, and the steps done so far are on disk, whichever of the two signals stops it."""
    import signal

    proc = _spawn(tmp_path, _cli(["run", "piecewise-residual-bn", "--epochs", "1000000", "-o", str(tmp_path),
                                  "--no-progress"]))
    out, err = _signal_at_mark(proc, getattr(signal, signame))
    assert proc.returncode == 130, err
    meta = json.loads((tmp_path / "piecewise-residual-bn" / "run.json").read_text())
    assert meta["status"] == "interrupted" and 20 <= meta["steps"] < 1_000_000
    with np.load(tmp_path / "piecewise-residual-bn" / "trajectory.npz") as z:
        assert len(z["losses"]) == meta["steps"] and np.isfinite(z["losses"]).all()
    assert "interrupted" in err and "Traceback" not in err
    assert "report:" in out


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_ctrl_c_or_sigterm_in_a_sweep_exits_130_and_says_what_is_stored(tmp_path, signame):
    import signal

    toml = tmp_path / "s.toml"
    # the torch engine: a million steps of a 2-unit net take minutes there (seconds on the compiled engine),
    # so the signal always lands while it trains, however loaded the machine
    toml.write_text('experiment = "piecewise-mlp"\nname = "s"\n[grid]\n"train.epochs" = [1000000]\nseed = [0, 1]\n'
                    '"train.engine" = ["torch"]\n')
    proc = _spawn(tmp_path, _cli(["sweep", str(toml), "-o", str(tmp_path / "store"), "--no-progress"]))
    out, err = _signal_at_mark(proc, getattr(signal, signame))
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "interrupted: 0 finished runs are stored in" in err and "the same command finishes them" in err


def test_ctrl_c_in_analyze_says_what_was_not_analysed(tmp_path):
    import signal

    toml = tmp_path / "piecewise-mlp.toml"  # on torch: minutes of training, so the signal lands while it trains
    toml.write_text('preset = "piecewise-mlp"\n[train]\nengine = "torch"\n')
    proc = _spawn(tmp_path, _cli(["analyze", str(toml), "--epochs", "1000000", "-o", str(tmp_path)]))
    out, err = _signal_at_mark(proc, signal.SIGINT)
    assert proc.returncode == 130, err
    flat = "".join(err.split())  # the console may wrap a long path anywhere
    assert "piecewise-mlp.tomlwasnotanalysed" in flat and "Traceback" not in err


def test_ctrl_c_in_a_python_script_reaches_the_script(tmp_path):
    """Two mlplab.run calls: Ctrl-C in the first stops the script (the second never starts), and the
    exception carries the partial run."""
    import signal

    code = """
import mlplab
try:
    mlplab.run("piecewise-mlp", epochs=1000000, train={"engine": "torch"})  # minutes: the signal lands in it
except mlplab.Interrupted as stop:
    print("partial", stop.run.status, stop.run.steps, flush=True)
    raise
print("SECOND", flush=True)
mlplab.run("piecewise-mlp", epochs=5)
"""
    proc = _spawn(tmp_path, code)
    out, err = _signal_at_mark(proc, signal.SIGINT)
    # exit code 130 as any Ctrl-C: CPython re-raises SIGINT for an uncaught KeyboardInterrupt (seen as -2 here)
    assert proc.returncode in (130, -signal.SIGINT) and "SECOND" not in out
    status, steps = out.split("partial ")[1].split()[:2]
    assert status == "interrupted" and int(steps) >= 20
    assert "KeyboardInterrupt" in err or "Interrupted" in err


# ---------------------------------------------------------------------------------------------
# What users tried (issue 13): every input is refused with exit 2, one line naming the field, no
# traceback, and nothing trained or written.

EIGHT_GB = "8G"
HOSTILE_TOML = {
    "name is ..": ('preset = "piecewise-mlp"\nname = ".."\n', "name"),
    "name is .": ('preset = "piecewise-mlp"\nname = "."\n', "name"),
    "40 GB of weights": ('preset = "moons-mlp"\n[model]\nhidden = [100000, 100000]\n[train]\nsnapshots = false\n',
                         "model.hidden"),
    "4 TB of losses": ('preset = "moons-mlp"\n[data]\nn = 1000000\n[train]\nbatch_size = 1\nepochs = 1000000\n'
                       'frames = 0\ngrid = 0\nsnapshots = false\n', "train.epochs"),
    "6.4 GB of grid frames": ('preset = "moons-mlp"\n[train]\nframes = 10000\ngrid = 400\nepochs = 100000\n'
                              'snapshots = false\n', "train.frames x train.grid"),
    "activation step 1e-9": ('preset = "activations"\n[extras]\nstep = 1e-9\n', "extras.step"),
    "prior of 1e8 points": ('preset = "prior-mlp"\n[extras]\npoints = 100000000\n', "extras.points"),
    "step = 0": ('preset = "activations"\n[extras]\nstep = 0\n', "extras.step"),
    "samples = -5": ('preset = "prior-mlp"\n[extras]\nsamples = -5\n', "extras.samples"),
    "points = many": ('preset = "prior-mlp"\n[extras]\npoints = "many"\n', "extras.points"),
    "x_max below x_min": ('preset = "prior-mlp"\n[extras]\nx_min = 3\nx_max = -3\n', "extras.x_max"),
    "unknown activation": ('preset = "activations"\n[extras]\nnames = ["swish"]\n', "extras.names[0]"),
    "unknown extra": ('preset = "moons-mlp"\n[extras]\ncolour = 3\n', "extras.colour"),
    "fit_dims = yes": ('preset = "d2l-mlp"\n[extras]\nfit_dims = "yes"\n', "extras.fit_dims"),
    "deep array": ("x = " + "[" * 2000 + "]" * 2000 + "\n", "bad.toml"),
    "deep params": ('preset = "piecewise-mlp"\n[data.params]\nx = ' + "[" * 30 + "]" * 30 + "\n", "data.params.x"),
    "74.5 GiB of scikit-learn": ('preset = "moons-sklearn"\n[extras]\nsklearn = [{hidden_layer_sizes = [100000, 100000]}]\n',
                                 "extras.sklearn[0].hidden_layer_sizes"),
    "scikit-learn sizes = big": ('preset = "moons-sklearn"\n[extras]\nsklearn = [{hidden_layer_sizes = "big"}]\n',
                                 "extras.sklearn[0].hidden_layer_sizes"),
    "deep tables": ('preset = "piecewise-mlp"\n[data.params.' + ".".join("a" * 40) + "]\nx = 1\n", "data.params.a"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_TOML))
def test_hostile_experiment_files_are_refused_before_anything_runs(tmp_path, capsys, monkeypatch, case):
    body, field = HOSTILE_TOML[case]
    monkeypatch.setenv("MLPLAB_MEMORY_LIMIT", EIGHT_GB)  # the same answer on any machine
    toml = tmp_path / "bad.toml"
    toml.write_text(body)
    out = tmp_path / "out"
    assert main(["run", str(toml), "-o", str(out)]) == 2
    captured = capsys.readouterr()
    err = captured.err
    assert err.startswith("error: ") and "Traceback" not in err and len(err.strip().splitlines()) <= 3, err
    param = err[len("error: "):].split(": expected")[0]  # the parameter comes first
    assert param == field or param.endswith("/" + field) or param.startswith(field + "."), err
    assert "training" not in captured.out  # refused before the first step
    assert not out.exists() or list(out.iterdir()) == []  # nothing written, nothing outside -o either
    assert sorted(p.name for p in tmp_path.iterdir()) in (["bad.toml"], ["bad.toml", "out"])


@pytest.mark.parametrize("case", ["6.4 GB of grid frames", "4 TB of losses"])
def test_memory_refusals_name_the_estimate_and_the_limit(tmp_path, capsys, monkeypatch, case):
    monkeypatch.setenv("MLPLAB_MEMORY_LIMIT", EIGHT_GB)
    toml = tmp_path / "bad.toml"
    toml.write_text(HOSTILE_TOML[case][0])
    assert main(["run", str(toml), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "fits in 8 GB of memory" in err and "MLPLAB_MEMORY_LIMIT" in err
    assert {"6.4 GB of grid frames": "19.2 GB of grid frames", "4 TB of losses": "4 TB of per-step losses"}[case] in err


def test_explain_backprop_of_a_model_too_large_is_refused_before_allocating(capsys, monkeypatch):
    monkeypatch.setenv("MLPLAB_MEMORY_LIMIT", EIGHT_GB)
    assert main(["explain", "backprop", "2-100000-100000-1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: architecture: expected") and "fits in 8 GB" in err and "Traceback" not in err
    assert main(["explain", "backprop", "2-3-1"]) == 0  # a small one is worked through as before
    assert "agree to 1e-9" in capsys.readouterr().out


@pytest.mark.parametrize("value", ["lots", "-1G", "0", "8 parsecs"])
def test_a_bad_memory_limit_is_named(tmp_path, capsys, monkeypatch, value):
    monkeypatch.setenv("MLPLAB_MEMORY_LIMIT", value)
    assert main(["run", "xor-mlp", "--epochs", "3", "-o", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("error: MLPLAB_MEMORY_LIMIT")


@pytest.mark.parametrize("where", ["a file", "under a file", "the run folder is a file"])
def test_an_output_that_cannot_be_written_is_named_before_training(tmp_path, capsys, where):
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    output = {"a file": blocker, "under a file": blocker / "sub", "the run folder is a file": tmp_path}[where]
    if where == "the run folder is a file":
        (tmp_path / "xor-mlp").write_text("not a folder")
    assert main(["run", "xor-mlp", "--epochs", "3", "-o", str(output)]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: -o") and "Traceback" not in captured.err
    assert "training" not in captured.out
    assert blocker.read_text() == "not a folder"


@pytest.mark.skipif(not hasattr(__import__("os"), "geteuid") or __import__("os").geteuid() == 0,
                    reason="root writes into read-only folders")
def test_a_read_only_output_is_named_before_training(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    assert main(["run", "xor-mlp", "--epochs", "3", "-o", str(locked)]) == 2
    assert capsys.readouterr().err.startswith("error: -o")


def test_a_csv_number_too_large_for_float32_is_named_with_its_line(tmp_path, capsys):
    (tmp_path / "d.csv").write_text("a,b,y\n1,2,0\n1e300,3,1\n")
    toml = tmp_path / "csv.toml"
    toml.write_text(f'[data]\nname = "csv"\n[data.params]\npath = "{tmp_path / "d.csv"}"\n[model]\nhidden = [4]\n'
                    'out_activation = "sigmoid"\n[train]\nloss = "bce"\nepochs = 3\n')
    assert main(["run", str(toml), "-o", str(tmp_path / "out")]) == 2
    captured = capsys.readouterr()
    assert "line 3, column 'a': 1e300 is too large for float32" in captured.err and "Traceback" not in captured.err
    assert "training" not in captured.out  # said only once the data is read and training starts


def test_a_malformed_mirror_url_is_named(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MLPLAB_DATA_URL", "htp:/nowhere")
    toml = tmp_path / "m.toml"
    toml.write_text(f'preset = "d2l-mlp"\n[data]\nname = "mnist"\n[data.params]\ndata_dir = "{tmp_path}"\n'
                    "progress = false\n")
    assert main(["run", str(toml), "-o", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.startswith("error: MLPLAB_DATA_URL")


@pytest.fixture
def busy_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize("case", ["busy port", "no such host", "not an address", "someone else's address"])
def test_serve_names_the_option_it_cannot_use(capsys, busy_port, case):
    args, field = {
        "busy port": (["--port", str(busy_port)], "--port"),
        "no such host": (["--host", "no-such-host.invalid"], "--host"),
        "not an address": (["--host", "256.1.1.1"], "--host"),
        "someone else's address": (["--host", "192.0.2.1"], "--host"),  # TEST-NET-1: never this machine's
    }[case]
    assert main(["serve", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {field}") and "Traceback" not in err


def test_serve_open_a_toml_file_loads_its_experiment(tmp_path, monkeypatch, capsys):
    """`mlplab serve --open FILE.toml`: the page opens with the file's experiment, its own fields included."""
    import socket

    import mlplab.web as web
    from mlplab.web.url import config_from_url, playground_url

    opened = {}
    monkeypatch.setattr(web, "serve", lambda host, port, open_browser=False, url=None: opened.update(
        url=url, open=open_browser))
    with socket.socket() as sock:  # a port free now (serve checks that it can listen there)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    toml = tmp_path / "mine.toml"
    toml.write_text('preset = "moons-scratch"\n[model]\nhidden = [12, 5]\n'
                    '[train]\nmomentum = 0.5\nl1 = 0.002\nepochs = 40\n')
    assert main(["serve", "--open", str(toml), "--port", str(port)]) == 0
    assert opened["open"] is True and opened["url"].startswith(f"http://127.0.0.1:{port}/#")
    config = config_from_url(opened["url"])
    assert config["preset"] == "moons-scratch" and config["model"]["hidden"] == [12, 5]
    assert {k: config["train"][k] for k in ("momentum", "l1", "engine")} == {"momentum": 0.5, "l1": 0.002, "engine": "numpy"}
    assert config["stop"] == {"epochs": 40}
    assert opened["url"] == playground_url({"preset": "moons-scratch", "model": {"hidden": [12, 5]},
                                            "train": {"momentum": 0.5, "l1": 0.002, "epochs": 40}}, port=port)
    toml.write_text('preset = "moons-mlp"\n[model]\nfeatures = ["x1", "x1^2"]\n[train]\nengine = "numpy"\n')
    assert main(["serve", "--open", str(toml), "--port", str(port)]) == 2  # the engine cannot run it: named, exit 2
    err = capsys.readouterr().err
    assert err.startswith("error: train.engine") and "Traceback" not in err


def test_run_json_is_strict_json_when_the_loss_diverges(tmp_path):
    """A diverged run's final loss is not a number: run.json says null and the status says why."""
    toml = tmp_path / "boom.toml"
    toml.write_text('preset = "piecewise-mlp"\nname = "boom"\n[train]\nlr = 100\noptimizer = "sgd"\nepochs = 200\n'
                    'loss = "mse_sum"\n[model]\nhidden = [64, 64]\n[data]\nn = 3000\n')
    assert main(["run", str(toml), "-o", str(tmp_path)]) == 0
    text = (tmp_path / "boom" / "run.json").read_text()
    meta = json.loads(text, parse_constant=lambda c: pytest.fail(f"run.json holds {c}"))
    assert meta["status"] == "diverged"


def test_run_json_never_holds_nan_or_infinity(tmp_path):
    """Non-finite numbers become null (JSON has no NaN or Infinity); the status says what happened."""
    from mlplab.training.run import Run, load_run

    run = Run(spec={"name": "r"}, losses=np.array([1.0, np.inf], np.float32), status="diverged",
              metrics={"train_r2": float("-inf"), "val_loss": np.float32("nan"), "ok": np.float64(0.5),
                       "curve": np.array([1.0, np.nan])})
    run.save(tmp_path)
    meta = json.loads((tmp_path / "run.json").read_text(), parse_constant=lambda c: pytest.fail(f"run.json holds {c}"))
    assert meta["final_loss"] is None and meta["status"] == "diverged"
    assert meta["metrics"] == {"train_r2": None, "val_loss": None, "ok": 0.5, "curve": [1.0, None]}
    assert np.isinf(load_run(tmp_path).losses[-1])  # the array itself keeps the truth


@pytest.mark.parametrize("case", ["deep", "output is a file"])
def test_a_sweep_is_refused_before_its_store_is_touched(tmp_path, capsys, case):
    toml = tmp_path / "s.toml"
    store = tmp_path / "store"
    if case == "deep":
        toml.write_text('experiment = "piecewise-mlp"\n[grid]\nseed = ' + "[" * 40 + "0" + "]" * 40 + "\n")
    else:
        toml.write_text('experiment = "piecewise-mlp"\n[grid]\nseed = [0]\n')
        store.write_text("a file")
    assert main(["sweep", str(toml), "-o", str(store), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: " + ("grid.seed" if case == "deep" else "-o")) and "Traceback" not in err
    assert store.is_file() if case != "deep" else not store.exists()



RUN_MOONS = ["run", "moons-mlp", "-o", "."]


@pytest.mark.parametrize("entry, args, during", [
    (["-m", "mlplab"], ["list"], "numpy"),  # imported by the package itself, before mlplab/__main__.py runs
    (["-m", "mlplab"], ["list"], "typer"),  # imported by mlplab.cli
    (["-c", "import sys; sys.argv[0] = 'mlplab'; from mlplab.cli import main; sys.exit(main())"], ["list"], "rich"),
    (["-m", "mlplab"], RUN_MOONS, "torch.nn.modules.linear"),  # torch half-imported: a Ctrl-C a second after start
], ids=["package import", "cli import", "script entry", "torch import"])
def test_ctrl_c_while_the_cli_starts_is_not_a_traceback(tmp_path, entry, args, during):
    """SIGINT while the command's modules load, from its first tenths of a second on (issue 20)."""
    import os
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-X", "importtime", *entry, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    for line in proc.stderr:  # -X importtime reports each module as it finishes
        if line.startswith("import time:") and during in line.rsplit("|", 1)[-1]:
            proc.send_signal(signal.SIGINT)
            break
    out, err = proc.communicate(timeout=300)
    err = "\n".join(line for line in err.splitlines() if not line.startswith("import time:"))
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err
    assert not (tmp_path / "moons-mlp").exists()


@pytest.mark.parametrize("body, answer", [
    (None, "lbfgs"),  # the preset sine-mlp-lbfgs: the page trains it with L-BFGS
    ('preset = "moons-mlp"\n[train]\ngrid = 50\n', "moons"),  # a recording field the page draws its own way
    ('preset = "moons-mlp"\n[grid]\nseed = [0, 1]\n', "grid"),  # a sweep's grid: refused by name
    ('experiment = "moons-mlp"\nname = "g"\n[grid]\nseed = [0, 1]\n', "experiment"),  # a sweep file
    ('preset = "moons-mlp"\n[train]\ngrid = 100000\n', "train.grid"),
])
def test_serve_open_either_serves_the_page_or_names_the_field_without_serving(tmp_path, capsys, monkeypatch,
                                                                              body, answer):
    """`serve --open` never starts a server for what the page cannot load, and never waits to say so."""
    import mlplab.web as web

    served = {}
    monkeypatch.setattr(web, "serve", lambda host, port, open_browser=False, url=None: served.update(url=url))
    target = "sine-mlp-lbfgs"
    if body is not None:
        target = str(tmp_path / "spec.toml")
        (tmp_path / "spec.toml").write_text(body)
    code = main(["serve", "--open", target, "--port", "8124"])
    if answer in ("lbfgs", "moons"):
        assert code == 0 and answer in served["url"]
    else:
        assert code == 2 and not served
        assert capsys.readouterr().err.startswith(f"error: {answer}:")
