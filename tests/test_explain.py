"""Every worked example's numbers, checked by hand, and every topic rendered without error."""

from __future__ import annotations

import io

import numpy as np
import pytest
from rich.console import Console

from mlplab.errors import SpecError
from mlplab.explain import TOPICS, explain, parse_arch, render
from mlplab.models import count_parameters


def test_two_layer_numbers_by_hand():
    a = explain("two-layer").arrays
    np.testing.assert_array_equal(a["z1 = x W1^T"], [[2, -2], [4, -4], [-2, 2], [-4, 4]])
    np.testing.assert_array_equal(a["a1 = relu(z1)"], [[2, 0], [4, 0], [0, 2], [0, 4]])
    np.testing.assert_array_equal(a["z2 = a1 W2^T"], [[2], [4], [-2], [-4]])  # x1 + x2
    assert float(a["loss = mean((z2 - y)^2)"]) == 7.5
    np.testing.assert_array_equal(a["dz2 = 2 (z2 - y) / 4"], [[0.5], [1.5], [-1], [-2]])
    np.testing.assert_array_equal(a["dW2 = dz2^T a1"], [[7, -10]])
    np.testing.assert_array_equal(a["dz1 = da1 * [z1 > 0]"], [[0.5, 0], [1.5, 0], [0, 1], [0, 2]])
    np.testing.assert_array_equal(a["dW1 = dz1^T x"], [[3.5, 3.5], [-5, -5]])


def test_two_layer_says_where_notebook_001_differs_and_shows_what_it_meant():
    e = explain("two-layer")
    a = e.arrays
    x = a["x"]
    np.testing.assert_array_equal(a["z2 = a1 W2^T"][:, 0], x.sum(1))  # relu(s) - relu(-s) = s
    np.testing.assert_array_equal(a["notebook 001's answer for z2"], [[2], [4], [2], [4]])  # as written there
    np.testing.assert_array_equal(a["W2 the answer fits"], [[1, 1]])
    np.testing.assert_array_equal(a["z2 = a1 [1, 1]^T"][:, 0], np.abs(x.sum(1)))  # rows 3-4 reflected
    assert any("[2, 4, -2, -4]" in n and "[2, 4, 2, 4]" in n for n in e.notes)


def test_dead_relu_against_autograd_and_notebook_001():
    import torch

    e = explain("dead-relu")
    a = e.arrays
    x = torch.tensor([[1.0, 1.0]], requires_grad=True, dtype=torch.float64)
    w, b = torch.tensor([[1.0, 1.0]], dtype=torch.float64), torch.tensor([-5.0], dtype=torch.float64)
    z = x @ w.T + b
    (dz_dx,) = torch.autograd.grad(z.sum(), x, retain_graph=True)
    (da_dx,) = torch.autograd.grad(torch.relu(z).sum(), x)
    assert a["z = x w^T + b"].item() == z.item() == -3 and a["notebook 001's answer for z"].item() == 0
    np.testing.assert_array_equal(a["[dz/dx1, dz/dx2] = w"], dz_dx.numpy())  # [1, 1], not the notebook's 0
    np.testing.assert_array_equal(a["notebook 001's answer for [dz/dx1, dz/dx2]"], [[0, 0]])
    np.testing.assert_array_equal(a["[da/dx1, da/dx2] = relu'(z) w"], da_dx.numpy())  # the 0 the notebook meant
    assert a["a = relu(z)"].item() == 0
    np.testing.assert_array_equal(a["dw = dz^T x"], [[0, 0]])
    np.testing.assert_array_equal(a["db = sum dz"], [0])
    assert "-3" in e.notes[0] and "z = 0" in e.notes[0]


def test_vjp_sin_is_cos():
    a = explain("vjp-sin", "100").arrays
    assert a["x"].shape == (100,)
    np.testing.assert_array_equal(a["v J = v * cos(x)"], np.cos(a["x"]))
    with pytest.raises(SpecError, match="vjp-sin points"):
        explain("vjp-sin", "lots")


def test_symmetry_table():
    e = explain("symmetry")
    rows = e.tables[0].rows
    assert [r[0] for r in rows] == [0, 1, 10, 50, 100, 200]
    assert all(r[1] == 0 for r in rows)  # constant init: hidden units identical at every step
    assert rows[-1][2] > rows[0][2] > 0.1  # Xavier: distinct from the start, and further apart
    w = e.arrays["W1 after 200 steps (constant init)"]
    assert np.all(w == w[0]) and not np.allclose(w[0], 0.3)  # trained, still identical


@pytest.mark.parametrize("arch,total", [("2-32-1", 129), ("784-256-10", 203530), ("2-8-8-1,nobias", 2 * 8 + 8 * 8 + 8),
                                        ("2-8-8-1,batchnorm", 2 * 8 + 8 + 16 + 8 * 8 + 8 + 16 + 8 + 1)])
def test_params_counts(arch, total):
    e = explain("params", arch)
    assert int(e.arrays["total"]) == total == count_parameters(parse_arch(arch)[0])
    per_layer = e.tables[1].rows
    assert per_layer[-1] == ["total", total] and sum(c for _, c in per_layer[:-1]) == total
    assert sum(r[2] for r in e.tables[0].rows) == total


