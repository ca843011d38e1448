"""A `--executor process` sweep under signals (issue 20): kill -9 of the sweep takes its workers with it;
SIGINT or SIGTERM to the sweep's own process ends it at once (exit 130), workers included, keeping what
was stored; a sweep whose every run is refused makes no store.

Each test waits on a line a worker prints once it trains (a sitecustomize.py given to the workers
only), never on a sleep."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from test_cli import PRELUDE

import mlplab
from mlplab.errors import MlplabError

# Loaded by every Python process that finds it on its path; it acts only in a pool worker (started
# by multiprocessing's spawn with --multiprocessing-fork), where test_cli's prelude makes it print MARK
# once it trains.
SITE = "import sys\nif '--multiprocessing-fork' in sys.argv:\n" + textwrap.indent(PRELUDE, "    ")

# Three shapes: three groups, two workers, so one group is still queued when the signal comes
# On the torch engine a million steps take minutes (seconds on the compiled engine, which would let the sweep
# end before the signal on a loaded machine).
LONG = ('experiment = "piecewise-mlp"\nname = "long"\n[grid]\n"train.epochs" = [1000000]\n'
        '"model.hidden" = [[2], [3], [4]]\n"train.engine" = ["torch"]\n')


def _start(tmp_path: Path) -> subprocess.Popen:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITE)
    src = str(Path(mlplab.__file__).resolve().parents[1])
    (tmp_path / "long.toml").write_text(LONG)
    # a session of its own: the signal goes to the sweep's process only, as `kill PID` sends it
    return subprocess.Popen([sys.executable, "-m", "mlplab", "sweep", "long.toml", "-o", "store", "--executor",
                             "process", "--workers", "2", "--no-progress"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join([str(site), src]),
                                 "PYTHONUNBUFFERED": "1"})


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # a zombie has ended; only its parent's bookkeeping is left


def _wait_for_mark(proc: subprocess.Popen) -> None:
    for line in proc.stdout:  # blocks until a worker prints; ends if the sweep exits first
        if line.strip() == "MARK":
            return
    raise AssertionError(f"no worker trained: {proc.communicate()[1]}")


def _gone(pids: list[int], within_s: float = 60.0) -> list[int]:
    """The pids still running after ``within_s`` (a bound for a hang, far above the second they take)."""
    import time

    deadline = time.monotonic() + within_s
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    return [p for p in pids if _alive(p)]


needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc to find the workers")


@needs_proc
def test_kill_9_of_a_process_sweep_takes_its_workers_with_it(tmp_path):
    proc = _start(tmp_path)
    try:
        _wait_for_mark(proc)
        workers = _children(proc.pid)
        assert len(workers) >= 2
        proc.kill()  # SIGKILL: the sweep cannot clean up; the workers must notice by themselves
        proc.communicate()
        assert _gone(workers) == []
    finally:
        for pid in _children(proc.pid):
            os.kill(pid, signal.SIGKILL)


@needs_proc
@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_sigint_or_sigterm_ends_a_process_sweep_at_once(tmp_path, signame):
    proc = _start(tmp_path)
    try:
        _wait_for_mark(proc)
        workers = _children(proc.pid)
        proc.send_signal(getattr(signal, signame))
        out, err = proc.communicate(timeout=120)  # the workers' runs would take hours: ending here is the test
        assert proc.returncode == 130, err
        assert "Traceback" not in err and "interrupted" in err
        assert _gone(workers) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    from mlplab.store import Store

    store = Store(tmp_path / "store")
    assert all(store.check(run_id) == "ok" for run_id in store.ids())  # whatever is indexed is whole


def test_a_sweep_whose_every_run_is_refused_makes_no_store(tmp_path, capsys):
    from mlplab.cli import main
    from mlplab.sweep import sweep

    with pytest.raises(MlplabError, match="every run of sweep 'moons-mlp.*' failed: model.hidden"):
        sweep("moons-mlp", {"model.hidden": [[100000, 100000], [90000, 90000]]}, out=tmp_path / "store",
              progress=False)
    assert not (tmp_path / "store").exists()
    toml = tmp_path / "huge.toml"
    toml.write_text('experiment = "moons-mlp"\nname = "huge"\n[grid]\n"model.hidden" = [[100000, 100000]]\n')
    assert main(["sweep", str(toml), "-o", str(tmp_path / "cli"), "--no-progress"]) == 2
    assert "model.hidden" in capsys.readouterr().err
    assert not (tmp_path / "cli" / "index.sqlite").exists() and not (tmp_path / "cli" / "runs").exists()


def test_a_refused_run_beside_good_ones_is_a_failed_row_and_the_rest_train(tmp_path):
    from mlplab.sweep import sweep

    exp = mlplab.experiment("moons-mlp", train={"epochs": 3})
    df = sweep(exp, {"model.hidden": [[3], [100000, 100000]]}, out=tmp_path, progress=False)
    status = dict(zip(df["model.hidden"], df.status))
    assert status == {(3,): "finished", (100000, 100000): "failed"}
    assert "model.hidden" in df.set_index("status").loc["failed", "message"]
    assert not (tmp_path / "runs" / df.set_index("status").loc["failed", "run_id"]).exists()
