"""Every engine against the torch reference, and the one Run contract whatever the engine."""

import numpy as np
import pytest
import torch

import mlplab
from mlplab import SpecError, build_model, make_dataset, train, train_stacked
from mlplab.api import prepare
from mlplab.training.callbacks import Callback, frame_schedule
from mlplab.training.loop import threads_for

ENGINE_NAMES = ["torch", "fused", "numpy", "stacked"]

# (model fields, train fields, data set): every layer, activation, loss and optimizer the fused and
# stacked engines implement, each once.
CASES = {
    "relu-mse-adam": (dict(hidden=[8, 8], out_dim=2), dict(loss="mse"), "piecewise"),
    "tanh-mse_sum-sgd-momentum": (dict(hidden=[6], activation="tanh", out_dim=2),
                                  dict(loss="mse_sum", optimizer="sgd", lr=1e-5, momentum=0.9), "piecewise"),
    "sigmoid-bce-sgd": (dict(hidden=[8], activation="sigmoid", out_activation="sigmoid"),
                        dict(loss="bce", optimizer="sgd", lr=0.5), "moons"),
    "leaky-bce_logits-adam-wd": (dict(hidden=[8, 8], activation="leaky_relu", leaky_slope=0.1),
                                 dict(loss="bce_logits", weight_decay=0.01), "moons"),
    # Batch norm makes the weights before it scale-invariant: exactly flat directions that Adam turns
    # rounding noise into full steps along (test_chaotic_... below), so SGD here
    "residual-bn-mse-sgd": (dict(hidden=[4, 4], residual=True, norm="batch", out_dim=2),
                            dict(loss="mse", optimizer="sgd", lr=1e-3), "piecewise"),
    "bn-pre-relu-manual": (dict(hidden=[8], norm="batch", out_dim=2),
                           dict(loss="mse", optimizer="manual_sgd", lr=0.01), "piecewise"),
    "poly-features": (dict(in_dim=1, hidden=[], poly_degree=5), dict(loss="mse", lr=0.01), "sine"),
    "l1-adam": (dict(hidden=[8], out_dim=2), dict(loss="mse", l1=0.01), "piecewise"),
    "input-features": (dict(hidden=[6], features=["x1", "x2", "x1^2", "x1*x2", "sin(x2)"], out_activation="sigmoid"),
                       dict(loss="bce", lr=0.03), "circle"),
    "ce-multiclass": (dict(hidden=[16], out_dim=3), dict(loss="ce"), "blobs"),
    "identity-mse-sgd": (dict(hidden=[8, 8], activation="identity", out_dim=2),
                         dict(loss="mse", optimizer="sgd", lr=0.01), "piecewise"),
    # Adam at 3e-3: plain SGD at 1e-2 makes this net chaotic on targets of scale ~10 (torch in float32
    # and float64 part after ~50 steps), so no engine could follow another there
    "layer-norm": (dict(hidden=[8, 8], norm="layer", out_dim=2), dict(loss="mse", lr=3e-3), "piecewise"),
    # 100 rows in batches of 32 (the last one of 4): 4 steps an epoch, 300 steps in all
    "minibatch-bce-adam": (dict(hidden=[8], out_activation="sigmoid"),
                           dict(loss="bce", batch_size=32, epochs=75), "moons"),
}

# What each engine refuses today, written out (not asked of the engine, so a wrong refusal fails):
# (case, engine) -> words its message must hold. Every other pair must train.
REFUSED = {
    ("input-features", "numpy"): "InputFeatures",  # the teaching engine has no feature expansion
    ("ce-multiclass", "stacked"): "ce",
    ("layer-norm", "fused"): "LayerNorm",
    ("layer-norm", "stacked"): "LayerNorm",
    ("minibatch-bce-adam", "stacked"): "full-batch",
}


def _data(name):
    return _three_blobs() if name == "blobs" else make_dataset(name)


