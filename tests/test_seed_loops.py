"""Notebooks 001-004's own code (tests/seed_reference.py) and scikit-learn against mlplab's presets.

Each test builds the notebook's model with the notebook's code, starts it from the preset's initial
weights (or checks that the same seed draws the same weights), runs the notebook's loop, and compares
the losses step by step with `mlplab.run` of the preset.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import make_moons

import mlplab
from mlplab.presets import PRESETS
from mlplab.training.loop import threads_for

import seed_reference as ref


def _copy(ours: torch.nn.Module, theirs: torch.nn.Module, mapping: dict[str, str]) -> None:
    """theirs <- ours, parameter by parameter (``mapping``: our prefix -> theirs)."""
    state = {}
    for name, value in ours.state_dict().items():
        prefix, _, leaf = name.rpartition(".")
        if prefix in mapping:
            state[f"{mapping[prefix]}.{leaf}"] = value.clone()
    theirs.load_state_dict(state, strict=False)


def _start(name: str) -> torch.nn.Module:
    """The model a preset starts training from."""
    exp = mlplab.experiment(name)
    return mlplab.build_model(exp.model, seed=exp.train.seed)


def _moons():
    X, y = make_moons(noise=0.25, n_samples=100, random_state=0)  # notebook 002's data, as its cell draws it
    return torch.tensor(X, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)


# ------------------------------------------------------------------------------------- notebook 001


def test_batch_norm_without_bn1_is_notebook_001_bit_for_bit():
    name, steps = "piecewise-residual-bn-no-bn1", 300
    exp = mlplab.experiment(name)
    data = mlplab.make_dataset(exp.data)
    X, y = torch.from_numpy(data.X), torch.from_numpy(data.y)
    theirs = ref.SeedResidual(2, 2, 2, bn=True, bn1=False)
    with threads_for(theirs, len(X)):
        seed_losses = ref.seed_train_model(theirs, X, y, lr=exp.train.lr, epochs=steps)
    run = mlplab.run(name, epochs=steps, train={"engine": "torch"}, progress=False)
    assert np.array_equal(run.losses, np.asarray(seed_losses, dtype=np.float32))
    # and it is a different model from notebook 000's, which normalises after the stem too
    other = mlplab.run("piecewise-residual-bn", epochs=steps, train={"engine": "torch"}, progress=False)
    assert not np.array_equal(run.losses, other.losses)
    assert sum(isinstance(m, torch.nn.BatchNorm1d) for m in run.model.modules()) == 2


# ------------------------------------------------------------------------------------- notebook 002


def test_moons_data_is_notebook_002s():
    X, y = _moons()
    data = mlplab.make_dataset("moons")
    assert np.array_equal(data.X, X.numpy()) and np.array_equal(data.y, y.numpy().astype(data.y.dtype))


@pytest.mark.parametrize("name,loop", [("moons-mlp", ref.seed_moons_sgd), ("moons-manual-step", ref.seed_moons_manual_step)])
def test_moons_presets_follow_notebook_002s_loops(name, loop):
    torch.manual_seed(0)
    theirs = ref.seed_moons_model(32)  # the notebook's nn.Sequential, drawn from the same seed as the preset
    ours = _start(name)
    for (_, a), (_, b) in zip(ours.state_dict().items(), theirs.state_dict().items()):
        assert torch.equal(a, b)
    X, y = _moons()
    with threads_for(theirs, len(X)):
        seed_losses = loop(theirs, X, y, lr=1.0, steps=300)
    run = mlplab.run(name, epochs=300, train={"engine": "torch"}, progress=False)
    np.testing.assert_allclose(run.losses, seed_losses, rtol=0, atol=0)


def test_first_backprop_by_hand_is_notebook_002s_loop_and_checks():
    run = mlplab.run("moons-backprop-mse", progress=False)
    model0 = _start("moons-backprop-mse")
    w1 = model0.net[0].weight.detach().T.clone()  # the notebook's (2, 32) layout
    w2 = model0.net[2].weight.detach().T.clone()
    X, y = _moons()
    seed_losses = ref.seed_backprop_mse(X, y, w1, w2, lr=0.1, steps=100)
    assert run.steps == 100 and run.engine == "numpy"
    np.testing.assert_allclose(run.losses, seed_losses, rtol=1e-5)
    # The notebook's crosschecks, recomputed here with its own expressions on the same first-step weights.
    w1, w2 = (t.clone().requires_grad_() for t in (model0.net[0].weight.detach().T, model0.net[2].weight.detach().T))
    z1 = X @ w1
    z1.retain_grad()
    a1 = torch.relu(z1)
    z2 = (a1 @ w2).squeeze(1)
    z2.retain_grad()
    torch.mean((y - z2) ** 2).backward()
    dz2 = -2 / len(z2) * (y - z2)
    assert (z2.grad == dz2).all()
    np.testing.assert_array_equal(run.extras["check/autograd/dz2"], z2.grad.numpy())
    np.testing.assert_array_equal(run.extras["check/autograd/dw1"], w1.grad.numpy())
    for name in ("dz2", "dw2", "da1", "dz1", "dw1"):
        assert run.metrics[f"{name}: notebook's expression == autograd"] == 1.0
        np.testing.assert_allclose(run.extras[f"check/mlplab/{name}"], run.extras[f"check/autograd/{name}"],
                                   rtol=1e-5, atol=1e-7)
    # a linear output fitted to 0/1 labels: class 1 above 0.5, as the notebook's colour map shows it
    with torch.no_grad():
        pred = run.model(X)[:, 0] > 0.5
    assert run.metrics["train_accuracy"] == pytest.approx(float((pred == (y == 1)).float().mean()))


def test_moons_scratch_is_notebook_002s_exercises_solved():
    model0 = _start("moons-scratch")
    params = [model0.net[0].weight.detach().T.clone(), model0.net[0].bias.detach().clone(),
              model0.net[2].weight.detach().T.clone(), model0.net[2].bias.detach().clone()]
    X, y = _moons()
    seed_losses = ref.seed_backprop_bce(X, y, *params, lr=1.0, steps=300)
    run = mlplab.run("moons-scratch", epochs=300, progress=False)
    np.testing.assert_allclose(run.losses, seed_losses, rtol=1e-4)


def test_vjp_sin_is_notebook_002s_cells():
    run = mlplab.run("vjp-sin", progress=False)
    x = torch.linspace(0, 2 * np.pi, 100, requires_grad=True)
    f = torch.sin(x)
    f.backward(torch.ones_like(f))
    np.testing.assert_array_equal(run.extras["x"], x.detach().numpy())
    np.testing.assert_array_equal(run.extras["x.grad"], x.grad.numpy())
    exact = np.cos(run.extras["x"].astype(np.float64))
    for key in ("x.grad", "v * cos(x)", "f.grad_fn(v)", "mlplab ops.sin VJP"):
        np.testing.assert_allclose(run.extras[key], exact, atol=2e-7)


def _sklearn_twin(run_model: torch.nn.Module, X: np.ndarray, y: np.ndarray, lr: float, steps: int):
    """scikit-learn's MLPClassifier as the same network (ReLU, logistic output, log-loss, full-batch plain SGD),
    started from the torch model's weights; returns its per-epoch loss curve."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(hidden_layer_sizes=(32,), activation="relu", solver="sgd", alpha=0.0, batch_size=len(X),
                        learning_rate_init=lr, momentum=0.0, nesterovs_momentum=False, shuffle=False, tol=0.0,
                        n_iter_no_change=steps + 1, max_iter=1, warm_start=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)  # lays out coefs_ and intercepts_; replaced below
        clf.coefs_ = [run_model.net[0].weight.detach().double().numpy().T.copy(),
                      run_model.net[2].weight.detach().double().numpy().T.copy()]
        clf.intercepts_ = [run_model.net[0].bias.detach().double().numpy().copy(),
                           run_model.net[2].bias.detach().double().numpy().copy()]
        clf.loss_curve_ = []
        clf.max_iter = steps
        clf.fit(X, y)
    return np.asarray(clf.loss_curve_)


