"""The NumPy engine against PyTorch autograd, central finite differences, and hand-worked numbers."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from sklearn.datasets import make_moons
from torch import nn
from torch.nn import functional as F

from mlplab import train
from mlplab.autograd import MLP, SGD, Adam, ops
from mlplab.data import Dataset
from mlplab.errors import SpecError
from mlplab.models import build_model
from mlplab.training.callbacks import frame_schedule

pytestmark = pytest.mark.usefixtures("one_thread")


def train_scratch(spec, data, fields):
    """The from-scratch engine through the one loop, from a model spec as the presets start."""
    return train(build_model(spec, seed=fields.get("seed", 0)), data, {**fields, "engine": "numpy"})

ACTS = ["relu", "leaky_relu", "sigmoid", "tanh", "identity"]
LOSSES = ["mse", "mse_sum", "bce", "bce_logits", "ce"]
WIDTHS = [1, 2, 3, 5, 8, 16, 64]


def random_case(rng: np.random.Generator, smooth: bool = False) -> tuple[dict, str, float]:
    """A random ModelSpec (as a dict), a loss that fits its output, and an L2 strength.

    ``smooth``: no layer norm over fewer than 3 units. A width-1 layer norm outputs its constant beta
    (0 at init), which lands exactly on a ReLU kink, where finite differences are meaningless.
    """
    loss = LOSSES[rng.integers(len(LOSSES))]
    residual = bool(rng.integers(2))
    poly = int(rng.integers(2, 5)) if rng.random() < 0.15 else 0
    spec = {
        "in_dim": 1 if poly else int(rng.integers(1, 6)),
        "hidden": [WIDTHS[i] for i in rng.integers(len(WIDTHS), size=rng.integers(1, 5))],
        "out_dim": int(rng.integers(2, 5)) if loss == "ce" else int(rng.integers(1, 3)),
        "activation": ACTS[rng.integers(len(ACTS))],
        "leaky_slope": float(rng.uniform(0.01, 0.3)),
        "residual": residual,
        "norm": ["none", "batch", "layer"][rng.integers(3)],
        "norm_position": ["pre", "post"][rng.integers(2)],
        "bias": bool(rng.integers(2)),
        "poly_degree": poly,
        "out_activation": "sigmoid" if loss == "bce" else ("softmax" if loss == "ce" and rng.random() < 0.5 else "none"),
    }
    if smooth and spec["norm"] == "layer":
        spec["hidden"] = [max(w, 3) for w in spec["hidden"]]
    return spec, loss, float(rng.choice([0.0, 0.0, 0.3]))


def make_targets(rng, loss: str, n: int, out_dim: int) -> np.ndarray:
    if loss == "ce":
        return rng.integers(out_dim, size=n)
    if loss in ("bce", "bce_logits"):
        return rng.uniform(0, 1, size=(n, out_dim))  # soft targets exercise both terms of the loss
    return rng.normal(size=(n, out_dim))


def torch_loss(model: nn.Module, X: torch.Tensor, y: np.ndarray, loss: str, l2: float) -> torch.Tensor:
    """The same objective written with torch's own functions."""
    if loss == "ce":
        last = model.net[-1]
        logits = model.net[:-1](X) if isinstance(last, nn.Softmax) else model(X)
        value = F.cross_entropy(logits, torch.as_tensor(y))
    else:
        out, target = model(X), torch.as_tensor(y, dtype=torch.float64)
        value = {
            "mse": lambda: ((out - target) ** 2).mean(),
            "mse_sum": lambda: ((out - target) ** 2).sum(),
            "bce": lambda: F.binary_cross_entropy(out, target),
            "bce_logits": lambda: F.binary_cross_entropy_with_logits(out, target),
        }[loss]()
    weights = [m.weight for m in model.modules() if isinstance(m, nn.Linear)]
    return value + 0.5 * l2 * sum((w**2).sum() for w in weights)


