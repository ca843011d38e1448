"""The compiled engine (numba kernels) against the torch reference, and the Run contract on it.

The runs here ask for "auto", which picks the compiled engine wherever it runs the spec (what most users
get); each test checks that it did.
"""

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_limits

import mlplab
import test_engines as TE
from mlplab import SpecError, build_model, make_dataset, train
from mlplab.api import prepare
from mlplab.engines import choose
from mlplab.training.callbacks import frame_schedule

# Cases beyond test_engines.CASES: residual blocks (with layer norm before the activation, or after each
# block), mini-batches with SGD momentum, L1 with the manual step, mini-batch cross-entropy, and layers wide
# enough for the kernels' BLAS path (>= 2**15 products).
EXTRA = {
    "residual-mse-adam": (dict(hidden=[2, 2, 2, 2], residual=True, init="identity", out_dim=2),
                          dict(loss="mse"), "piecewise"),
    "residual-tanh-sgd-momentum-wd": (dict(hidden=[4, 4], residual=True, activation="tanh", out_dim=2),
                                      dict(loss="mse", optimizer="sgd", lr=1e-3, momentum=0.5, weight_decay=0.01),
                                      "piecewise"),
    "minibatch-leaky-sgd-momentum": (dict(hidden=[8, 8], activation="leaky_relu", leaky_slope=0.2),
                                     dict(loss="bce_logits", optimizer="sgd", lr=0.05, momentum=0.9, batch_size=16,
                                          epochs=50), "moons"),
    "manual-l1-bce": (dict(hidden=[8], activation="tanh", out_activation="sigmoid"),
                      dict(loss="bce", optimizer="manual_sgd", lr=0.1, l1=0.001), "moons"),
    "minibatch-ce": (dict(hidden=[16], out_dim=3), dict(loss="ce", batch_size=40, epochs=75), "blobs"),
    "residual-layer-norm-adam": (dict(hidden=[4, 4], residual=True, norm="layer", out_dim=2), dict(loss="mse", lr=3e-3),
                                 "piecewise"),
    "post-layer-norm-minibatch": (dict(hidden=[4, 4], residual=True, norm="layer", norm_position="post", out_dim=2),
                                  dict(loss="mse", lr=3e-3, batch_size=64, epochs=60), "piecewise"),
    "wide-blas-minibatch": (dict(hidden=[128, 128], out_dim=2), dict(loss="mse", lr=1e-3, batch_size=100, epochs=100),
                            "piecewise"),
}
CASES = {**TE.CASES, **EXTRA}
# What the compiled engine leaves to the next engine, written out: (engine "auto" runs, words of the refusal)
REFUSED = {
    "residual-bn-mse-sgd": ("fused", "batch norm"),
    "bn-pre-relu-manual": ("fused", "batch norm"),
}


def _case(name):
    if name in TE.CASES:
        return TE._case(name)
    mfields, tfields, dname = EXTRA[name]
    data = TE._data(dname)
    mfields = {"in_dim": data.d_in, **mfields}
    return data, (lambda: build_model(seed=3, **mfields)), {"epochs": 300, "frames": 7, **tfields}