def test_scikit_learn_trains_the_same_network_to_the_same_losses():
    """scikit-learn is an independent implementation of the very same model: its log-loss curve from the
    preset's initial weights must follow mlplab's moons-mlp (float64 there, float32 here)."""
    steps = 300
    X, y = make_moons(noise=0.25, n_samples=100, random_state=0)
    curve = _sklearn_twin(_start("moons-mlp"), X, y, lr=1.0, steps=steps)
    run = mlplab.run("moons-mlp", epochs=steps, progress=False)
    assert len(curve) == steps
    np.testing.assert_allclose(run.losses, curve, rtol=1e-5)  # measured: 6e-7 after 1000 steps


def test_moons_sklearn_curves_are_scikit_learns_own():
    from sklearn.neural_network import MLPClassifier

    run = mlplab.run("moons-sklearn", progress=False)
    X, y = make_moons(noise=0.25, n_samples=100, random_state=0)
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        defaults = MLPClassifier(random_state=0).fit(X, y)
        tuned = MLPClassifier(hidden_layer_sizes=(32,), solver="sgd", batch_size=len(X), learning_rate_init=0.2,
                              max_iter=1000, random_state=0).fit(X, y)  # the notebook's cell, seeded
    # mlplab keeps the inputs in float32 (rounded once) and the curves in float32: a few ulps apart
    np.testing.assert_allclose(run.extras["loss/scikit-learn defaults"], defaults.loss_curve_, rtol=1e-6)
    np.testing.assert_allclose(run.extras["loss/scikit-learn (32,), sgd, lr 0.2"], tuned.loss_curve_, rtol=1e-6)
    assert run.metrics["scikit-learn (32,), sgd, lr 0.2/train_accuracy"] == tuned.score(X, y)
    # mlplab's three paths and scikit-learn's tuned fit draw nearly the same boundary on the plotted grid
    ours = next(v for k, v in run.extras.items() if k.startswith("proba/mlplab moons-mlp "))
    agree = np.mean((ours > 0.5)
                    == (run.extras["proba/scikit-learn (32,), sgd, lr 0.2"] > 0.5))
    assert agree > 0.85, agree