def rel_err(a: np.ndarray, b: np.ndarray, scale: float) -> float:
    """max |a - b| relative to max |b|.

    Some gradients are exactly zero in exact arithmetic and hold only rounding noise in both engines:
    a bias feeding a batch norm (the norm subtracts it again), anything before a width-1 layer norm
    (its output is the constant beta), and nearly so before a width-2 one. Such a tensor is measured
    against 1e-2 of the model's largest gradient instead of its own noise-sized maximum.
    """
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-2 * scale, 1e-300))


# ------------------------------------------------------------------------------------- against torch


@pytest.mark.parametrize("seed", range(40))
def test_gradients_equal_torch_autograd(seed):
    rng = np.random.default_rng(seed)
    spec, loss, l2 = random_case(rng)
    model = build_model(spec, seed=seed).double()
    net = MLP.from_torch(model, dtype=np.float64)
    X = rng.normal(size=(9, spec["in_dim"]))
    y = make_targets(rng, loss, 9, spec["out_dim"])

    value, grads = net.loss_and_grads(X, y, loss, l2=l2)
    reference = torch_loss(model, torch.as_tensor(X), y, loss, l2)
    reference.backward()

    assert value == pytest.approx(reference.item(), rel=1e-12, abs=1e-14)
    named = dict(model.named_parameters())
    assert list(grads) == list(named)  # same names, same order
    scale = max(float(p.grad.abs().max()) for p in named.values())
    for name, p in named.items():
        assert grads[name].shape == tuple(p.shape), name
        assert rel_err(grads[name], p.grad.numpy(), scale) <= 1e-10, (name, spec, loss)
    for name, buf in model.state_dict().items():  # batch-norm running statistics move the same way
        if name in net.buffers:
            np.testing.assert_allclose(net.buffers[name], buf.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("seed", range(12))
def test_gradients_equal_central_finite_differences(seed):
    rng = np.random.default_rng(1000 + seed)
    spec, loss, l2 = random_case(rng, smooth=True)
    net = MLP.from_spec(spec, seed=seed, dtype=np.float64)
    X = rng.normal(size=(7, spec["in_dim"]))
    y = make_targets(rng, loss, 7, spec["out_dim"])
    _, grads = net.loss_and_grads(X, y, loss, l2=l2)
    grads = {k: v.copy() for k, v in grads.items()}
    h = 1e-6
    for name, p in net.params.items():
        for idx in {tuple(rng.integers(s) for s in p.shape) for _ in range(4)}:
            keep = p[idx]
            p[idx] = keep + h
            up = net.loss_and_grads(X, y, loss, l2=l2)[0]
            p[idx] = keep - h
            down = net.loss_and_grads(X, y, loss, l2=l2)[0]
            p[idx] = keep
            fd = (up - down) / (2 * h)
            assert grads[name][idx] == pytest.approx(fd, rel=1e-5, abs=1e-7), (name, idx, spec, loss)


OP_CASES = {
    "relu": lambda x: ops.relu(x),
    "leaky_relu": lambda x: ops.leaky_relu(x, 0.2),
    "sigmoid": ops.sigmoid,
    "tanh": ops.tanh,
    "identity": ops.identity,
    "sin": ops.sin,
    "softmax": ops.softmax,
    "poly": lambda x: ops.poly_features(x, 4),
    "layer_norm": lambda x: ops.layer_norm(x, np.linspace(0.5, 2, 4), np.arange(4.0))[:2],
    "batch_norm": lambda x: ops.batch_norm_train(x, np.linspace(0.5, 2, 4), np.arange(4.0))[:2],
}


@pytest.mark.parametrize("name", list(OP_CASES))
def test_each_op_vjp_equals_finite_differences(name):
    """<g, f(x + h e)> - <g, f(x - h e)> over 2h is the e-component of the VJP of g."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(5, 4))
    out, vjp = OP_CASES[name](x)
    g = rng.normal(size=out.shape)
    dx = vjp(g)
    dx = dx[0] if isinstance(dx, tuple) else dx
    h = 1e-6
    for idx in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[idx] = h
        fd = (np.sum(g * OP_CASES[name](x + e)[0]) - np.sum(g * OP_CASES[name](x - e)[0])) / (2 * h)
        assert dx[idx] == pytest.approx(fd, rel=1e-6, abs=1e-8), (name, idx)


def test_stable_forms_survive_extreme_inputs():
    z = np.array([[-1000.0], [0.0], [1000.0]])
    s, _ = ops.sigmoid(z)
    np.testing.assert_array_equal(s[:, 0], [0.0, 0.5, 1.0])
    value, vjp = ops.bce_logits(z, np.array([[1.0], [1.0], [1.0]]))
    assert value == pytest.approx(1000.0 / 3 + np.log(2) / 3)
    logits = np.array([[1000.0, 0.0, -1000.0]])
    value, vjp = ops.softmax_cross_entropy(logits, np.array([1]))
    assert value == pytest.approx(1000.0)
    np.testing.assert_allclose(vjp(1.0), [[1.0, -1.0, 0.0]], atol=1e-300)
    value, _ = ops.bce(np.array([[0.0], [1.0]]), np.array([[1.0], [0.0]]))  # log clipped at -100, like torch
    assert value == pytest.approx(100.0)
    expected = F.binary_cross_entropy(torch.tensor([[0.0], [1.0]]), torch.tensor([[1.0], [0.0]])).item()
    assert value == pytest.approx(expected)


# ----------------------------------------------------------------------------- notebook 002, three ways


def moons() -> tuple[np.ndarray, np.ndarray]:
    return make_moons(noise=0.25, n_samples=100, random_state=0)


def seed002_net() -> nn.Sequential:
    return build_model(in_dim=2, hidden=[32], out_dim=1, out_activation="sigmoid", seed=0).net


def torch_optimizer_path(model: nn.Sequential, X, y, steps=1000, lr=1.0) -> list[float]:
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    history = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = F.binary_cross_entropy(model(X).squeeze(1), y)
        loss.backward()
        history.append(loss.item())
        optimizer.step()
    return history


def torch_manual_step_path(model: nn.Sequential, X, y, steps=1000, lr=1.0) -> list[float]:
    history = []
    for _ in range(steps):
        model.zero_grad()
        loss = F.binary_cross_entropy(model(X).squeeze(1), y)
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p.add_(-lr * p.grad)
        history.append(loss.item())
    return history


def engine_path(net: MLP, X, y, steps=1000, lr=1.0) -> list[float]:
    history = []
    for _ in range(steps):
        loss, _ = net.loss_and_grads(X, y, "bce")
        net.flat -= lr * net.last_flat_grad  # p -= lr * grad, for every parameter at once
        history.append(loss)
    return history


def test_seed002_three_paths_give_the_same_loss_curve():
    Xn, yn = moons()
    start = seed002_net()
    X32, y32 = torch.tensor(Xn, dtype=torch.float32), torch.tensor(yn, dtype=torch.float32)
    a = torch_optimizer_path(copy.deepcopy(start), X32, y32)
    b = torch_manual_step_path(copy.deepcopy(start), X32, y32)
    np.testing.assert_allclose(a, b, rtol=1e-5)

    # float64 for the engine comparison: torch's optimizer path again, and the NumPy engine
    torch64 = copy.deepcopy(start).double()
    a64 = torch_optimizer_path(torch64, torch.tensor(Xn), torch.tensor(yn, dtype=torch.float64))
    net = MLP.from_torch(start, dtype=np.float64)
    c64 = engine_path(net, Xn, yn)
    np.testing.assert_allclose(c64, a64, rtol=1e-9)
    np.testing.assert_allclose(c64, a, rtol=1e-3)  # and the float32 curve, to float32 precision
    for name, p in torch64.named_parameters():
        np.testing.assert_allclose(net.params[name], p.detach().numpy(), rtol=1e-7, atol=1e-9)

    assert a[-1] < 0.1 and c64[-1] < 0.1
    accuracy = np.mean((net.forward(Xn)[:, 0] > 0.5) == yn)
    assert accuracy >= 0.9  # measured: 0.99 (99 of 100 training points)


def test_train_scratch_reproduces_seed002_through_the_run():
    Xn, yn = moons()
    data = Dataset(X=Xn, y=yn, task="binary", name="moons")
    spec = {"in_dim": 2, "hidden": [32], "out_dim": 1, "out_activation": "sigmoid"}
    run = train_scratch(spec, data, {"optimizer": "sgd", "lr": 1.0, "loss": "bce", "epochs": 1000, "frames": 50})
    model = build_model(spec, seed=0)
    expected = torch_optimizer_path(model.net, torch.tensor(data.X), torch.tensor(yn, dtype=torch.float32))
    np.testing.assert_allclose(run.losses, expected, rtol=1e-3)
    assert run.status == "finished" and run.steps == 1000
    assert run.frames.shape == (len(run.frame_steps), 100, 1)
    assert run.frame_steps[0] == 0 and run.frame_steps[-1] == 1000
    assert run.metrics["train_accuracy"] >= 0.9
    # frame 0 is the untrained model; the last frame is the torch model the run hands back
    with torch.no_grad():
        np.testing.assert_allclose(run.frames[0], build_model(spec, seed=0)(torch.tensor(data.X)).numpy(), atol=1e-6)
        np.testing.assert_allclose(run.frames[-1], run.model(torch.tensor(data.X)).numpy(), atol=1e-5)


# ----------------------------------------------------------------------------- hand-worked examples


def test_two_layer_example_by_hand():
    """x W1^T -> ReLU -> W2, no biases; the net computes x1 + x2 exactly."""
    model = build_model(in_dim=2, hidden=[2], out_dim=1, bias=False)
    net = MLP.from_torch(model, dtype=np.float64)
    net.params["net.0.weight"][...] = [[1, 1], [-1, -1]]
    net.params["net.2.weight"][...] = [[1, -1]]
    x = np.array([[1, 1], [2, 2], [-1, -1], [-2, -2]], dtype=float)
    z1 = x @ net.params["net.0.weight"].T
    np.testing.assert_array_equal(z1, [[2, -2], [4, -4], [-2, 2], [-4, 4]])
    np.testing.assert_array_equal(net.forward(x), [[2], [4], [-2], [-4]])
    loss, grads = net.loss_and_grads(x, np.array([1.0, 1.0, 0.0, 0.0]), "mse")
    # residuals (2-1, 4-1, -2, -4): loss = (1 + 9 + 4 + 16) / 4
    assert loss == 7.5
    # dz2 = 2/4 * residual = (0.5, 1.5, -1, -2); dW2 = dz2^T a1 = (0.5*2 + 1.5*4, -1*2 - 2*4)
    np.testing.assert_array_equal(grads["net.2.weight"], [[7, -10]])
    # dz1 = (dz2 w2) masked by z1 > 0 -> unit 0 rows 1-2, unit 1 rows 3-4; dW1 = dz1^T x
    np.testing.assert_array_equal(grads["net.0.weight"], [[3.5, 3.5], [-5, -5]])


def test_dead_unit_gets_no_gradient():
    x, w, b = np.array([[1.0, 1.0]]), np.array([[1.0, 1.0]]), np.array([-5.0])
    z, mm_vjp = ops.matmul(x, w.T)
    z, add_vjp = ops.bias_add(z, b)
    a, relu_vjp = ops.relu(z)
    assert z[0, 0] == -3 and a[0, 0] == 0
    dz, db = add_vjp(relu_vjp(np.ones_like(a)))
    _, dwt = mm_vjp(dz)
    np.testing.assert_array_equal(dwt.T, [[0.0, 0.0]])
    np.testing.assert_array_equal(db, [0.0])


def test_sin_vjp_with_ones_is_cos():
    x = np.linspace(0, 2 * np.pi, 100)
    f, vjp = ops.sin(x)
    np.testing.assert_array_equal(vjp(np.ones_like(f)), np.cos(x))
    xt = torch.tensor(x, requires_grad=True)
    ft = torch.sin(xt)
    ft.backward(torch.ones_like(ft))
    np.testing.assert_allclose(vjp(np.ones_like(f)), xt.grad.numpy(), rtol=1e-15, atol=1e-15)


def hidden_spread(run) -> float:
    """How far apart the hidden units' incoming weights are (0: all units identical)."""
    w = run.model.state_dict()["net.0.weight"].numpy()
    return float(np.abs(w - w[0]).max())


def test_constant_init_keeps_hidden_units_identical_and_xavier_breaks_it():
    Xn, yn = moons()
    data = Dataset(X=Xn, y=yn, task="binary", name="moons")
    train = {"optimizer": "sgd", "lr": 0.5, "loss": "bce_logits", "epochs": 200}
    base = {"in_dim": 2, "hidden": [8], "out_dim": 1}
    same = train_scratch({**base, "init": "constant", "init_value": 0.3}, data, train)
    broken = train_scratch({**base, "init": "xavier_uniform"}, data, train)
    assert hidden_spread(same) <= 1e-12
    assert np.abs(same.model.state_dict()["net.0.weight"].numpy() - 0.3).max() > 1e-2  # it did train
    assert hidden_spread(broken) > 0.1
    assert broken.metrics["train_accuracy"] > same.metrics["train_accuracy"]


# ------------------------------------------------------------------------------------- optimizers


def _optimizer_trajectories(make_torch, make_engine, steps=50):
    rng = np.random.default_rng(3)
    shapes = [(4, 3), (4,), (1, 4)]
    starts = [rng.normal(size=s) for s in shapes]
    target = [rng.normal(size=s) for s in shapes]
    grad_of = lambda p, t: 3.0 * np.sin(p - t) + 0.1 * p**3  # noqa: E731  (depends on p: a real trajectory)

    tparams = [torch.tensor(s, requires_grad=True) for s in starts]
    topt = make_torch(tparams)
    flat = np.concatenate([s.ravel() for s in starts])
    flat_target = np.concatenate([t.ravel() for t in target])
    eopt = make_engine()
    for _ in range(steps):
        for p, t in zip(tparams, target):
            p.grad = torch.tensor(grad_of(p.detach().numpy(), t))
        topt.step()
        eopt.step(flat, grad_of(flat, flat_target))
        expected = np.concatenate([p.detach().numpy().ravel() for p in tparams])
        np.testing.assert_allclose(flat, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("momentum,wd", [(0.0, 0.0), (0.9, 0.0), (0.9, 0.05), (0.5, 0.3)])
def test_sgd_equals_torch_optim(momentum, wd):
    _optimizer_trajectories(lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=momentum, weight_decay=wd),
                            lambda: SGD(0.05, momentum, wd))


@pytest.mark.parametrize("lr,wd,betas", [(0.01, 0.0, (0.9, 0.999)), (0.1, 0.1, (0.8, 0.99)), (1e-3, 0.0, (0.0, 0.5))])
def test_adam_equals_torch_optim(lr, wd, betas):
    _optimizer_trajectories(lambda ps: torch.optim.Adam(ps, lr=lr, betas=betas, weight_decay=wd),
                            lambda: Adam(lr, betas=betas, weight_decay=wd))


def test_adam_training_matches_torch_trainer_loop():
    """The whole loop: build_model + torch.optim.Adam in float64 vs the NumPy engine in float32."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    y = np.sin(X.sum(axis=1, keepdims=True))
    data = Dataset(X=X, y=y, task="regression", name="sine")
    spec = {"in_dim": 3, "hidden": [16, 16], "out_dim": 1, "activation": "tanh", "norm": "layer"}
    run = train_scratch(spec, data, {"optimizer": "adam", "lr": 0.01, "weight_decay": 0.01, "epochs": 60})
    model = build_model(spec, seed=0).double()
    opt = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=0.01)
    Xt, yt = torch.tensor(data.X, dtype=torch.float64), torch.tensor(data.y, dtype=torch.float64)
    losses = []
    for _ in range(60):
        opt.zero_grad()
        loss = ((model(Xt) - yt) ** 2).mean()
        loss.backward()
        losses.append(loss.item())
        opt.step()
    np.testing.assert_allclose(run.losses, losses, rtol=2e-5)  # float32 rounding over 60 steps


# ------------------------------------------------------------------------- conversion and trainer


def test_weights_copy_both_ways_with_batch_norm_statistics():
    spec = {"in_dim": 3, "hidden": [6, 6], "out_dim": 2, "residual": True, "norm": "batch"}
    model = build_model(spec, seed=4)
    net = MLP.from_torch(model)
    assert net.dtype == np.float32
    assert [n for n, _ in model.named_parameters()] == list(net.params)
    assert net.params["net.0.weight"].shape == (6, 3)  # (out, in) like torch
    X = np.random.default_rng(0).normal(size=(10, 3)).astype(np.float32)
    for _ in range(3):
        net.loss_and_grads(X, np.zeros((10, 2), np.float32))  # training mode moves running stats
    back = net.to_torch().eval()
    with torch.no_grad():
        np.testing.assert_allclose(back(torch.tensor(X)).numpy(), net.forward(X), rtol=1e-5, atol=1e-6)
    assert int(back.state_dict()["net.1.num_batches_tracked"]) == 3
    again = MLP.from_torch(back)
    np.testing.assert_array_equal(again.flat, net.flat)
    target = build_model(spec, seed=99)
    net.copy_to(target)
    np.testing.assert_array_equal(target.state_dict()["net.0.weight"].numpy(), net.params["net.0.weight"])


def test_minibatches_are_seeded_and_frames_follow_the_spec():
    rng = np.random.default_rng(1)
    data = Dataset(X=rng.normal(size=(50, 2)), y=rng.integers(3, size=50), task="multiclass", name="blobs")
    spec = {"in_dim": 2, "hidden": [8], "out_dim": 3}
    train = {"optimizer": "adam", "lr": 0.02, "loss": "ce", "epochs": 10, "batch_size": 16, "frames": 7, "grid": 5}
    a, b = train_scratch(spec, data, train), train_scratch(spec, data, train)
    c = train_scratch(spec, data, {**train, "seed": 1})
    assert a.steps == 10 * 4
    np.testing.assert_array_equal(a.losses, b.losses)
    assert not np.array_equal(a.losses, c.losses)
    np.testing.assert_array_equal(a.frame_steps, frame_schedule(40, 7))
    assert a.frame_steps[0] == 0 and a.frame_steps[-1] == 40 and len(a.frame_steps) == 7
    assert a.frames.shape == (7, 50, 3) and a.grid_frames.shape == (7, 5, 5, 3)
    with torch.no_grad():  # the reported accuracy is the trained model's, counted by hand
        predicted = a.model.eval()(torch.from_numpy(a.data.X)).argmax(1).numpy()
    assert a.metrics["train_accuracy"] == pytest.approx(np.mean(predicted == a.data.y))


def test_divergence_stops_the_run_with_a_reason():
    rng = np.random.default_rng(2)
    data = Dataset(X=rng.normal(size=(20, 2)) * 100, y=rng.normal(size=(20, 1)) * 100, task="regression", name="big")
    run = train_scratch({"in_dim": 2, "hidden": [32, 32], "out_dim": 1}, data,
                        {"optimizer": "sgd", "lr": 50.0, "epochs": 200})
    assert run.status == "diverged" and "learning rate" in run.message
    assert run.steps < 200 and np.isfinite(run.losses).all()  # the non-finite loss is named, not kept


def test_bad_input_names_the_parameter():
    net = MLP.from_spec({"in_dim": 2, "hidden": [3], "out_dim": 2})
    X = np.zeros((4, 2), np.float32)
    with pytest.raises(SpecError, match="loss"):
        net.loss_and_grads(X, np.zeros(4, np.int64), "hinge")
    with pytest.raises(SpecError, match="labels in 0..1"):
        net.loss_and_grads(X, np.array([0, 1, 2, 0]), "ce")
    with pytest.raises(SpecError, match="dtype"):
        MLP.from_spec({"in_dim": 2}, dtype=np.float16)
    with pytest.raises(SpecError, match="Conv1d"):
        MLP.from_torch(nn.Sequential(nn.Conv1d(1, 1, 1)))
    with pytest.raises(SpecError, match="batch_size"):
        data = Dataset(X=np.zeros((5, 2)), y=np.zeros((5, 1)), task="regression", name="tiny")
        train_scratch({"in_dim": 2, "hidden": [3], "norm": "batch"}, data, {"batch_size": 4})
