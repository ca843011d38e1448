"""The training loop: the notebooks' step bit for bit, the fused path within 1e-5, callbacks, failures."""

import numpy as np
import pytest
import torch

import mlplab
from mlplab import SpecError, build_model, load_run, make_dataset, train
from mlplab.data.dataset import _replace
from mlplab.training.callbacks import Callback, frame_schedule
from mlplab.training.loop import threads_for

import seed_reference as ref

SEED_EXPERIMENTS = {
    # preset -> the seed model that notebook trains on it
    "rotation-linear": lambda: _seed_linear(),
    "piecewise-linear": lambda: _seed_linear(),
    "piecewise-mlp": lambda: ref.SeedMLP(2, 2, 2),
    "piecewise-residual": lambda: ref.SeedResidual(2, 2, 2),
    "piecewise-residual-bn": lambda: ref.SeedResidual(2, 2, 2, bn=True),
    "practice-linear": lambda: _seed_linear(),
    "practice-mlp": lambda: ref.SeedMLP(2, 2, 2),
    "practice-residual": lambda: ref.SeedResidual(2, 2, 2),
    "practice-residual-bn": lambda: ref.SeedResidual(2, 2, 2, bn=True),
}
STEPS = 300


def _seed_linear():
    layer = torch.nn.Linear(2, 2)
    layer.weight.data = torch.eye(2)
    layer.bias.data = torch.zeros(2)
    return layer


def _seed_losses(name, data=None):
    """The notebooks' loop, under the same thread policy as mlplab's (a reduction's bits depend on the thread count)."""
    exp = mlplab.experiment(name)
    data = data or exp.make_data()
    X, y = torch.from_numpy(data.X), torch.from_numpy(data.y)
    model = SEED_EXPERIMENTS[name]()
    with threads_for(model, len(X)):
        return ref.seed_train_model(model, X, y, lr=exp.train.lr, epochs=STEPS), exp, data


@pytest.mark.parametrize("name", list(SEED_EXPERIMENTS))
def test_reference_path_is_the_seeds_train_model_bit_for_bit(name):
    seed_losses, exp, data = _seed_losses(name)
    run = train(exp.make_model(), data, exp.train.replace(epochs=STEPS, fused=False))
    assert run.engine == "reference"
    assert run.losses.dtype == np.float32 and len(run.losses) == STEPS
    assert np.array_equal(run.losses, np.asarray(seed_losses, dtype=np.float32))


@pytest.mark.parametrize("name", [n for n in SEED_EXPERIMENTS if not n.endswith("-bn")])
def test_fused_path_within_1e5_relative(name):
    seed_losses, exp, data = _seed_losses(name)
    run = train(exp.make_model(), data, exp.train.replace(epochs=STEPS, fused=True))
    assert run.engine == "fused"
    rel = np.abs(run.losses - np.asarray(seed_losses)) / np.abs(np.asarray(seed_losses))
    assert rel.max() <= 1e-5


@pytest.mark.parametrize("name", [n for n in SEED_EXPERIMENTS if n.endswith("-bn")])
def test_fused_batch_norm_stays_inside_the_reference_own_sensitivity(name):
    """With identity init and batch norm, several parameters have an exactly zero true gradient (scale
    invariance); Adam turns their float32 rounding noise into full-size steps, so ANY change of rounding
    (here: the same data in another row order, through the notebooks' own loop) moves the loss curve by
    more than 1e-5 within a few steps. The fused path must agree at the first steps and stay inside
    that envelope; the bit-exact reference path is the one to compare curves with."""
    seed_losses, exp, data = _seed_losses(name)
    seed_losses = np.asarray(seed_losses)
    perm = np.random.default_rng(0).permutation(data.n)
    shuffled, _, _ = _seed_losses(name, _replace(data, X=data.X[perm], y=data.y[perm]))
    envelope = np.max(np.abs(np.asarray(shuffled) - seed_losses) / seed_losses)
    run = train(exp.make_model(), data, exp.train.replace(epochs=STEPS, fused=True))
    rel = np.abs(run.losses - seed_losses) / seed_losses
    assert rel[0] <= 1e-6
    assert rel.max() <= max(2 * envelope, 1e-5)