# ------------------------------------------------------------------------------------- notebook 003


def test_sine_data_is_notebook_003s():
    x, y = ref.seed_sine_data()
    data = mlplab.make_dataset("sine")
    np.testing.assert_array_equal(data.X, x.numpy())
    np.testing.assert_array_equal(data.y, y.numpy())


@pytest.mark.parametrize("name,make,mapping", [
    *[(f"sine-mlp-{h}", lambda h=h: ref.SeedTanhMLP(h), {"net.0": "hidden1", "net.2": "output"}) for h in (1, 2, 5, 10)],
    ("sine-mlp-deep", lambda: ref.SeedTanhMLP2(10), {"net.0": "hidden1", "net.2": "hidden2", "net.4": "output"}),
])
def test_sine_presets_follow_notebook_003s_loop(name, make, mapping):
    epochs = 400
    theirs = make()
    _copy(_start(name), theirs, mapping)
    x, y = ref.seed_sine_data()
    with threads_for(theirs, len(x)):
        seed_losses = ref.seed_sine_loop(theirs, x, y, epochs)
    run = mlplab.run(name, epochs=epochs, train={"engine": "torch"}, progress=False)
    np.testing.assert_allclose(run.losses, seed_losses, rtol=0, atol=0)


def test_sine_poly_follows_notebook_003s_loop():
    epochs = 300
    theirs = ref.SeedPoly(100)
    _copy(_start("sine-poly"), theirs, {"net.1": "linear"})
    x, y = ref.seed_sine_data()
    seed_losses = ref.seed_sine_loop(theirs, x, y, epochs)
    run = mlplab.run("sine-poly", epochs=epochs, train={"engine": "torch"}, progress=False)
    # x ** k rounds differently for a tensor of powers than for Python ints: float32 ulps that Adam carries
    np.testing.assert_allclose(run.losses, seed_losses, rtol=1e-3)


PRIOR_CLASSES = {
    "prior-mlp": lambda: ref.SeedPriorMLP(1000, 5.0, 5.0),
    "prior-mlp-10": lambda: ref.SeedPriorMLP(10, 5.0, 5.0),
    "prior-mlp-linear": lambda: ref.SeedPriorMLP(1000, 5.0, 5.0, activation=torch.nn.Identity()),
    "prior-mlp-tanh": lambda: ref.SeedPriorMLP(1000, 5.0, 5.0, activation=torch.nn.Tanh()),
    "prior-mlp-relu": lambda: ref.SeedPriorMLP(1000, 5.0, 5.0, activation=torch.nn.ReLU()),
    "prior-mlp-deep": lambda: ref.SeedPriorMLP(1000, 5.0, 5.0, layers=3),
}


def test_every_prior_preset_has_a_notebook_class():
    assert set(PRIOR_CLASSES) == {n for n, e in PRESETS.items() if e.kind == "prior"}


@pytest.mark.parametrize("name", list(PRIOR_CLASSES))
def test_prior_activities_are_notebook_003s_class(name):
    run = mlplab.run(name, progress=False)
    x_nn = np.linspace(-5, 5, num=1000)[:, None].astype("float32")  # the notebook's grid
    np.testing.assert_array_equal(run.extras["x"], x_nn[:, 0])
    for i in (0, 9):
        torch.manual_seed(i)  # sample i of the preset is drawn with seed train.seed + i
        theirs = PRIOR_CLASSES[name]()
        with torch.no_grad():
            expected = theirs.forward(torch.from_numpy(x_nn)).numpy()[:, 0]
        np.testing.assert_allclose(run.extras["samples"][i], expected, rtol=1e-5, atol=1e-4)
    if name == "prior-mlp-linear":  # without the nonlinearity every draw is a straight line
        s = run.extras["samples"]
        np.testing.assert_allclose(np.diff(s, 2, axis=1), 0, atol=1e-2)