def test_params_breakdown_of_2_32_1():
    rows = explain("params", "2-32-1").tables[0].rows
    assert rows == [["net.0.weight", "32x2", 64], ["net.0.bias", "32", 32], ["net.2.weight", "1x32", 32],
                    ["net.2.bias", "1", 1]]


def test_backprop_shapes():
    e = explain("backprop", "2-32-1,out=sigmoid,n=7")
    forward = e.tables[0].rows
    assert [r[2:4] for r in forward] == [["(7, 2)", "(7, 32)"], ["(7, 32)", "(7, 32)"], ["(7, 32)", "(7, 1)"],
                                         ["(7, 1)", "(7, 1)"]]
    backward = {r[0]: r for r in e.tables[1].rows}
    assert backward["net.0"][2] == "dweight (32, 2), dbias (32,)"
    assert backward["net.2"][2] == "dweight (1, 32), dbias (1,)"
    assert "loss bce" in e.notes[0]
    res = explain("backprop", "3-4-4-2,residual,layernorm,loss=ce")
    names = [r[0] for r in res.tables[1].rows]
    assert "net.2.fc1" in names and "net.2" in names


@pytest.mark.parametrize("arch", ["2-3-1,out=sigmoid", "3-4-4-2,residual,layernorm,loss=ce", "4-30-3,batchnorm,out=softmax",
                                  "1-8-8-1,poly=3,residual,batchnorm", "2-8-8-1,nobias,tanh,loss=mse_sum",
                                  "2-5-1,leaky_relu,loss=bce_logits"])
def test_backprop_numbers_are_checked_against_autograd(arch):
    e = explain("backprop", arch)
    checks = e.tables[2].rows
    assert checks and all(r[3] == "ok" for r in checks), [r for r in checks if r[3] != "ok"]
    shown = [k for k in e.arrays if "[autograd: max |diff|" in k]
    assert len(shown) == len(checks)  # every checked value is printed with its check
    assert any(k.startswith("forward net.0") for k in shown) and any(": dx" in k for k in shown)


def test_backprop_first_layer_gradient_against_finite_differences():
    import torch

    from mlplab import build_model

    e = explain("backprop", "2-3-1,tanh,n=5")
    dw = next(v for k, v in e.arrays.items() if k.startswith("VJP net.0: dweight"))
    X = e.arrays["X (the batch)"]
    y = e.arrays["y (targets)"]
    model = build_model(parse_arch("2-3-1,tanh")[0], seed=0).double()
    w = model.net[0].weight
    eps, fd = 1e-6, np.zeros_like(dw)
    with torch.no_grad():
        for i in range(w.shape[0]):
            for j in range(w.shape[1]):
                vals = []
                for sign in (1, -1):
                    w[i, j] += sign * eps
                    vals.append(float(((model(torch.from_numpy(X)) - torch.from_numpy(y)) ** 2).mean()))
                    w[i, j] -= sign * eps
                fd[i, j] = (vals[0] - vals[1]) / (2 * eps)
    np.testing.assert_allclose(dw, fd, rtol=1e-6, atol=1e-9)


def test_backprop_check_catches_a_wrong_vjp(monkeypatch):
    from mlplab.autograd import ops

    def wrong_relu(x):
        return np.maximum(x, 0), lambda g: g  # forgets the mask [x > 0]

    monkeypatch.setitem(ops.ACTIVATIONS, "relu", wrong_relu)
    rows = {r[0]: r[3] for r in explain("backprop", "2-16-1,n=8").tables[2].rows}
    assert rows["VJP net.1 (relu): dx"] == "DIFFERS" and rows["forward net.1 (relu): output"] == "ok"


def test_parse_arch_flags():
    spec, extra = parse_arch("2-16-16-1,tanh,residual,layernorm,out=sigmoid,n=3,loss=bce")
    assert (spec.in_dim, spec.hidden, spec.out_dim, spec.activation) == (2, [16, 16], 1, "tanh")
    assert spec.residual and spec.norm == "layer" and spec.out_activation == "sigmoid"
    assert extra == {"n": 3, "loss": "bce"}
    with pytest.raises(SpecError, match="architecture flag.*residual"):
        parse_arch("2-3-1,resdual")
    with pytest.raises(SpecError, match="IN-H1"):
        parse_arch("2-x-1")


def test_unknown_topic_lists_topics():
    with pytest.raises(SpecError) as info:
        explain("backprob")
    for topic in TOPICS:
        assert topic in str(info.value)


@pytest.mark.parametrize("topic,arg", [("two-layer", None), ("dead-relu", None), ("vjp-sin", None),
                                       ("symmetry", None), ("params", "2-32-1"), ("params", "1-8-8-1,poly=3,residual"),
                                       ("backprop", "2-32-1"), ("backprop", "4-300-3,batchnorm,out=softmax")])
def test_render_prints(topic, arg):
    out = io.StringIO()
    render(explain(topic, arg), Console(file=out, width=120))
    text = out.getvalue()
    assert explain(topic, arg).title in text
    if topic == "two-layer":
        assert "dz1 = da1 * [z1 > 0]" in text  # brackets are not swallowed as markup
        assert "-10" in text
    if topic == "backprop" and arg.startswith("4-300"):
        assert "(4, 300)" in text and "dweight (300, 4)" in text