def _data():
    return make_dataset("piecewise")


def test_same_seed_same_run_bit_for_bit():
    exp = mlplab.experiment("moons-mlp", train={"epochs": 50})
    a, b = exp.run(), exp.run()
    assert np.array_equal(a.losses, b.losses) and np.array_equal(a.frames, b.frames)
    assert np.array_equal(a.grid_frames, b.grid_frames)


def test_minibatches_are_seeded_and_count_steps():
    data = make_dataset("moons", n=100)
    kw = dict(optimizer="adam", lr=0.01, loss="bce", epochs=3, batch_size=32)
    m = lambda: build_model(hidden=[8], out_activation="sigmoid")  # noqa: E731
    a, b = train(m(), data, seed=1, **kw), train(m(), data, seed=1, **kw)
    c = train(m(), data, seed=2, **kw)
    assert len(a.losses) == 3 * 4 and np.array_equal(a.losses, b.losses) and not np.array_equal(a.losses, c.losses)
    assert a.frames.shape[1:] == (100, 1)


def test_recorder_schedule_and_frames_are_the_step_outputs():
    assert list(frame_schedule(10, 3)) == [0, 5, 10]
    assert list(frame_schedule(3, 100)) == [0, 1, 2, 3]
    data = _data()
    model = build_model(in_dim=2, out_dim=2, hidden=[2], init="identity")
    run = train(model, data, epochs=40, frames=5, fused=False)
    assert list(run.frame_steps) == [0, 10, 20, 29, 39]
    with torch.no_grad():  # frame 0 is the untrained identity-initialised model's output
        expected = build_model(in_dim=2, out_dim=2, hidden=[2], init="identity")(torch.from_numpy(data.X))
    assert np.array_equal(run.frames[0], expected.numpy())


def test_snapshots_and_grid():
    exp = mlplab.experiment("moons-mlp", train={"epochs": 20, "frames": 4, "grid": 10})
    run = exp.run()
    assert run.grid_frames.shape == (4, 10, 10, 1)
    assert run.snapshots["net.0.weight"].shape == (4, 32, 2)
    final = dict(run.model.named_parameters())["net.0.weight"].detach().numpy()
    assert not np.array_equal(run.snapshots["net.0.weight"][0], final)


def test_divergence_keeps_what_was_recorded():
    data = _data()
    model = build_model(in_dim=2, out_dim=2, hidden=[16, 16])
    run = train(model, data, optimizer="sgd", lr=50.0, epochs=200, fused=False)
    assert run.status == "diverged"
    assert "train.lr" in run.message and "step" in run.message
    assert 0 < len(run.losses) < 200 and np.isfinite(run.losses).all()
    assert run.frames is not None and len(run.frames) >= 1


def test_fused_divergence_too():
    data = _data()
    run = train(build_model(in_dim=2, out_dim=2, hidden=[16, 16]), data, optimizer="sgd", lr=50.0, epochs=200, fused=True)
    assert run.status == "diverged" and np.isfinite(run.losses).all()


class _Interrupt(Callback):
    def __init__(self, at):
        self.at = at

    def on_step_end(self, t, step, loss, pred):
        if step == self.at:
            raise KeyboardInterrupt


@pytest.mark.parametrize("fused", [False, True])
def test_ctrl_c_returns_the_partial_run(tmp_path, fused):
    data = _data()
    run = train(build_model(in_dim=2, out_dim=2, hidden=[2]), data, epochs=500, fused=fused, callbacks=[_Interrupt(123)])
    assert run.status == "interrupted" and len(run.losses) == 123
    run.save(tmp_path)
    back = load_run(tmp_path)
    assert back.status == "interrupted" and np.array_equal(back.losses, run.losses)