@pytest.mark.parametrize("case", list(CASES))
def test_compiled_engine_follows_the_torch_reference_step_for_step(case):
    data, model, fields = _case(case)
    if case in REFUSED:  # auto hands it on; asked for by name, it is refused with the reason
        engine, words = REFUSED[case]
        assert train(model(), data, **{**fields, "epochs": 2}).engine == engine
        spec = mlplab.TrainSpec(**fields)
        with pytest.raises(SpecError, match="train.engine.*compiled") as err:
            choose("compiled", model(), spec, data.task)
        assert words in str(err.value)
        return
    ref = train(model(), data, engine="torch", **fields)
    got = train(model(), data, engine="auto", **fields)
    assert got.engine == "compiled" and got.status == ref.status == "finished"
    assert len(got.losses) == len(ref.losses) >= 300
    rel = np.abs(got.losses - ref.losses) / np.maximum(np.abs(ref.losses), 1e-12)
    assert rel.max() <= 1e-5, f"step {rel.argmax()}: {got.losses[rel.argmax()]} vs {ref.losses[rel.argmax()]}"
    np.testing.assert_array_equal(got.frame_steps, ref.frame_steps)
    scale = np.abs(ref.frames).max()
    assert np.abs(got.frames - ref.frames).max() <= 1e-4 * scale
    for k, v in ref.model.state_dict().items():  # the models hold the final weights, in memory of their own
        v = v.numpy()
        np.testing.assert_allclose(got.model.state_dict()[k].numpy(), v, rtol=1e-3, atol=1e-5 * max(1.0, np.abs(v).max()))


def test_the_extra_cases_are_new():
    assert not set(EXTRA) & set(TE.CASES) and set(REFUSED) <= set(TE.CASES)


# The training presets auto does not give the compiled engine, written out: those that name an engine
# (torch for the notebooks' own numbers, numpy for the from-scratch ones) and L-BFGS
NOT_COMPILED = {"piecewise-residual-bn", "practice-residual-bn", "piecewise-residual-bn-no-bn1", "moons-mlp",
                "moons-manual-step", "moons-scratch", "d2l-mlp-scratch", "sine-mlp-lbfgs"}


