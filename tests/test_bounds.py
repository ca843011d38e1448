"""Region-count bounds: hand-worked values, brute force of Serra's sum, and exact counts (ours and
regioncam's) below the bound proven for each architecture."""

from __future__ import annotations

import itertools
from math import comb, prod

import pytest
import regioncam

from mlplab.errors import SpecError
from mlplab.geometry import bounds, linear_regions, residual_upper, upper_bound
from mlplab.models import build_model

UPPER = ("montufar2017_upper", "serra2018_upper")


def test_worked_value_two_inputs_two_layers_of_eight():
    b = bounds(2, [8, 8])
    # one layer of 8 lines in the plane: 1 + 8 + 28 = 37 regions; Serra: 37 * 37
    assert b["serra2018_upper"] == 1369
    assert b["montufar2017_upper"] == 1369
    assert b["montufar2014_lower"] == 4**2 * 37 == 592
    assert b["serra2018_lower"] == 5**2 * 37 == 925
    assert b["trivial_upper"] == 2**16


def test_narrow_layers_separate_serra_from_montufar():
    # n_in=2, [2, 2]. Serra: j1=0 -> 1*(1+2+1); j1=1 -> 2*(1+2); j1=2 -> 1*1; total 11.
    b = bounds(2, [2, 2])
    assert b["serra2018_upper"] == 4 + 6 + 1 == 11
    assert b["montufar2017_upper"] == 4 * 4
    assert b["serra2018_lower"] is None  # needs widths >= 3 n_in


@pytest.mark.parametrize("n_in, n", [(1, 5), (2, 8), (3, 4), (2, 1), (5, 3)])
def test_one_layer_is_the_hyperplane_arrangement(n_in, n):
    expected = sum(comb(n, j) for j in range(min(n, n_in) + 1))
    b = bounds(n_in, [n])
    for key in UPPER:
        assert b[key] == expected


@pytest.mark.parametrize("L, n", [(2, 3), (3, 4), (4, 2)])
def test_one_input_gives_n_plus_one_to_the_depth(L, n):
    assert bounds(1, [n] * L)["serra2018_upper"] == (n + 1) ** L


@pytest.mark.parametrize("n_in, hidden", [(2, [3, 5, 2]), (3, [4, 2, 6]), (2, [6, 6, 6]), (4, [3, 7])])
def test_serra_dynamic_programme_equals_the_brute_force_sum(n_in, hidden):
    total = 0
    for js in itertools.product(*(range(n + 1) for n in hidden)):
        cap = n_in
        ok = True
        for j, n in zip(js, hidden):
            if j > min(cap, n):
                ok = False
                break
            cap = min(cap, n - j)
        if ok:
            total += prod(comb(n, j) for j, n in zip(js, hidden))
    b = bounds(n_in, hidden)
    assert b["serra2018_upper"] == total
    assert b["serra2018_upper"] <= b["montufar2017_upper"]


def _regioncam_net(model):
    """The same network in regioncam's own layers (its residual block included)."""
    from torch import nn

    from mlplab.models.mlp import ResidualBlock

    rn = regioncam.nn
    layers = []
    for module in model.net:
        if isinstance(module, ResidualBlock):
            layers.append(rn.Residual(rn.Sequential(rn.convert(module.fc1), rn.ReLU(), rn.convert(module.fc2))))
        elif isinstance(module, nn.ReLU):
            layers.append(rn.ReLU())
        else:  # Linear, LeakyReLU
            layers.append(rn.convert(module))
    return rn.Sequential(*layers)


def _regioncam_count(model, half_width: float) -> int:
    cam = regioncam.Regioncam(half_width)  # the square [-h, h]^2
    cam.add(_regioncam_net(model))
    return cam.num_faces


NETS = [([6, 6], False, "relu"), ([8, 8], False, "relu"), ([4, 4, 4], False, "relu"), ([10, 3, 10], False, "relu"),
        ([2, 2], True, "relu"), ([8, 8], True, "relu"), ([3, 3, 3], True, "relu"), ([6, 6, 6], True, "relu"),
        ([6, 6], False, "leaky_relu"), ([2, 2, 2], False, "leaky_relu")]