def test_save_load_round_trip(tmp_path):
    run = mlplab.experiment("xor-mlp", train={"epochs": 30}).run()
    run.save(tmp_path / "r")
    back = load_run(tmp_path / "r")
    assert np.array_equal(back.losses, run.losses) and np.array_equal(back.frames, run.frames)
    assert np.array_equal(back.grid_frames, run.grid_frames) and back.metrics == pytest.approx(run.metrics)
    x = torch.from_numpy(run.data.X)
    with torch.no_grad():
        assert torch.equal(back.model(x), run.model(x))
    assert back.data.task == "binary"


def test_metrics_per_task():
    run = mlplab.experiment("moons-mlp").run()
    assert run.metrics["train_accuracy"] >= 0.9  # notebook 002's network on its data
    reg = mlplab.experiment("sine-mlp-10").run()
    assert reg.metrics["train_r2"] > 0.9


def test_validation_split_and_early_stopping():
    data = make_dataset("moons", n=200, noise=0.3)
    model = build_model(hidden=[64, 64], out_activation="sigmoid")
    run = train(model, data, optimizer="adam", lr=0.05, loss="bce", epochs=400, batch_size=20, val_fraction=0.3, patience=5)
    assert run.status == "stopped early" and "restored" in run.message
    assert set(run.epoch_metrics) >= {"train_loss", "val_loss", "train_accuracy", "val_accuracy"}
    assert "val_accuracy" in run.metrics


@pytest.mark.parametrize("fields,param", [
    (dict(loss="ce"), "train.loss"),
    (dict(loss="bce_logits"), "model.out_activation"),
    (dict(lr=-1), "train.lr"),
    (dict(epochs=0), "train.epochs"),
    (dict(optimiser="adam"), "train.optimiser"),
])
def test_incompatible_or_bad_training_spec(fields, param):
    data = make_dataset("moons")
    with pytest.raises(SpecError) as info:
        train(build_model(hidden=[4], out_activation="sigmoid"), data, **{"loss": "bce", **fields})
    assert str(info.value).startswith(param)


def test_shape_mismatch_names_the_field():
    with pytest.raises(SpecError, match="model.out_dim"):
        train(build_model(in_dim=2, out_dim=1), make_dataset("piecewise"), epochs=1)



def test_fused_batch_norm_running_statistics_match_torch():
    """The fused batch norm keeps batch statistics and folds them in later: same buffers as torch's
    step-by-step update, for the same sequence of batches (no training, so nothing chaotic)."""
    from mlplab.training.fused import _BatchNorm, _Params

    torch.manual_seed(0)
    ours_module, ref = torch.nn.BatchNorm1d(3), torch.nn.BatchNorm1d(3)
    fused = _BatchNorm(ours_module, _Params(ours_module))
    for step in range(300):
        x = torch.randn(50, 3) * (1 + step / 100) + step / 50
        y_ref = ref(x)
        y = fused.forward(x.numpy())
        np.testing.assert_allclose(y, y_ref.detach().numpy(), rtol=1e-5, atol=1e-5)
        if step in (0, 137):
            fused.sync()
    fused.sync()
    np.testing.assert_allclose(ours_module.running_mean.numpy(), ref.running_mean.numpy(), rtol=1e-5)
    np.testing.assert_allclose(ours_module.running_var.numpy(), ref.running_var.numpy(), rtol=1e-5)
    assert int(ours_module.num_batches_tracked) == int(ref.num_batches_tracked) == 300