@pytest.mark.parametrize("name", TE.TRAIN_PRESETS)
def test_auto_runs_the_presets_it_can_on_the_compiled_engine_with_the_run_contract(name):
    exp = mlplab.experiment(name)
    epochs = 2 if exp.train.batch_size else 7
    exp = exp.replace(train=exp.train.replace(epochs=epochs, frames=5))
    prepared, data, model = prepare(exp)
    run = mlplab.api.run_experiment(exp, progress=False)
    assert (run.engine == "compiled") == (name not in NOT_COMPILED), run.engine
    assert run.status == "finished" and np.isfinite(run.losses).all()
    total = run.steps
    assert total == prepared.train.epochs * -(-data.n // (prepared.train.batch_size or data.n))
    np.testing.assert_array_equal(run.frame_steps, frame_schedule(total, 5))
    rows = run.framed().data.X
    with torch.no_grad():  # the last frame is the trained model's outputs
        final = run.model(torch.from_numpy(rows)).numpy()
    np.testing.assert_allclose(run.frames[-1], final, rtol=1e-5, atol=1e-6)


def test_run_json_names_the_compiled_engine(tmp_path):
    run = mlplab.run("piecewise-residual", epochs=5)
    assert run.engine == "compiled" and run.summary()["engine"] == "compiled"
    run.save(tmp_path)
    assert mlplab.load_run(tmp_path).engine == "compiled"


def test_without_numba_auto_falls_back_to_the_fused_engine(monkeypatch):
    from mlplab.engines import compiled

    monkeypatch.setattr(compiled, "available", lambda: False)
    assert mlplab.run("piecewise-residual", epochs=5).engine == "fused"
    exp = mlplab.experiment("piecewise-residual")
    _, data, model = prepare(exp)
    with pytest.raises(SpecError, match="train.engine.*numba"):
        choose("compiled", model, exp.train, data.task)


def _small_model():
    return build_model(in_dim=2, out_dim=2, hidden=[4])


def test_the_contract_tests_of_the_other_engines_pass_on_the_compiled_engine(tmp_path):
    data = make_dataset("piecewise")
    for model in (_small_model(), build_model(in_dim=2, out_dim=2, hidden=[16, 16]),
                  build_model(in_dim=2, out_dim=2, hidden=[2])):
        assert train(model, data, epochs=1).engine == "compiled"  # the models those tests train
    TE.test_divergence_is_the_same_on_every_engine("auto")
    TE.test_a_documented_callback_runs_unchanged_on_every_engine("auto")
    TE.test_ctrl_c_returns_the_partial_run_on_every_engine(tmp_path, "auto")
    TE.test_an_error_in_a_callback_leaves_the_model_and_numpy_as_they_were("auto")


def test_a_resumed_run_continues_bit_for_bit():
    for fields in (dict(), dict(optimizer="sgd", momentum=0.9, lr=1e-3, batch_size=64)):
        data = make_dataset("piecewise")
        whole = train(_small_model(), data, epochs=300, **fields)
        half = train(_small_model(), data, epochs=150, **fields)
        both = train(None, resume=half, epochs=150, **fields)
        assert whole.engine == half.engine == "compiled"
        np.testing.assert_array_equal(both.losses, whole.losses)


def test_results_do_not_depend_on_the_number_of_threads():
    """A step big enough that the loop leaves the thread count alone (and the kernels call BLAS)."""
    data = make_dataset("piecewise", n=1000)
    runs = []
    for threads in (1, 2):
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            with threadpool_limits(limits=threads):
                runs.append(train(build_model(in_dim=2, out_dim=2, hidden=[96, 96], seed=1), data, epochs=20, lr=1e-3))
        finally:
            torch.set_num_threads(before)
    assert runs[0].engine == "compiled"
    np.testing.assert_array_equal(runs[0].losses, runs[1].losses)
    np.testing.assert_array_equal(runs[0].frames, runs[1].frames)


@pytest.mark.parametrize("fields", [dict(), dict(optimizer="sgd", momentum=0.9, lr=1e-3, weight_decay=0.01, l1=1e-3),
                                    dict(optimizer="sgd", lr=50.0)])
def test_runs_of_steps_in_one_call_equal_single_steps_bit_for_bit(fields):
    """`run_steps(k)`, for a loop with nothing to do between steps, gives what k `step` + `update` give,
    and stops after a non-finite loss (the last SGD case diverges)."""
    from mlplab.engines import CompiledEngine
    from mlplab.training import metrics as M

    data, spec = make_dataset("piecewise"), mlplab.TrainSpec(**fields)
    Y = M.targets(data.y, data.task, spec.loss)
    engines = [CompiledEngine([build_model(in_dim=2, out_dim=2, hidden=[16, 16], seed=1)], spec, data.X, Y)
               for _ in range(2)]
    single, runs = [], []
    for _ in range(300):
        loss, _ = engines[0].step(None)
        single.append(loss)
        if not np.isfinite(loss):
            break
        engines[0].update()
    for k in (1, 49, 150, 100):
        runs += list(engines[1].run_steps(k))
        if not np.isfinite(runs[-1]):
            break
    np.testing.assert_array_equal(np.array(runs, np.float32), np.array(single, np.float32))
    assert (len(single) < 300) == ("lr" in fields and fields["lr"] == 50.0)
    np.testing.assert_array_equal(engines[0].state_dict()["net.0.weight"], engines[1].state_dict()["net.0.weight"])
    assert engines[0].optimizer_state()["t"] == engines[1].optimizer_state()["t"]
    for e in engines:
        e.finish()


@pytest.mark.slow  # 10 full-length torch runs and one compiled: about a minute
def test_the_chaotic_preset_it_runs_ends_within_the_torch_engines_spread():
    """practice-residual is chaotic at full length (test_engines.CHAOTIC_PRESETS): rounding alone moves its
    final loss by percents, so the compiled run must land inside the spread of 10 torch seeds."""
    name = "practice-residual"
    finals = [mlplab.run(name, seed=s, train={"engine": "torch", "frames": 0}).final_loss for s in range(10)]
    got = mlplab.run(name, seed=0, train={"frames": 0})
    assert got.engine == "compiled" and got.steps == mlplab.experiment(name).train.epochs
    assert min(finals) * 0.99 <= got.final_loss <= max(finals) * 1.01, (got.final_loss, min(finals), max(finals))