@pytest.mark.parametrize("hidden, residual, activation", NETS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_counts_equal_regioncams_and_stay_under_the_architectures_bound(hidden, residual, activation, seed):
    # large biases put many of the units' lines inside the box, so counts come near the bounds
    model = build_model(in_dim=2, hidden=hidden, residual=residual, activation=activation, leaky_slope=0.2,
                        init="normal", init_std_b=1.0, seed=seed).eval()
    ours = len(linear_regions(model, ((-20.0, 20.0), (-20.0, 20.0))))
    assert ours == _regioncam_count(model, 20.0)  # an independent implementation (Rust, its own arithmetic)
    leaky = activation == "leaky_relu"
    bound, _ = upper_bound(2, hidden, residual=residual, leaky=leaky)
    assert 1 <= ours <= bound <= bounds(2, hidden, residual=residual, leaky=leaky)["trivial_upper"]


def test_serras_plain_bound_does_not_hold_for_residual_nets():
    # the count that made showing Serra's bound for a residual net wrong: a 2-[2, 2] residual net above 11
    model = build_model(in_dim=2, hidden=[2, 2], residual=True, init="normal", init_std_b=1.0, seed=48).eval()
    count = _regioncam_count(model, 20.0)
    assert count == len(linear_regions(model, ((-20.0, 20.0), (-20.0, 20.0)))) == 13
    assert count > bounds(2, [2, 2])["serra2018_upper"] == 11
    assert count <= residual_upper(2, [2, 2]) == 16
    assert set(bounds(2, [2, 2], residual=True)) == {"trivial_upper", "residual_upper"}  # nothing unproven


def test_residual_bound_is_the_arrangement_product_with_the_stream_rank():
    # d_l = min(n_in, n_1..n_l): one input caps every block at n_l + 1 pieces
    assert residual_upper(1, [3, 3]) == 4 * 4
    # two inputs, blocks of 8 and a projection down to 1: 37 cells, then at most 2 pieces per cell
    assert residual_upper(2, [8, 1]) == 37 * 2


@pytest.mark.parametrize("n_in, hidden, param", [(0, [3], "n_in"), (2, [3, 0], "hidden"), (2.0, [3], "n_in")])
def test_bad_arguments_name_the_parameter(n_in, hidden, param):
    with pytest.raises(SpecError, match=param):
        bounds(n_in, hidden)


def test_every_surface_shows_the_residual_bound_for_a_residual_net(tmp_path, capsys):
    from mlplab.cli import main
    from mlplab.web.session import region_summary

    model = build_model(in_dim=2, hidden=[2, 2], residual=True, init="normal", init_std_b=1.0, seed=48).eval()
    summary = region_summary(model, [(-20.0, 20.0), (-20.0, 20.0)])  # what the playground is sent
    assert summary["count"] == 13 and summary["bound"] == "16" and "residual" in summary["bound_name"]
    plain = region_summary(build_model(in_dim=2, hidden=[2, 2], seed=0).eval(), [(-1.0, 1.0), (-1.0, 1.0)])
    assert plain["bound"] == "11" and plain["bound_name"].startswith("Serra")
    leaky = region_summary(build_model(in_dim=2, hidden=[2, 2], activation="leaky_relu", seed=0).eval(),
                           [(-1.0, 1.0), (-1.0, 1.0)])
    assert leaky["bound"] == "16" and "Serra" not in leaky["bound_name"]  # Serra's proof needs ReLU's zeros
    assert main(["regions", "practice-residual", "-o", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "residual_upper: 16" in out and "serra" not in out.lower()


def test_the_1d_bound_is_n_plus_1_for_one_layer_and_the_product_for_deep_nets():
    for n in (1, 5, 32):
        value, name = upper_bound(1, [n])
        assert value == n + 1 and f"at most {n + 1} pieces" in name and "Serra" in name
    value, name = upper_bound(1, [8, 8, 8])
    assert value == 9**3 and "prod (n_l + 1)" in name
    value, name = upper_bound(1, [1, 1])  # Serra's bound is tighter than the product with a width-1 layer
    assert value == 3 < 4 and "prod" not in name
    assert upper_bound(1, [4, 4], residual=True)[0] == 25  # residual: mlplab's bound, the product form