def test_frames_on_large_data_follow_a_bounded_subset_and_zero_frames_record_nothing(tmp_path):
    from mlplab.training.callbacks import FRAME_ROWS

    data = make_dataset("circle", n=5000, noise=0.1)
    model = build_model(hidden=[8], out_activation="sigmoid")
    run = train(model, data, optimizer="adam", lr=0.01, loss="bce", epochs=2, batch_size=500, frames=3)
    assert run.frames.shape == (3, FRAME_ROWS, 1) and len(run.frame_rows) == FRAME_ROWS
    framed = run.framed()
    with torch.no_grad():  # the last frame is the model before its last update, on exactly those rows
        assert framed.data.n == FRAME_ROWS and np.array_equal(framed.data.X, data.X[run.frame_rows])
    run.save(tmp_path)
    assert np.array_equal(load_run(tmp_path).frame_rows, run.frame_rows)
    mlplab.viz.animate(run)  # the views cut the data to the same rows
    quiet = train(build_model(hidden=[8], out_activation="sigmoid"), data, optimizer="adam", lr=0.01, loss="bce",
                  epochs=2, batch_size=500, frames=0)
    assert quiet.frames is None and len(quiet.losses) == 20
    quiet.save(tmp_path / "q")
    mlplab.viz.write_report(quiet, tmp_path / "q" / "report.html")


@pytest.mark.parametrize("in_dim", [64, 784])
def test_fused_minibatch_cross_entropy_matches_the_reference(in_dim):
    """Mini-batches from the same seeded permutation (the last one partial), softmax cross-entropy,
    SGD and Adam: the fused path follows autograd + torch.optim step by step, small and large."""
    from mlplab.data import Dataset

    rng = np.random.default_rng(0)
    data = Dataset(X=rng.standard_normal((1000, in_dim), dtype=np.float32), y=rng.integers(0, 10, 1000),
                   task="multiclass", name="random")
    model = lambda: build_model(in_dim=in_dim, hidden=[256], out_dim=10, seed=1)  # noqa: E731
    for opt, lr in (("sgd", 0.1), ("adam", 1e-3)):
        kw = dict(optimizer=opt, lr=lr, loss="ce", batch_size=256, epochs=3, frames=4, seed=2)
        ref_run, fused_run = (train(model(), data, fused=f, **kw) for f in (False, True))
        assert fused_run.engine == "fused" and len(fused_run.losses) == 12
        np.testing.assert_allclose(fused_run.losses, ref_run.losses, rtol=1e-5)
        # float32 products over 784 inputs round differently in the two paths: compare on the data's scale
        assert np.abs(fused_run.frames - ref_run.frames).max() <= 1e-3 * np.abs(ref_run.frames).max()
        if opt == "adam":
            continue  # Adam's first steps are ~lr * sign(gradient): weights with a near-zero gradient may differ by lr
        for (name, a), b in zip(fused_run.model.state_dict().items(), ref_run.model.state_dict().values()):
            assert np.abs(a.numpy() - b.numpy()).max() <= 1e-4 * max(np.abs(b.numpy()).max(), 1e-3), name


def test_notebook_display_is_offline():
    import re

    import mlplab.training.run as run_module

    run = mlplab.run("xor-mlp", epochs=10)
    run_module._PLOTLYJS_SHOWN = False
    first, second = run._repr_html_(), run._repr_html_()
    assert not re.search(r"https?://", first.split("<script type=\"text/javascript\">", 2)[-1][-5000:])
    assert not re.search(r"<script[^>]+src=[\"']https?:", first + second)
    assert len(first) > 3_000_000 > len(second)  # plotly.js inlined once, then reused
    assert "xor-mlp" in second and "Plotly.newPlot" in second


def test_loaded_run_keeps_the_data_description_without_regenerating(tmp_path, monkeypatch):
    run = mlplab.run("d2l-mlp", extras={"fit_dims": True, "digits_epochs": 1})
    run.save(tmp_path)
    import mlplab.data.dataset as ds_module

    monkeypatch.setattr(ds_module, "GENERATORS", {})  # loading must not need any generator
    back = load_run(tmp_path)
    assert back.data.task == "multiclass" and back.data.image_shape == (8, 8)
    assert back.data.class_names == run.data.class_names and back.data.n_classes == 10
    assert "digits" in back.data.params["note"]