def _three_blobs():
    from mlplab.data import Dataset

    rng = np.random.default_rng(0)
    centers = np.array([[0, 2], [2, -1], [-2, -1]], np.float32)
    y = rng.integers(0, 3, 150)
    X = (centers[y] + rng.standard_normal((150, 2)).astype(np.float32)).astype(np.float32)
    return Dataset(X=X, y=y.astype(np.int64), task="multiclass", name="blobs")


def _case(name, **extra):
    mfields, tfields, dname = CASES[name]
    data = _data(dname)
    mfields = {"in_dim": data.d_in, **mfields}
    return data, (lambda: build_model(seed=3, **mfields)), {"epochs": 300, "frames": 7, **tfields, **extra}


def test_the_refusal_tables_name_real_cases_and_engines():
    assert {c for c, _ in REFUSED} <= set(CASES) and {p for p, _ in PRESET_REFUSED} <= set(TRAIN_PRESETS)
    assert {e for _, e in REFUSED} | {e for _, e in PRESET_REFUSED} <= set(ENGINE_NAMES) - {"torch"}


@pytest.mark.parametrize("engine", ["fused", "numpy", "stacked"])
@pytest.mark.parametrize("case", list(CASES))
def test_engines_follow_the_torch_reference_step_for_step(case, engine):
    data, model, fields = _case(case)
    if (case, engine) in REFUSED:  # refused by name and reason, never run on another engine
        with pytest.raises(SpecError, match=f"train.engine.*{engine}") as err:
            train(model(), data, engine=engine, **fields)
        assert REFUSED[case, engine] in str(err.value)
        return
    ref = train(model(), data, engine="torch", **fields)
    got = train(model(), data, engine=engine, **fields)
    assert got.engine == engine and got.status == ref.status == "finished"
    rel = np.abs(got.losses - ref.losses) / np.maximum(np.abs(ref.losses), 1e-12)
    assert rel.max() <= 1e-5, f"step {rel.argmax()}: {got.losses[rel.argmax()]} vs {ref.losses[rel.argmax()]}"
    np.testing.assert_array_equal(got.frame_steps, ref.frame_steps)
    scale = np.abs(ref.frames).max()
    assert np.abs(got.frames - ref.frames).max() <= 1e-4 * scale


def test_an_engine_that_cannot_run_a_spec_refuses_it_by_name():
    data = make_dataset("moons")
    model = build_model(hidden=[4], out_activation="sigmoid")
    with pytest.raises(SpecError, match="train.engine.*stacked.*batch_size"):
        train(model, data, loss="bce", batch_size=16, engine="stacked")
    ln = build_model(hidden=[4], norm="layer", out_activation="sigmoid")
    with pytest.raises(SpecError, match="train.engine.*fused"):
        train(ln, data, loss="bce", engine="fused")
    run = train(build_model(hidden=[4], norm="layer", out_activation="sigmoid"), data, loss="bce", epochs=3)
    assert run.engine == "compiled"  # auto: the fused engine has no layer norm, the compiled one has, and the run says so
    assert run.summary()["engine"] == "compiled"


def test_auto_picks_the_compiled_engine_where_it_runs():
    assert mlplab.run("piecewise-residual", epochs=5).engine == "compiled"
    assert mlplab.run("moons-scratch", epochs=5).engine == "numpy"  # asked for by the preset: honoured


# ------------------------------------------------------------------ one Run contract over every preset

TRAIN_PRESETS = [n for n, e in mlplab.PRESETS.items() if e.kind == "train"]
# The presets an engine refuses as configured, written out: L-BFGS runs on torch only, and the stacked
# engine trains full batch only (the d2l presets use mini-batches). Every other pair must train.
PRESET_REFUSED = {
    **{("sine-mlp-lbfgs", e): "L-BFGS" for e in ("fused", "numpy", "stacked")},
    **{(name, "stacked"): "full-batch" for name in ("d2l-mlp", "d2l-mlp-scratch", "d2l-mlp-xavier")},
}


