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


def test_dead_relu_has_zero_gradients():
    a = explain("dead-relu").arrays
    assert a["z = x w^T + b"].item() == -3 and a["a = relu(z)"].item() == 0
    np.testing.assert_array_equal(a["dw = dz^T x"], [[0, 0]])
    np.testing.assert_array_equal(a["db = sum dz"], [0])


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
