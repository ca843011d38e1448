"""Exact linear pieces of 1-input ReLU networks: against a dense grid, autograd slopes and the 1-D bound."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mlplab.errors import SpecError
from mlplab.geometry import activation_patterns, linear_pieces_1d, linear_regions, upper_bound
from mlplab.models import build_model

VARIANTS = {
    "one-layer": dict(hidden=[12]),
    "deep": dict(hidden=[16, 16, 16]),
    "leaky": dict(hidden=[10, 10], activation="leaky_relu", leaky_slope=0.2),
    "residual-bn": dict(hidden=[8, 8], residual=True, norm="batch"),
    "sigmoid-out": dict(hidden=[10, 10], out_activation="sigmoid"),
    "two-outputs": dict(hidden=[10, 6], out_dim=2),
}


def _model(seed=0, **fields):
    model = build_model(in_dim=1, out_dim=fields.pop("out_dim", 1), seed=seed, **fields)
    gen = torch.Generator().manual_seed(seed + 7)
    for module in model.modules():  # running statistics that are not the identity, so folding them matters
        if isinstance(module, torch.nn.BatchNorm1d):
            module.running_mean.copy_(torch.randn(module.num_features, generator=gen) * 0.5)
            module.running_var.copy_(torch.rand(module.num_features, generator=gen) + 0.5)
    return model.eval()


def _logits(model, x):
    layers = list(model.net)
    if isinstance(layers[-1], (torch.nn.Sigmoid, torch.nn.Softmax)):
        layers = layers[:-1]
    return torch.nn.Sequential(*layers).double()(torch.as_tensor(x, dtype=torch.float64)[:, None])


@pytest.mark.parametrize("name", list(VARIANTS))
def test_pieces_match_a_dense_grid_and_autograd_slopes(name):
    model = _model(seed=2, **VARIANTS[name])
    lo, hi = -2.0, 1.5
    pieces = linear_pieces_1d(model, (lo, hi))
    assert pieces.edges[0] == lo and pieces.edges[-1] == hi and np.all(np.diff(pieces.edges) > 0)
    assert len(pieces) == len(pieces.breakpoints) + 1 >= 3
    # brute force: activation patterns on a dense grid change exactly at the breakpoints
    x = np.linspace(lo, hi, 400_001)
    pats = activation_patterns(model, x[:, None])
    changes = x[1:][(pats[1:] != pats[:-1]).any(1)]
    assert np.diff(pieces.edges).min() > 2 * (x[1] - x[0])  # every piece holds grid points
    assert len(changes) == len(pieces.breakpoints)
    np.testing.assert_allclose(changes, pieces.breakpoints, atol=x[1] - x[0])
    # autograd: the slope at each piece's midpoint, and the values along the interval
    mid = torch.tensor((pieces.edges[:-1] + pieces.edges[1:]) / 2, dtype=torch.float64, requires_grad=True)
    out = _logits(model.double(), mid)
    for k in range(out.shape[1]):
        (grad,) = torch.autograd.grad(out[:, k].sum(), mid, retain_graph=True)
        np.testing.assert_allclose(pieces.slopes[:, k], grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(pieces(x[::97]), _logits(model, x[::97]).detach().numpy(), rtol=1e-9, atol=1e-12)


def test_hand_worked_relus_bend_where_expected():
    """y = relu(x) - 2 relu(x - 0.5): pieces [-1, 0], [0, 0.5], [0.5, 1] with slopes 0, 1, -1."""
    model = build_model(in_dim=1, out_dim=1, hidden=[2], seed=0)
    with torch.no_grad():
        model.net[0].weight.copy_(torch.tensor([[1.0], [1.0]]))
        model.net[0].bias.copy_(torch.tensor([0.0, -0.5]))
        model.net[2].weight.copy_(torch.tensor([[1.0, -2.0]]))
        model.net[2].bias.zero_()
    pieces = linear_pieces_1d(model, (-1, 1))
    np.testing.assert_allclose(pieces.edges, [-1, 0, 0.5, 1])
    np.testing.assert_allclose(pieces.slopes[:, 0], [0, 1, -1])
    np.testing.assert_allclose(pieces.intercepts[:, 0], [0, 0, 1])


@pytest.mark.parametrize("hidden", [[3], [12], [4, 4], [6, 5, 4]])
def test_counts_stay_under_the_1d_bound(hidden):
    n = upper_bound(1, hidden)[0]
    for seed in range(4):
        model = _model(seed=seed, hidden=hidden)
        assert len(linear_pieces_1d(model, (-50, 50))) <= n  # a wide interval holds every breakpoint


def test_a_one_layer_net_reaches_its_bound():
    """n units with roots at n distinct inputs and alternating output signs: n + 1 pieces, the bound."""
    n = 7
    model = build_model(in_dim=1, out_dim=1, hidden=[n], seed=0)
    with torch.no_grad():
        model.net[0].weight.fill_(1.0)
        model.net[0].bias.copy_(-torch.linspace(-0.9, 0.9, n))
        model.net[2].weight.copy_(torch.tensor([[(-1.0) ** i for i in range(n)]]))
    assert len(linear_pieces_1d(model, (-1, 1))) == n + 1 == upper_bound(1, [n])[0]


def test_bad_inputs_are_refused_by_name():
    with pytest.raises(SpecError, match="1 input"):
        linear_pieces_1d(build_model(in_dim=2, out_dim=1, hidden=[3]))
    with pytest.raises(SpecError, match="interval"):
        linear_pieces_1d(_model(hidden=[3]), (1, -1))
    with pytest.raises(SpecError, match="interval"):
        linear_pieces_1d(_model(hidden=[3]), "ab")
    with pytest.raises(SpecError, match=r"net.1 \(Tanh\)"):
        linear_pieces_1d(_model(hidden=[3], activation="tanh"))
    with pytest.raises(SpecError, match="linear_pieces_1d"):  # the 2-D enumerator points to it
        linear_regions(_model(hidden=[3]))


def test_to_dict_is_json_and_matches_the_pieces():
    import json

    pieces = linear_pieces_1d(_model(seed=1, hidden=[6]), (-1, 1))
    d = json.loads(json.dumps(pieces.to_dict()))
    assert d["count"] == len(pieces) == len(d["pieces"]) and d["breakpoints"] == pieces.breakpoints.tolist()
    assert d["pieces"][0]["lo"] == -1 and d["pieces"][-1]["hi"] == 1
    assert [p["slope"] for p in d["pieces"]] == pieces.slopes[:, 0].tolist()