def _contract_runs():
    for name in TRAIN_PRESETS:
        for engine in ENGINE_NAMES:
            yield name, engine


@pytest.mark.parametrize("name,engine", list(_contract_runs()))
def test_run_contract_on_every_preset_and_engine(name, engine):
    exp = mlplab.experiment(name)
    epochs = 2 if exp.train.batch_size else 7
    exp = exp.replace(train=exp.train.replace(epochs=epochs, engine=engine, frames=5))
    prepared, data, model = prepare(exp)
    if (name, engine) in PRESET_REFUSED:
        with pytest.raises(SpecError, match=f"train.engine.*{engine}") as err:
            mlplab.api.run_experiment(exp, progress=False)
        assert PRESET_REFUSED[name, engine] in str(err.value)
        return
    run = mlplab.api.run_experiment(exp, progress=False)
    assert run.engine == engine and run.status == "finished"
    total = run.steps
    assert total == prepared.train.epochs * -(-data.n // (prepared.train.batch_size or data.n))
    np.testing.assert_array_equal(run.frame_steps, frame_schedule(total, 5))
    assert set(run.timings) >= {"train_s", "steps_per_s"}
    splits = ["train"] + [s for s in ("val", "test") if getattr(run.data, f"X_{s}") is not None]
    kind = "r2" if data.task == "regression" else "accuracy"
    # dead_units is a finding about the trained model (more than a quarter of a ReLU layer never active),
    # added on every engine alike when it holds (the 1-D ReLU presets' Kaiming init leaves many), not a split
    assert set(run.metrics) - {"dead_units"} == {f"{s}_{m}" for s in splits for m in ("loss", kind)}
    rows = run.framed().data.X
    with torch.no_grad():  # the last frame is the trained model's outputs
        final = run.model(torch.from_numpy(rows)).numpy()
    np.testing.assert_allclose(run.frames[-1], final, rtol=1e-5, atol=1e-6)
    assert np.isfinite(run.losses).all()


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_divergence_is_the_same_on_every_engine(engine):
    data = make_dataset("piecewise")
    run = train(build_model(in_dim=2, out_dim=2, hidden=[16, 16]), data, optimizer="sgd", lr=50.0, epochs=200,
                frames=200, engine=engine)
    assert run.status == "diverged" and "train.lr" in run.message and "step" in run.message
    k = len(run.losses)
    assert 0 < k < 200 and np.isfinite(run.losses).all()  # the non-finite loss is named in the message, not kept
    assert run.metrics == {} and run.frame_steps.max() < k and np.isfinite(run.frames).all()


class Documented(Callback):
    """A callback written to the documented signature, as a user would write it."""

    def __init__(self):
        self.losses, self.shapes, self.lrs = [], [], []

    def on_step_end(self, t, step, loss, pred):
        self.losses.append(loss.item())
        self.shapes.append(None if pred is None else pred.shape)
        self.lrs.append(t.engine.lr)
        if step == 3:
            t.engine.lr = t.engine.lr / 2  # steering the learning rate works on every engine


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_a_documented_callback_runs_unchanged_on_every_engine(engine):
    data = make_dataset("piecewise")
    cb = Documented()
    run = train(build_model(in_dim=2, out_dim=2, hidden=[4]), data, epochs=10, lr=0.02, engine=engine, callbacks=[cb])
    assert np.allclose(cb.losses, run.losses)
    assert cb.shapes == [(data.n, 2)] * 10 if engine != "stacked" else cb.shapes == [(1, data.n, 2)] * 10
    assert np.allclose(np.ravel(cb.lrs), [0.02] * 4 + [0.01] * 6)


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_ctrl_c_returns_the_partial_run_on_every_engine(tmp_path, engine):
    class Interrupt(Callback):
        def on_step_end(self, t, step, loss, pred):
            if step == 123:
                raise KeyboardInterrupt

    run = train(build_model(in_dim=2, out_dim=2, hidden=[2]), make_dataset("piecewise"), epochs=500,
                engine=engine, callbacks=[Interrupt()])
    assert run.status == "interrupted" and len(run.losses) == 123
    assert run.frame_steps[-1] == 123  # the model as the interruption left it is the last frame
    run.save(tmp_path)
    back = mlplab.load_run(tmp_path)
    assert back.status == "interrupted" and np.array_equal(back.losses, run.losses)


# ------------------------------------------------------------------ stacked = single

@pytest.mark.parametrize("case", ["relu-mse-adam", "tanh-mse_sum-sgd-momentum", "sigmoid-bce-sgd",
                                  "leaky-bce_logits-adam-wd", "residual-bn-mse-sgd", "poly-features"])
def test_stacked_runs_equal_single_runs(case):
    mfields, tfields, dname = CASES[case]
    base = make_dataset(dname)
    datasets = [make_dataset(dname, seed=s) for s in range(3)]
    mfields = {"in_dim": base.d_in, **mfields}
    models = [build_model(seed=s, **mfields) for s in range(3)]
    specs = [mlplab.TrainSpec(epochs=300, frames=4, seed=s, **{**tfields, "lr": tfields.get("lr", 0.01) * (1 + s / 10)})
             for s in range(3)]
    runs = train_stacked(models, datasets, specs)
    for s, run in enumerate(runs):
        single = train(build_model(seed=s, **mfields), datasets[s], specs[s].replace(engine="fused"))
        assert run.engine == "stacked" and run.status == "finished"
        rel = np.abs(run.losses - single.losses) / np.maximum(np.abs(single.losses), 1e-12)
        assert rel.max() <= 1e-5, (s, rel.argmax())
        scale = np.abs(single.frames).max()  # outputs near 0 on data of scale ~10 round at ~1e-6 of that
        np.testing.assert_allclose(run.frames, single.frames, rtol=1e-4, atol=1e-5 * scale)


def test_stacked_batch_norm_over_a_full_run_equals_single_runs():
    """A full preset-length run with batch norm, step for step and running statistics, on the preset's data
    and net with default init and SGD. As configured (identity init, Adam) the preset stacks, but its run
    is chaotic: Adam turns rounding in batch norm's flat directions into full steps, so stacked and single
    runs part within 3-60 steps (measured), as any two roundings do. The preset as configured is checked
    stacked at full length against the torch engine's spread over 10 seeds in
    test_chaotic_presets_end_within_the_reference_spread."""
    exp = mlplab.experiment("practice-residual-bn")
    model_spec = exp.model.replace(init="default")
    data = [make_dataset(exp.data.replace(seed=s)) for s in range(2)]
    specs = [exp.train.replace(seed=s, frames=3, optimizer="sgd", lr=1e-3) for s in range(2)]
    runs = train_stacked([build_model(model_spec, seed=s) for s in range(2)], data, specs)
    for s, run in enumerate(runs):
        single = train(build_model(model_spec, seed=s), data[s], specs[s].replace(engine="fused"))
        assert len(run.losses) == exp.train.epochs
        rel = np.abs(run.losses - single.losses) / np.abs(single.losses)
        assert rel.max() <= 1e-4, rel.argmax()
        for k in ("net.1.running_mean", "net.1.running_var"):
            np.testing.assert_allclose(run.model.state_dict()[k], single.model.state_dict()[k], rtol=1e-4, atol=1e-6)


def test_a_stacked_run_that_diverges_ends_alone():
    data = [make_dataset("piecewise", seed=s) for s in range(2)]
    models = [build_model(in_dim=2, out_dim=2, hidden=[16, 16], seed=s) for s in range(2)]
    specs = [mlplab.TrainSpec(optimizer="sgd", lr=lr, epochs=100) for lr in (1e-4, 50.0)]
    calm, wild = train_stacked(models, data, specs)
    assert calm.status == "finished" and len(calm.losses) == 100 and calm.metrics
    assert wild.status == "diverged" and len(wild.losses) < 100 and np.isfinite(wild.losses).all()


# ------------------------------------------------------------------ full preset length

# The trainable presets on 2-D data whose full-length runs are steady: every engine ends where torch does
# (measured: within 5e-5 relative), which puts it inside the torch engine's spread over seeds as well.
STEADY_PRESETS = ["rotation-linear", "piecewise-linear", "piecewise-mlp", "practice-linear", "practice-mlp",
                  "moons-mlp", "moons-manual-step", "moons-scratch", "xor-mlp"]
# The residual presets are chaotic at full length: the torch engine itself, given the same rows in another
# order (other rounding, same problem), ends 2-30% away after 1000-2000 steps. Their engines are checked
# against the spread of 10 torch seeds. piecewise-residual and piecewise-residual-bn-no-bn1 are not: their
# 10 reference runs take about 1 and 1.5 minutes on a shared 2-core machine, and their layers are the same
# as practice-residual's and piecewise-residual-bn's.
# Steps each run trains (None: the preset's full length). piecewise-residual-bn's 5000 steps cost 30-70 s
# a run on a busy 2-core machine, ten of them more than pytest's 600 s; its spread is as wide after 1000
# steps as at the end (measured over the 10 seeds: final losses 2.7-9.8 at step 1000, 2.1-7.7 at 5000,
# each engine 2-5% from the torch run of its seed), so its runs stop there. The practice presets keep
# their full 3000 steps (spread 1.14-1.51e-3 for practice-residual-bn).
CHAOTIC_PRESETS = {"piecewise-residual-bn": 1000, "practice-residual-bn": None, "practice-residual": None}


@pytest.mark.slow  # 4 full-length runs per preset, about 15 s in all
@pytest.mark.parametrize("name", STEADY_PRESETS)
def test_steady_presets_end_where_the_torch_engine_does_at_full_length(name):
    ref = mlplab.run(name, seed=0, train={"engine": "torch", "frames": 0})
    for engine in ("fused", "numpy", "stacked"):
        got = mlplab.run(name, seed=0, train={"engine": engine, "frames": 0})
        assert got.steps == ref.steps == mlplab.experiment(name).train.epochs
        assert got.final_loss == pytest.approx(ref.final_loss, rel=1e-3), engine


# 10 runs on the torch engine, then fused, numpy and a stacked group of 2: measured 53-100 s a preset on a
# 2-core machine running a dozen other processes (load 9-12); far inside the 600 s timeout.
@pytest.mark.slow
@pytest.mark.parametrize("name", CHAOTIC_PRESETS)
def test_chaotic_presets_end_within_the_reference_spread(name):
    """With batch norm, identity init leaves exactly-zero-gradient directions that Adam turns into full steps
    out of float32 rounding; without it, long Adam runs on these residual nets still amplify rounding (see
    CHAOTIC_PRESETS). After the steps CHAOTIC_PRESETS gives (the full length, or as many as make the spread as
    wide as at full length) each engine's final loss must lie inside the spread of the torch engine over 10
    seeds."""
    exp = mlplab.experiment(name)
    steps = CHAOTIC_PRESETS[name] or exp.train.epochs
    length = {"frames": 0, "epochs": steps}
    finals = [mlplab.run(name, seed=s, train={"engine": "torch", **length}).final_loss for s in range(10)]
    lo, hi = min(finals), max(finals)
    for engine in ("fused", "numpy"):
        got = mlplab.run(name, seed=0, train={"engine": engine, **length})
        assert got.steps == steps and lo * 0.99 <= got.final_loss <= hi * 1.01, (engine, got.final_loss, lo, hi)
    # the stacked engine: seeds 0 and 1 in one group, the preset as configured
    group = [exp.replace(train=exp.train.replace(seed=s, **length), data=exp.data.replace(seed=s)) for s in (0, 1)]
    for run in mlplab.api.run_stacked(group):
        assert run.engine == "stacked" and run.steps == steps
        assert lo * 0.99 <= run.final_loss <= hi * 1.01, ("stacked", run.final_loss, lo, hi)


# ------------------------------------------------------------------ sweeps go through the experiment path

def test_sweeps_over_image_and_scratch_presets_run_on_their_engines():
    df = mlplab.sweep.sweep("d2l-mlp", grid={"seed": [0, 1], "train.epochs": [1]}, progress=False)
    assert (df["status"] == "finished").all() and set(df["engine"]) == {"compiled"}
    df = mlplab.sweep.sweep("moons-scratch", grid={"seed": [0, 1], "train.epochs": [5]}, progress=False)
    assert (df["status"] == "finished").all() and set(df["engine"]) == {"numpy"}
    df = mlplab.sweep.sweep("piecewise-residual", grid={"seed": [0, 1, 2], "train.epochs": [5]}, progress=False)
    assert set(df["engine"]) == {"stacked"}


# ------------------------------------------------------------------ L-BFGS (torch engine)

def test_lbfgs_runs_on_the_torch_engine_and_beats_adam_step_for_step_on_the_sine():
    lbfgs = mlplab.run("sine-mlp-10", train={"optimizer": "lbfgs", "lr": 1.0, "epochs": 200, "frames": 3})
    adam = mlplab.run("sine-mlp-10", train={"epochs": 200, "frames": 3})
    assert lbfgs.engine == "torch" and lbfgs.status == "finished" and len(lbfgs.losses) == 200
    assert lbfgs.final_loss < 0.5 * adam.final_loss  # notebook 003's curve: quasi-Newton needs far fewer steps
    with pytest.raises(SpecError, match="train.engine.*L-BFGS"):
        mlplab.run("sine-mlp-10", train={"optimizer": "lbfgs", "engine": "fused", "epochs": 2})
    with pytest.raises(SpecError, match="train.engine.*full-batch"):
        mlplab.run("moons-mlp", train={"optimizer": "lbfgs", "batch_size": 16, "epochs": 2})


def test_the_optimizers_study_puts_adam_and_lbfgs_side_by_side():
    run = mlplab.run("sine-optimizers")
    m = run.metrics
    assert m["sine-mlp-lbfgs/steps"] == 300 and m["sine-mlp-10/steps"] == 5000
    assert m["sine-mlp-lbfgs/final_loss"] < m["sine-mlp-10/final_loss"]  # in 300 steps against 5000
    from mlplab.viz.studies import study_figures

    (caption, fig), = study_figures(run)
    names = [t.name for t in fig.data]
    assert any("lbfgs, torch engine" in n for n in names) and any("adam" in n for n in names)
    lbfgs = next(t for t in fig.data if t.name.startswith("sine-mlp-lbfgs") and t.xaxis == "x")
    np.testing.assert_allclose(lbfgs.y, run.extras[f"loss/{lbfgs.name}"])


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_an_error_in_a_callback_leaves_the_model_and_numpy_as_they_were(engine):
    class Broken(Callback):
        def on_step_end(self, t, step, loss, pred):
            if step == 3:
                raise ValueError("a bug in a user's callback")

    before = np.geterr()
    model = build_model(in_dim=2, out_dim=2, hidden=[4])
    with pytest.raises(ValueError, match="user's callback"):
        train(model, make_dataset("piecewise"), epochs=10, engine=engine, callbacks=[Broken()])
    assert np.geterr() == before  # the engines' overflow silencing is undone
    again = train(model, make_dataset("piecewise"), epochs=5, engine="torch")  # the model trains on as usual
    assert again.status == "finished" and all(p.grad is not None for p in model.parameters())
