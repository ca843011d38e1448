"""init_scales: the variance formula against measurement, the hooks against plain autograd, depth."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import mlplab
from mlplab import SpecError, build_model
from mlplab.diagnostics import init_scales
from mlplab.viz.init_scales import init_scales_figure

SPEC = {"in_dim": 784, "hidden": [256, 256], "out_dim": 10}


@pytest.fixture(scope="module")
def batch():
    # Mean 0.5 and std 1.5: E[x^2] = 2.5 differs from Var[x] = 2.25, so the formula's E[x^2] is tested.
    g = np.random.default_rng(0)
    X = (0.5 + 1.5 * g.standard_normal((4096, 784))).astype(np.float32)
    return X, g.integers(0, 10, 4096)


@pytest.fixture(scope="module")
def scales(batch):
    return init_scales(SPEC, *batch, inits=("default", "xavier_uniform", "normal", "kaiming"))


def test_first_layer_matches_variance_formula(scales):
    first = scales[scales["layer"] == 0].set_index("init")
    assert first.loc["xavier_uniform", "weight_var"] == pytest.approx(2 / (784 + 256))
    assert first.loc["default", "weight_var"] == pytest.approx(1 / (3 * 784))
    assert first.loc["normal", "weight_var"] == pytest.approx(1e-4)
    assert first["input_sq_mean"].to_numpy() == pytest.approx(2.5, rel=0.01)
    for init, row in first.iterrows():
        by_hand = math.sqrt(784 * row["weight_var"] * 2.5)  # n_in sigma^2 E[x^2], bias left out
        assert row["act_std"] == pytest.approx(by_hand, rel=0.03), init
        assert row["act_std"] == pytest.approx(row["predicted_std"], rel=0.03), init


def test_formula_is_not_vacuous(scales):
    # Using Var[x] instead of E[x^2] would be ~5% off: the 3% tolerance above can tell them apart.
    row = scales[(scales["layer"] == 0) & (scales["init"] == "xavier_uniform")].iloc[0]
    assert abs(row["act_std"] / math.sqrt(784 * row["weight_var"] * 2.25) - 1) > 0.03


def test_hooks_agree_with_plain_autograd(batch, scales):
    X, y = batch
    model = build_model(SPEC, seed=0, init="xavier_uniform")
    x = torch.from_numpy(X).requires_grad_(True)
    z1 = model.net[0](x)
    z1.retain_grad()
    h1 = model.net[1](z1)
    z2 = model.net[2](h1)
    h1.retain_grad()
    out = model.net[4](model.net[3](z2))
    torch.nn.functional.cross_entropy(out, torch.from_numpy(y)).backward()
    rows = scales[scales["init"] == "xavier_uniform"].set_index("layer")
    assert rows.loc[0, "act_std"] == pytest.approx(float(z1.detach().std()), rel=1e-5)
    assert rows.loc[1, "act_std"] == pytest.approx(float(z2.detach().std()), rel=1e-5)
    assert rows.loc[2, "act_std"] == pytest.approx(float(out.detach().std()), rel=1e-5)
    assert rows.loc[0, "weight_grad_std"] == pytest.approx(float(model.net[0].weight.grad.std()), rel=1e-5)
    assert rows.loc[2, "weight_grad_std"] == pytest.approx(float(model.net[4].weight.grad.std()), rel=1e-5)
    assert rows.loc[0, "input_grad_std"] == pytest.approx(float(x.grad.std()), rel=1e-5)
    assert rows.loc[1, "input_grad_std"] == pytest.approx(float(h1.grad.std()), rel=1e-5)
    assert rows.loc[1, "input_sq_mean"] == pytest.approx(float((h1.detach().double() ** 2).mean()), rel=1e-6)


def test_small_normal_init_vanishes_and_xavier_does_not(scales):
    normal = scales[scales["init"] == "normal"].sort_values("layer")
    act, grad_in = normal["act_std"].to_numpy(), normal["input_grad_std"].to_numpy()
    assert np.all(act[1:] / act[:-1] < 0.2), act  # each layer shrinks the signal about tenfold
    assert act[-1] / act[0] < 0.02
    assert np.all(grad_in[:-1] / grad_in[1:] < 0.2), grad_in  # and the gradient on the way back
    xavier = scales[scales["init"] == "xavier_uniform"]["act_std"].to_numpy()
    assert xavier.max() / xavier.min() < 2, xavier
    # The seed's SGD notebook scale: normal(0.01) leaves the logits ~100x smaller than Xavier's.
    assert xavier[-1] / act[-1] > 50


def test_deeper_layers_follow_formula_with_measured_input(scales):
    hidden = scales[scales["layer"] == 1]  # 256 outputs: enough units for a 5% estimate
    for _, row in hidden.iterrows():
        assert row["act_std"] == pytest.approx(row["predicted_std"], rel=0.05), row["init"]


def test_mse_loss_and_seed(batch):
    X, _ = batch
    Y = np.zeros((len(X[:256]), 10), dtype=np.float32)
    a = init_scales(SPEC, X[:256], Y, inits=("default",), loss="mse", seed=3)
    b = init_scales(SPEC, X[:256], Y, inits=("default",), loss="mse", seed=3)
    c = init_scales(SPEC, X[:256], Y, inits=("default",), loss="mse", seed=4)
    assert a.equals(b) and not a.equals(c)
    assert list(a["module"]) == ["net.0", "net.2", "net.4"]


def test_errors_name_the_parameter(batch):
    X, y = batch
    with pytest.raises(SpecError, match="inits"):
        init_scales(SPEC, X[:8], y[:8], inits=("glorot",))
    with pytest.raises(SpecError, match="X"):
        init_scales(SPEC, X[:8, :10], y[:8])
    with pytest.raises(SpecError, match="loss"):
        init_scales(SPEC, X[:8], y[:8], loss="hinge")
    with pytest.raises(SpecError, match="y"):
        init_scales(SPEC, X[:8], y[:7])


def test_figure_builds(scales):
    fig = init_scales_figure(scales)
    bars = [t for t in fig.data if t.type == "bar"]
    assert len(bars) == 2 * 4
    assert {t.marker.color for t in bars if t.xaxis == "x"} == {t.marker.color for t in bars if t.xaxis == "x2"}
    assert len({t.marker.color for t in bars}) == 4
    assert fig.layout.yaxis.type == "log" and fig.layout.yaxis2.type == "log"
    # every bar and tick is the number init_scales measured, per init, in layer order
    for init, rows in scales.groupby("init", sort=False):
        rows = rows.sort_values("layer")
        left = [t for t in bars if t.name == init and t.xaxis == "x"]
        right = [t for t in bars if t.legendgroup == init and t.xaxis == "x2"]
        ticks = [t for t in fig.data if t.type == "scatter" and t.offsetgroup == init]
        assert len(left) == len(right) == len(ticks) == 1
        np.testing.assert_array_equal(left[0].y, rows["act_std"].to_numpy())
        np.testing.assert_array_equal(right[0].y, rows["weight_grad_std"].to_numpy())
        np.testing.assert_array_equal(ticks[0].y, rows["predicted_std"].to_numpy())
        assert len(left[0].x) == len(rows) == 3
    with pytest.raises(SpecError, match="df"):
        init_scales_figure(scales.drop(columns=["act_std"]))


# ------------------------------------------------------------------ dead units


def test_dead_units_counts_against_brute_force():
    from mlplab.diagnostics import dead_units

    model = build_model(in_dim=2, hidden=[16, 8], out_dim=1, seed=3)
    with torch.no_grad():
        model.net[0].bias[:5] = -100.0  # five units of the first layer can never fire on these inputs
    X = np.random.default_rng(0).uniform(-1, 1, (500, 2)).astype(np.float32)
    rows = dead_units(model, X, batch=128)  # several batches: a unit alive in any batch is alive
    with torch.no_grad():
        h1 = torch.relu(model.net[0](torch.from_numpy(X)))
        h2 = torch.relu(model.net[2](h1))
    brute = [int((h1 <= 0).all(0).sum()), int((h2 <= 0).all(0).sum())]
    assert [(name, total) for name, _, total in rows] == [("net.1", 16), ("net.3", 8)]
    assert [dead for _, dead, _ in rows] == brute and brute[0] >= 5
    assert model.training  # the mode is restored


def test_old_identity_init_would_be_flagged_and_the_new_one_is_not():
    from torch import nn

    from mlplab.diagnostics import dead_unit_report

    data = mlplab.make_dataset("piecewise")
    spec = dict(in_dim=2, hidden=[8], out_dim=2, init="identity")
    old = build_model(**spec)
    nn.init.eye_(old.net[0].weight), nn.init.zeros_(old.net[0].bias)  # what eye_ alone did to a 2 -> 8 layer
    count, sentence = dead_unit_report(old, data.X)
    assert count == 6 and "6 of 8 in net.1" in sentence
    count, sentence = dead_unit_report(build_model(**spec), data.X)
    assert sentence == "" and count < 2


def test_runs_flag_dead_units_with_a_warning_and_a_message():
    import warnings

    from mlplab.diagnostics import dead_units
    from mlplab.errors import DeadUnitsWarning

    # a learning rate this large kills most ReLU units of the small moons MLP in a few steps
    with pytest.warns(DeadUnitsWarning, match="never activated"):
        run = mlplab.run("moons-mlp", epochs=20, train={"lr": 100.0})
    assert run.metrics["dead_units"] >= 8 and "never activated" in run.message
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeadUnitsWarning)
        quiet = mlplab.run("moons-mlp", epochs=20)  # 1 of 32 silent: normal, nothing said
    assert "dead_units" not in quiet.metrics and quiet.message == ""
    assert dead_units(quiet.model, quiet.data.X)[0][1] >= 1
    assert "init='kaiming')" in run.message  # moons-mlp has the default init: Kaiming is offered...
    from mlplab.diagnostics import dead_unit_report

    kaiming = build_model(in_dim=2, hidden=[8], init="kaiming")  # ...and a Kaiming model is not told to try Kaiming
    with torch.no_grad():
        kaiming.net[0].bias.fill_(-100.0)  # every unit off on the data
    dead, message = dead_unit_report(kaiming, quiet.data.X)
    assert dead == 8 and "init='default')" in message and "'kaiming'" not in message


# ------------------------------------------------------------------ gradients through depth


def test_layer_gradient_norms_against_autograd_by_hand(batch):
    from mlplab.diagnostics import layer_gradient_norms

    X, y = batch[0][:256, :784], batch[1][:256]
    spec = {"in_dim": 784, "hidden": [32, 32, 32], "out_dim": 10, "activation": "sigmoid"}
    norms = layer_gradient_norms(spec, X, y, seed=2)
    model = build_model(spec, seed=2)
    torch.nn.functional.cross_entropy(model(torch.from_numpy(X)), torch.from_numpy(y)).backward()
    by_hand = [float(torch.linalg.matrix_norm(m.weight.grad.double())) for m in model.net if isinstance(m, torch.nn.Linear)]
    np.testing.assert_allclose(norms, by_hand, rtol=1e-6)
    assert norms[0] < norms[-1]  # sigmoid: smaller towards the input
    with pytest.raises(SpecError, match="X"):
        layer_gradient_norms(spec, X[:, :5], y)
