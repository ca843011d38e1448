"""Region-count bounds: hand-worked values, brute force of Serra's sum, and exact counts below them."""

from __future__ import annotations

import itertools
from math import comb, prod

import pytest

from mlplab.errors import SpecError
from mlplab.geometry import bounds, linear_regions
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


@pytest.mark.parametrize("hidden", [[6, 6], [8, 8], [4, 4, 4], [10, 3, 10]])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_counts_stay_below_serra(hidden, seed):
    model = build_model(in_dim=2, hidden=hidden, init="normal", init_std_b=1.0, seed=seed)
    n = len(linear_regions(model, ((-20.0, 20.0), (-20.0, 20.0))))
    b = bounds(2, hidden)
    assert 1 <= n <= b["serra2018_upper"] <= b["montufar2017_upper"]
    if b["serra2018_lower"] is not None:
        assert b["montufar2014_lower"] <= b["serra2018_lower"] <= b["serra2018_upper"]


@pytest.mark.parametrize("n_in, hidden, param", [(0, [3], "n_in"), (2, [3, 0], "hidden"), (2.0, [3], "n_in")])
def test_bad_arguments_name_the_parameter(n_in, hidden, param):
    with pytest.raises(SpecError, match=param):
        bounds(n_in, hidden)
