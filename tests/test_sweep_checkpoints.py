"""A sweep's long runs keep checkpoints: a run trained one by one saves its training state every few
seconds, a sweep killed with kill -9 leaves a checkpoint that continues exactly, and a sweep started again
goes on from it (or from a run Ctrl-C interrupted) instead of from step 0."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import mlplab
from mlplab.api import prepare, resolve, run_experiment
from mlplab.errors import SpecError
from mlplab.sweep import checkpoint as C
from mlplab.sweep import sweep
from mlplab.training.callbacks import Callback
from mlplab.training.loop import train

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([os.path.dirname(mlplab.__path__[0]), os.environ.get("PYTHONPATH", "")])}


def _exp(epochs):
    return resolve("piecewise-residual", train={"epochs": epochs, "engine": "fused", "frames": 10, "snapshots": False})


def test_a_checkpointed_run_equals_one_trained_in_one_go(tmp_path):
    exp = _exp(400)
    whole = run_experiment(exp, progress=False)
    parts = C.train_checkpointed(exp, [], tmp_path / "ck", every_s=0.0)  # a checkpoint after every epoch
    np.testing.assert_array_equal(parts.losses, whole.losses)
    assert parts.status == "finished" and parts.steps == whole.steps
    assert len(parts.segments) == 1 and parts.segments[0]["checkpoints"] >= 1
    assert parts.spec["train"]["epochs"] == 400 and parts.segments[0]["train"]["epochs"] == 400
    assert not (tmp_path / "ck").exists()  # a finished run needs no checkpoint
    assert np.all(np.diff(parts.frame_steps) > 0) and parts.frame_steps[-1] == 400
    np.testing.assert_array_equal(parts.frames[-1], whole.frames[-1])  # the trained model, as one run ends


def test_kill_9_leaves_a_checkpoint_that_continues_exactly(tmp_path):
    folder = tmp_path / "ck"
    child = textwrap.dedent(f"""
        from pathlib import Path
        from mlplab.api import resolve
        from mlplab.sweep.checkpoint import train_checkpointed
        exp = resolve("piecewise-residual", train={{"epochs": 1000000, "engine": "fused", "frames": 10,
                                                    "snapshots": False}})
        train_checkpointed(exp, [], Path({str(folder)!r}), every_s=0.05)
    """)
    proc = subprocess.Popen([sys.executable, "-c", child], env=ENV)
    try:
        deadline = time.monotonic() + 300  # a guard against waiting forever, not a speed claim
        while not (folder / "state.npz").is_file() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        time.sleep(0.2)  # let it train past the first checkpoint, maybe into a second save
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    saved = C._latest(_exp(1000000), [folder, C._aside(folder)])  # a kill mid-swap leaves the previous one
    assert saved is not None and saved.status == "checkpoint" and saved.steps > 0
    more = saved.resume(25)
    exp = _exp(saved.steps + 25)
    _, data, model = prepare(exp)
    again = train(model, data, exp.train.replace(frames=0))
    np.testing.assert_array_equal(more.losses, again.losses)


def test_a_sweep_goes_on_from_an_interrupted_run_instead_of_step_0(tmp_path):
    class CtrlC(Callback):
        def on_epoch_end(self, t, epoch):
            if epoch == 149:
                raise KeyboardInterrupt

    grid = {"train.epochs": [300], "train.engine": ["fused"], "train.snapshots": [False]}
    with pytest.raises(KeyboardInterrupt):
        sweep("piecewise-residual", grid, out=tmp_path, progress=False, callbacks=[CtrlC()])
    frame = sweep("piecewise-residual", grid, out=tmp_path, progress=False)
    assert list(frame.status) == ["finished"] and list(frame.steps) == [300]
    run = mlplab.store.Store(tmp_path).load(frame.run_id[0])
    assert run.segments[0]["checkpoints"] == 1 and run.segments[0]["steps"] == 300
    whole = run_experiment(_exp(300), progress=False)
    np.testing.assert_array_equal(run.losses, whole.losses)


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), "60", True])
def test_the_checkpoint_interval_is_checked(bad, tmp_path):
    with pytest.raises(SpecError, match="^checkpoint_s: expected a positive number of seconds"):
        sweep("piecewise-residual", {"seed": [0]}, out=tmp_path, checkpoint_s=bad, progress=False)