# ------------------------------------------------------------------------------------- notebook 004


@pytest.mark.parametrize("name", ["d2l-mlp", "d2l-mlp-xavier"])
def test_d2l_presets_follow_the_d2l_recipe(name):
    """Full batch (the mini-batch order is the loader's business, tested in test_training): same weights,
    cross-entropy, SGD lr 0.1; the preset's init is the notebook's construction under the same seed."""
    steps = 20
    run = mlplab.run(name, epochs=steps, train={"batch_size": None, "engine": "torch"}, progress=False)
    assert run.data.name == "digits" and run.steps == steps
    torch.manual_seed(0)
    theirs = ref.seed_d2l_concise(run.data.d_in, xavier=name.endswith("xavier"))
    start = mlplab.build_model(run.spec["model"], seed=run.spec["train"]["seed"])
    for ours_p, theirs_p in zip(start.parameters(), theirs.parameters()):
        assert torch.equal(ours_p, theirs_p)
    X, y = torch.from_numpy(run.data.X), torch.from_numpy(run.data.y)
    with threads_for(theirs, len(X)):
        seed_losses = ref.seed_d2l_sgd(theirs, X, y, lr=0.1, steps=steps)
    np.testing.assert_allclose(run.losses, seed_losses, rtol=0, atol=0)


def test_d2l_scratch_follows_mlpscratch():
    steps = 20
    run = mlplab.run("d2l-mlp-scratch", epochs=steps, train={"batch_size": None}, progress=False)
    start = mlplab.build_model(run.spec["model"], seed=run.spec["train"]["seed"])
    theirs = ref.SeedD2LScratch(run.data.d_in, 10, 256)
    with torch.no_grad():
        theirs.W1.copy_(start.net[0].weight.T), theirs.b1.copy_(start.net[0].bias)
        theirs.W2.copy_(start.net[2].weight.T), theirs.b2.copy_(start.net[2].bias)
    w0, b0 = start.net[0].weight.detach(), start.net[0].bias.detach()
    assert float(b0.abs().max()) == 0 and 0.008 < float(w0.std()) < 0.012  # MLPScratch: N(0, 0.01^2), zeros
    X, y = torch.from_numpy(run.data.X), torch.from_numpy(run.data.y)
    seed_losses = ref.seed_d2l_sgd(theirs, X, y, lr=0.1, steps=steps)
    np.testing.assert_allclose(run.losses, seed_losses, rtol=1e-4)


def test_activations_are_notebook_004s_cells():
    run = mlplab.run("activations", progress=False)
    x = torch.arange(-8.0, 8.0, 0.1, requires_grad=True)
    for name, fn in (("relu", torch.relu), ("sigmoid", torch.sigmoid), ("tanh", torch.tanh)):
        x.grad = None
        y = fn(x)
        y.backward(torch.ones_like(x), retain_graph=True)
        np.testing.assert_array_equal(run.extras[name], y.detach().numpy())
        np.testing.assert_array_equal(run.extras[f"{name}_grad"], x.grad.numpy())


def test_depth_gradients_against_a_hand_built_network():
    run = mlplab.run("depth-gradients", progress=False)
    data = mlplab.make_dataset("digits")
    X, y = torch.from_numpy(data.X[:256]), torch.from_numpy(data.y[:256])
    for act, fn in (("sigmoid", torch.nn.Sigmoid), ("relu", torch.nn.ReLU)):
        for init in ("default", "xavier_uniform"):
            # the same architecture written out as a plain nn.Sequential, with the builder's initial weights
            start = mlplab.build_model(in_dim=64, out_dim=10, hidden=[128] * 8, activation=act, init=init)
            widths = [64] + [128] * 8 + [10]
            layers = []
            for i in range(9):
                layers.append(torch.nn.Linear(widths[i], widths[i + 1]))
                if i < 8:
                    layers.append(fn())
            net = torch.nn.Sequential(*layers)
            net.load_state_dict(start.net.state_dict())
            torch.nn.functional.cross_entropy(net(X), y).backward()
            norms = [float(m.weight.grad.double().norm()) for m in net if isinstance(m, torch.nn.Linear)]
            np.testing.assert_allclose(run.extras[f"norm/{act}, {init}"], norms, rtol=1e-5)
    ratio = {k: v for k, v in run.metrics.items()}
    # notebook 004's argument, in numbers: sigmoid loses the gradient towards the input, ReLU + Xavier does not
    assert ratio["sigmoid, default: first / last layer"] < 1e-4 and ratio["sigmoid, xavier_uniform: first / last layer"] < 1e-3
    assert 0.3 < ratio["relu, xavier_uniform: first / last layer"] < 3
