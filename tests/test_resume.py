"""Runs that can be continued and a record that tells the truth: the training state on disk, resumed in a
new process; segments in run.json; changes that cannot continue a trajectory refused by name; Ctrl-C and
SIGTERM leaving a run that resumes; scikit-learn's predict / predict_proba / score on a trained Run."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import mlplab
from mlplab import build_model, make_dataset, train
from mlplab.cli import main
from mlplab.errors import SpecError
from mlplab.training.callbacks import Callback
from mlplab.training.run import load_run

# The child processes import mlplab from the same tree as this test run.
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([os.path.dirname(mlplab.__path__[0]), os.environ.get("PYTHONPATH", "")])}


def _model(**kw):
    return build_model(in_dim=2, hidden=[12, 12], out_dim=1, out_activation="sigmoid", seed=3, **kw)


DATA = dict(name="moons", n=120, noise=0.2, seed=1)


def _kw(engine, batch_size, optimizer="adam"):
    return dict(optimizer=optimizer, lr=0.05, momentum=0.9 if optimizer == "sgd" else 0.0, loss="bce",
                engine=engine, batch_size=batch_size, frames=10)


@pytest.mark.parametrize("engine", ["torch", "fused", "numpy", "compiled"])
@pytest.mark.parametrize("batch_size", [None, 50])
def test_resume_from_disk_in_a_fresh_process_equals_the_uninterrupted_run(tmp_path, engine, batch_size):
    """Train 4 epochs, save, and in another Python process load_run(dir).resume(5): the losses and weights
    equal one run of 9 epochs bit for bit (batch order mid-epoch included: 120 rows in batches of 50)."""
    opt = "sgd" if batch_size else "adam"
    whole = train(_model(), make_dataset(**DATA), epochs=9, **_kw(engine, batch_size, opt))
    half = train(_model(), make_dataset(**DATA), epochs=4, **_kw(engine, batch_size, opt))
    half.save(tmp_path / "run")
    assert (tmp_path / "run" / "state.npz").is_file()
    child = textwrap.dedent(f"""
        import numpy as np, torch
        from mlplab.training.run import load_run
        run = load_run({str(tmp_path / 'run')!r}).resume(5)
        np.save({str(tmp_path / 'losses.npy')!r}, run.losses)
        torch.save(run.model.state_dict(), {str(tmp_path / 'weights.pt')!r})
        run.save({str(tmp_path / 'run')!r})
    """)
    subprocess.run([sys.executable, "-c", child], check=True, env=ENV, timeout=300)
    losses = np.load(tmp_path / "losses.npy")
    assert np.array_equal(losses, whole.losses)
    weights = torch.load(tmp_path / "weights.pt", weights_only=True)
    for name, value in whole.model.state_dict().items():
        assert torch.equal(weights[name], value), name
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert meta["steps"] == whole.steps and meta["resumable"] is True
    assert [s["start"] for s in meta["segments"]] == [0, half.steps]
    assert [s["engine"] for s in meta["segments"]] == [engine, engine]


def test_a_resumed_record_holds_every_segment_and_the_settings_in_force(tmp_path):
    run = train(_model(), make_dataset(**DATA), epochs=3, **_kw("fused", None, "sgd"))
    more = run.resume(5, lr=0.5)
    assert more.steps == 8 and more.spec["train"]["lr"] == 0.5 and more.spec["train"]["epochs"] == 5
    assert more.segments[0]["train"]["lr"] == 0.05 and more.segments[0]["steps"] == 3
    assert more.segments[1] == {"start": 3, "steps": 5, "engine": "fused", "status": "finished",
                                "changed": {"lr": 0.5, "epochs": 5}}
    more.save(tmp_path)
    meta = json.loads((tmp_path / "run.json").read_text())
    assert meta["segments"] == more.segments and meta["spec"]["train"]["lr"] == 0.5
    assert load_run(tmp_path).segments == more.segments


class SetLR(Callback):
    """Changes the learning rate (and momentum) at one step, as a live change would."""

    def __init__(self, step, lr):
        self.at, self.lr = step, lr

    def on_step_end(self, t, step, loss, pred):
        if step == self.at - 1:  # after this step's update, the next step uses the new rate
            self.pending = True

    def on_epoch_end(self, t, epoch):
        if getattr(self, "pending", False):
            t.engine.lr, self.pending = self.lr, False


@pytest.mark.parametrize("engine", ["torch", "fused", "compiled"])
def test_a_changed_learning_rate_takes_effect_on_resume(engine):
    """resume(lr=...) really trains with the new rate (the optimizer's saved state does not bring the old
    one back): the same losses as one run whose rate a callback changes at the same step."""
    kw = _kw(engine, None, "sgd")
    steered = train(_model(), make_dataset(**DATA), epochs=10, callbacks=[SetLR(4, 0.2)], **kw)
    resumed = train(_model(), make_dataset(**DATA), epochs=4, **kw).resume(6, lr=0.2)
    np.testing.assert_array_equal(resumed.losses, steered.losses)


@pytest.mark.parametrize("change", [
    {"optimizer": "adam"}, {"loss": "mse"}, {"seed": 5}, {"grid": 20}, {"snapshots": True}, {"engine": "torch"},
    {"val_fraction": 0.2},
])
def test_changes_that_cannot_continue_a_trajectory_are_refused_by_name(change):
    run = train(_model(), make_dataset(**DATA), epochs=2, **_kw("fused", None, "sgd"))
    (field, value), = change.items()
    with pytest.raises(SpecError, match=rf"^train\.{field}: expected .*as in the run being resumed"):
        run.resume(2, **change)


def test_another_model_or_data_is_refused_on_resume():
    data = make_dataset(**DATA)
    run = train(_model(), data, epochs=2, **_kw("fused", None, "sgd"))
    with pytest.raises(SpecError, match="^model: expected the resumed run's own model"):
        train(_model(), None, None, resume=run, epochs=2)
    with pytest.raises(SpecError, match="^data: expected the resumed run's own data"):
        train(None, make_dataset(**DATA), None, resume=run, epochs=2)


def test_continuable_changes_are_recorded_and_a_new_batch_size_starts_a_fresh_epoch():
    run = train(_model(), make_dataset(**DATA), epochs=2, **_kw("fused", 50, "sgd"))
    more = run.resume(2, batch_size=60, momentum=0.5, weight_decay=0.01, l1=0.001)
    assert more.steps == run.steps + 4  # 120 rows in batches of 60
    assert more.segments[-1]["changed"] == {"batch_size": 60, "momentum": 0.5, "weight_decay": 0.01, "l1": 0.001}


def test_a_diverged_run_or_one_without_state_is_refused(tmp_path):
    run = train(_model(), make_dataset(**DATA), epochs=3, **{**_kw("fused", None, "sgd"), "lr": 100.0,
                                                              "momentum": 0.99})
    if run.status == "diverged":
        with pytest.raises(SpecError, match="^resume: expected a run that did not diverge"):
            run.resume(2)
    run = train(_model(), make_dataset(**DATA), epochs=2, **_kw("fused", None, "sgd"))
    run.save(tmp_path)
    (tmp_path / "state.npz").unlink()
    with pytest.raises(SpecError, match="^resume: expected a Run that kept its training state"):
        load_run(tmp_path).resume(2)
    (tmp_path / "state.npz").write_bytes(b"not a state")
    with pytest.raises(mlplab.errors.DataFileError, match="state.npz"):
        load_run(tmp_path)


def test_early_stopping_goes_on_counting_across_a_resume():
    """Patience and the best weights carry over: stopping after a resume happens at the same epoch with the
    same restored weights as without the break."""

    class Break(Callback):
        def on_epoch_end(self, t, epoch):
            if epoch == 20:  # two epochs after the best (18): the count must go on
                raise KeyboardInterrupt

    data = make_dataset("moons", n=200, noise=0.35, seed=2)
    kw = dict(optimizer="adam", lr=0.02, loss="bce", engine="fused", val_fraction=0.3, patience=3, frames=0)
    whole = train(_model(), data, epochs=80, **kw)
    assert whole.status == "stopped early" and whole.steps == 22
    cut = train(_model(), data, epochs=80, callbacks=[Break()], **kw)
    assert cut.status == "interrupted" and cut.steps == 21
    rest = cut.resume(80 - 21)
    assert rest.status == "stopped early" and rest.steps == whole.steps
    np.testing.assert_array_equal(rest.losses, whole.losses)
    np.testing.assert_array_equal(rest.epoch_metrics["val_loss"], whole.epoch_metrics["val_loss"])
    for (name, a), b in zip(rest.model.state_dict().items(), whole.model.state_dict().values()):
        assert torch.equal(a, b), name


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_cli_run_stopped_by_a_signal_resumes_from_its_folder(tmp_path, sig):
    """`mlplab run` stopped by Ctrl-C or SIGTERM saves a run that `mlplab run DIR --resume --epochs N`
    continues; the whole equals one uninterrupted run of as many steps."""
    toml = tmp_path / "long.toml"
    toml.write_text('preset = "moons-mlp"\n[train]\nepochs = 1000000\nframes = 20\ngrid = 0\nsnapshots = false\n'
                    'engine = "torch"\n')  # minutes for a million steps: the signal lands while it trains
    proc = subprocess.Popen([sys.executable, "-m", "mlplab", "run", str(toml), "-o", str(tmp_path), "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    for line in proc.stdout:  # the command says so right before the first step
        if "training" in line:
            break
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    folder = tmp_path / "long"
    first = load_run(folder)
    assert first.status == "interrupted" and first.training_state is not None
    assert main(["run", str(folder), "--resume", "--epochs", "7", "--no-progress"]) == 0
    resumed = load_run(folder)
    assert resumed.steps == first.steps + 7 and resumed.status == "finished"
    exp = mlplab.api.resolve(mlplab.cli.load_experiment(str(toml)), train={"epochs": resumed.steps, "frames": 0})
    _, data, model = mlplab.api.prepare(exp)
    again = train(model, data, exp.train)
    np.testing.assert_array_equal(resumed.losses, again.losses)


def test_resume_in_the_cli_continues_an_interrupted_run_to_its_planned_length(tmp_path):
    class Stop(Callback):
        def on_epoch_end(self, t, epoch):
            if epoch == 9:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt) as stop:
        mlplab.run("xor-mlp", epochs=25, callbacks=[Stop()], progress=False)
    stop.value.run.save(tmp_path / "xor")
    assert main(["run", str(tmp_path / "xor"), "--resume", "--no-progress"]) == 0
    assert load_run(tmp_path / "xor").steps == 25
    assert main(["run", str(tmp_path / "xor"), "--resume", "--no-progress"]) == 2  # finished: say how many more
    assert main(["run", str(tmp_path / "nothing"), "--resume"]) == 2
    assert main(["run", str(tmp_path / "xor"), "--resume", "--seed", "3"]) == 2


# ------------------------------------------------------------------ scikit-learn's habits

@pytest.mark.parametrize("engine", ["torch", "fused", "numpy"])
def test_predict_proba_and_score_follow_the_trained_model_of_any_engine(engine):
    data = make_dataset(**DATA)
    run = train(_model(), data, epochs=30, **_kw(engine, None))
    proba = run.predict_proba(data.X)
    assert proba.shape == (len(data.X), 2) and np.allclose(proba.sum(1), 1)
    with torch.no_grad():
        p = run.model(torch.from_numpy(data.X.astype(np.float32))).numpy()[:, 0]
    np.testing.assert_allclose(proba[:, 1], p, rtol=1e-6)
    assert np.array_equal(run.predict(data.X), (p > 0.5).astype(np.int64))
    assert run.score(data.X, data.y) == pytest.approx(run.metrics["train_accuracy"])


def test_predict_and_score_for_regression_and_multiclass():
    reg = mlplab.run("sine-mlp-5", epochs=30, progress=False)
    X = reg.data.X
    assert reg.predict(X).shape == (len(X),)
    assert reg.score(X, reg.data.y) == pytest.approx(reg.metrics["train_r2"], rel=1e-5)
    with pytest.raises(SpecError, match="^predict_proba: expected a classification run"):
        reg.predict_proba(X)
    data = make_dataset("blobs", n=90, seed=0) if "blobs" in mlplab.data.GENERATORS else None
    if data is not None and data.task == "multiclass":
        model = build_model(in_dim=2, hidden=[8], out_dim=data.d_out, seed=0)
        run = train(model, data, epochs=20, loss="ce", lr=0.05)
        proba = run.predict_proba(data.X)
        assert proba.shape == (90, data.d_out) and np.allclose(proba.sum(1), 1)
        assert np.array_equal(run.predict(data.X), proba.argmax(1))
        assert run.score(data.X, data.y) == pytest.approx(run.metrics["train_accuracy"])


@pytest.mark.parametrize("X, message", [
    ("abc", r"^X: expected an array of numbers"),
    (np.zeros((4, 3)), r"^X: expected an array of shape \(n, 2\)"),
    (np.array([[np.nan, 0.0]]), r"^X: expected finite numbers"),
])
def test_bad_inputs_to_predict_are_refused_by_name(X, message):
    run = train(_model(), make_dataset(**DATA), epochs=2, **_kw("fused", None))
    with pytest.raises(SpecError, match=message):
        run.predict(X)
    with pytest.raises(SpecError, match=r"^y: expected 120 targets"):
        run.score(run.data.X, run.data.y[:5])
