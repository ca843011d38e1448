"""Exact linear regions: maps against PyTorch in float64, areas, dense-grid patterns, slices, segments."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mlplab.errors import SpecError
from mlplab.geometry import (
    activation_patterns,
    count_on_segment,
    linear_regions,
    linear_regions_slice,
    regions_over_training,
    segment_breakpoints,
)
from mlplab.models import build_model
from mlplab.training.run import Run

BOX = ((-1.5, 1.0), (-1.0, 2.0))
BOX_AREA = 2.5 * 3.0

VARIANTS = {
    "relu": dict(hidden=[12, 10]),
    "relu-kaiming-3": dict(hidden=[8, 8, 8], init="kaiming"),
    "leaky": dict(hidden=[10, 10], activation="leaky_relu", leaky_slope=0.2),
    "identity": dict(hidden=[6], activation="identity"),
    "batchnorm-pre": dict(hidden=[10, 10], norm="batch"),
    "batchnorm-post": dict(hidden=[10, 10], norm="batch", norm_position="post"),
    "residual": dict(hidden=[8, 8], residual=True),
    "residual-bn-post": dict(hidden=[8, 8, 6], residual=True, norm="batch"),
    "residual-bn-pre-leaky": dict(hidden=[8], residual=True, norm="batch", norm_position="pre", activation="leaky_relu"),
    "sigmoid-out": dict(hidden=[10, 10], out_activation="sigmoid"),
    "softmax-3": dict(hidden=[10], out_dim=3, out_activation="softmax"),
}


def _model(seed: int = 0, **fields):
    model = build_model(in_dim=fields.pop("in_dim", 2), seed=seed, **fields)
    gen = torch.Generator().manual_seed(seed + 100)
    for module in model.modules():  # non-trivial running statistics, so that folding them matters
        if isinstance(module, torch.nn.BatchNorm1d):
            module.running_mean.copy_(torch.randn(module.num_features, generator=gen) * 0.5)
            module.running_var.copy_(torch.rand(module.num_features, generator=gen) + 0.5)
            module.weight.data.copy_(torch.randn(module.num_features, generator=gen))
            module.bias.data.copy_(torch.randn(module.num_features, generator=gen) * 0.3)
    return model.eval()


def _logits(model, X: np.ndarray) -> np.ndarray:
    """The network in float64 up to (not including) a final sigmoid/softmax."""
    net = model.net
    layers = list(net)[:-1] if isinstance(net[-1], (torch.nn.Sigmoid, torch.nn.Softmax)) else list(net)
    with torch.no_grad():
        return torch.nn.Sequential(*layers).double()(torch.as_tensor(X, dtype=torch.float64)).numpy()


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_maps_areas_and_patterns_are_exact(name):
    model = _model(**VARIANTS[name])
    regions = linear_regions(model, BOX)
    assert len(regions) == regions.count > 1 or name == "identity"
    # areas tile the box, every polygon is counter-clockwise and not degenerate
    assert regions.areas.sum() == pytest.approx(BOX_AREA, rel=1e-9)
    assert regions.smallest_area > 0
    # the affine map equals the network at interior points: the centroid and random convex mixtures
    rng = np.random.default_rng(0)
    points, owner = [], []
    for k, region in enumerate(regions):
        w = rng.dirichlet(np.ones(len(region.vertices)), size=3)  # (3, k) inside the convex polygon
        for p in np.vstack([region.vertices.mean(0, keepdims=True), w @ region.vertices]):
            points.append(p)
            owner.append(k)
    points, owner = np.array(points), np.array(owner)
    predicted = np.einsum("rok,rk->ro", regions.A[owner], points) + regions.c[owner]
    np.testing.assert_allclose(predicted, _logits(model, points), atol=1e-9, rtol=0)
    # the pattern of each region is the one the network computes inside it
    assert (activation_patterns(model, points) == regions.patterns[owner]).all()
    assert len({p.tobytes() for p in regions.patterns}) == len(regions)


def test_batchnorm_is_folded_in_eval_mode_even_when_the_model_trains():
    model = _model(hidden=[10, 10], norm="batch")
    model.train()
    regions = linear_regions(model, BOX)
    c = regions.centroids()
    model.eval()
    np.testing.assert_allclose(np.einsum("rok,rk->ro", regions.A, c) + regions.c, _logits(model, c), atol=1e-9)


def _grid_patterns(model, box, g: int) -> set[bytes]:
    xs, ys = np.linspace(*box[0], g), np.linspace(*box[1], g)
    X = np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2)  # (g*g, 2)
    return {p.tobytes() for p in activation_patterns(model, X)}


def _width(poly: np.ndarray) -> float:
    """Minimum width of a convex polygon (k, 2): over its edges, the farthest vertex from the edge's line."""
    d = np.roll(poly, -1, axis=0) - poly
    n = np.stack([-d[:, 1], d[:, 0]], 1) / np.linalg.norm(d, axis=1, keepdims=True)
    return float(min(np.abs((poly - p) @ k).max() for p, k in zip(poly, n)))


@pytest.mark.parametrize("hidden, seed", [([6, 6], 0), ([6, 6], 1), ([8, 8], 0), ([8, 8], 1), ([8, 4, 8], 2)])
def test_a_converged_dense_grid_sees_exactly_the_enumerated_regions(hidden, seed):
    # the independent count: distinct activation patterns on grids doubled until the count stops
    # changing for two doublings
    model = _model(seed=seed, hidden=hidden)
    counts, g = [], 50
    while len(counts) < 3 or len(set(counts[-3:])) > 1:
        seen = _grid_patterns(model, BOX, g)
        counts.append(len(seen))
        g *= 2
        assert g <= 3200, f"the grid count did not converge: {counts}"
    regions = linear_regions(model, BOX)
    assert seen == {p.tobytes() for p in regions.patterns}
    assert counts[-1] == len(regions)


@pytest.mark.parametrize("seed", [0, 1])
def test_what_a_fine_grid_misses_is_only_regions_thinner_than_its_spacing(seed):
    model = _model(seed=seed, hidden=[16, 16])  # slivers of area ~1e-8 that no affordable grid hits
    regions = linear_regions(model, BOX)
    exact = {p.tobytes(): poly for p, poly in zip(regions.patterns, regions.polygons())}
    g = 1600
    seen = _grid_patterns(model, BOX, g)
    assert seen <= set(exact)  # nothing the enumeration does not know
    spacing = max((b - a) / (g - 1) for a, b in BOX)
    missed = [exact[k] for k in set(exact) - seen]
    # a convex region wider than the diagonal of a grid cell always holds a grid point
    assert all(_width(poly) < spacing * np.sqrt(2) for poly in missed)
    assert len(missed) <= 2


def test_hand_worked_two_units_make_four_quadrants():
    model = build_model(in_dim=2, hidden=[2], out_dim=1)
    with torch.no_grad():
        model.net[0].weight.copy_(torch.eye(2))
        model.net[0].bias.zero_()
        model.net[2].weight.copy_(torch.tensor([[1.0, -2.0]]))
        model.net[2].bias.fill_(0.5)
    regions = linear_regions(model)
    assert len(regions) == 4
    np.testing.assert_allclose(np.sort(regions.areas), [1, 1, 1, 1])
    by_pattern = {r.pattern: r for r in regions}
    np.testing.assert_allclose(by_pattern[(1, 1)].A, [[1, -2]])
    np.testing.assert_allclose(by_pattern[(1, 0)].A, [[1, 0]])
    np.testing.assert_allclose(by_pattern[(0, 0)].A, [[0, 0]])
    np.testing.assert_allclose(by_pattern[(0, 0)].c, [0.5])
    # the (1, 1) region is the quadrant x > 0, y > 0, counter-clockwise
    v = by_pattern[(1, 1)].vertices
    assert (v >= -1e-15).all() and by_pattern[(1, 1)].area == pytest.approx(1.0)


@pytest.mark.parametrize(
    "fields, layer",
    [
        (dict(hidden=[4], activation="tanh"), "net.1 (Tanh)"),
        (dict(hidden=[4], activation="sigmoid"), "net.1 (Sigmoid)"),
        (dict(hidden=[4], norm="layer"), "net.1 (LayerNorm)"),
        (dict(hidden=[4], residual=True, norm="layer", norm_position="pre"), "net.1.norm (LayerNorm)"),
        (dict(in_dim=1, hidden=[4], poly_degree=3), "net.0 (PolyFeatures)"),
    ],
)
def test_smooth_layers_are_refused_by_name(fields, layer):
    model = build_model(**fields)
    with pytest.raises(SpecError, match=layer.replace("(", r"\(").replace(")", r"\)")):
        linear_regions(model) if fields.get("in_dim", 2) == 2 else count_on_segment(model, [0.0], [1.0])


def test_bad_box_and_input_size_are_refused():
    with pytest.raises(SpecError, match="box"):
        linear_regions(_model(hidden=[4]), ((1, -1), (0, 1)))
    with pytest.raises(SpecError, match="2 inputs"):
        linear_regions(_model(in_dim=3, hidden=[4]))


@pytest.mark.parametrize("fields", [dict(hidden=[16, 16, 16]), dict(in_dim=4, hidden=[12, 12], residual=True)])
def test_segment_count_matches_dense_sampling(fields):
    model = _model(seed=3, **fields)
    d = model.spec.in_dim
    a, b = -np.ones(d), np.linspace(1.0, 0.5, d)
    breaks = segment_breakpoints(model, a, b)
    assert count_on_segment(model, a, b) == len(breaks) + 1 > 5
    t = np.linspace(0, 1, 200_001)
    pats = activation_patterns(model, a + t[:, None] * (b - a))  # (n, units)
    runs = 1 + np.count_nonzero((pats[1:] != pats[:-1]).any(1))
    assert np.diff(breaks).min() > 2 * (t[1] - t[0])  # every piece holds samples, so sampling sees them all
    assert runs == len(breaks) + 1
    # the network is affine between breakpoints: midpoints of halves agree with the chord
    edges = np.concatenate([[0.0], breaks, [1.0]])
    lo, hi = edges[:-1], edges[1:]
    f = lambda s: _logits(model, a + s[:, None] * (b - a))  # noqa: E731
    np.testing.assert_allclose(f((lo + hi) / 2), (f(lo) + f(hi)) / 2, atol=1e-9)


def test_slice_uses_the_input_metric():
    model = _model(seed=2, in_dim=5, hidden=[12, 12])
    rng = np.random.default_rng(1)
    p0, p1, p2 = rng.normal(size=(3, 5))
    regions = linear_regions_slice(model, p0, p1, p2, margin=0.1)
    (x0, x1), (y0, y1) = regions.box
    assert regions.areas.sum() == pytest.approx((x1 - x0) * (y1 - y0), rel=1e-9)
    # orthonormal basis: the triangle p0 p1 p2 has the same area in plane and input coordinates
    B = regions.basis
    np.testing.assert_allclose(B.T @ B, np.eye(2), atol=1e-12)
    u = np.stack([(p - p0) @ B for p in (p0, p1, p2)])
    np.testing.assert_allclose(regions.origin + u @ B.T, [p0, p1, p2], atol=1e-12)  # the points lie in the plane
    e1, e2 = p1 - p0, p2 - p0
    gram_area = 0.5 * np.sqrt((e1 @ e1) * (e2 @ e2) - (e1 @ e2) ** 2)
    (ax, ay), (bx, by) = u[1] - u[0], u[2] - u[0]
    plane_area = 0.5 * abs(ax * by - ay * bx)
    assert plane_area == pytest.approx(gram_area, rel=1e-12)
    # maps are d(logits)/du and agree with the network at the inputs the centroids stand for
    c = regions.centroids()
    np.testing.assert_allclose(
        np.einsum("rok,rk->ro", regions.A, c) + regions.c, _logits(model, regions.origin + c @ B.T), atol=1e-9
    )


def test_regions_over_training_loads_each_snapshot():
    models = [_model(seed=s, hidden=[8, 8]) for s in (0, 5, 9)]
    snaps = {k: np.stack([m.state_dict()[k].numpy() for m in models]) for k, _ in models[0].named_parameters()}
    run = Run(spec={"model": models[0].spec.model_dump()}, snapshots=snaps, frame_steps=np.array([0, 10, 20]))
    counts = regions_over_training(run, box=BOX)
    assert counts == [len(linear_regions(m, BOX)) for m in models]
    assert len(set(counts)) > 1
    with pytest.raises(SpecError, match="snapshots"):
        regions_over_training(Run(spec={"model": models[0].spec.model_dump()}))


def test_to_dict_is_json_and_repr_is_short():
    regions = linear_regions(_model(hidden=[6, 6]), BOX)
    d = json.loads(json.dumps(regions.to_dict()))
    assert d["count"] == len(regions) == len(d["vertices"]) == len(d["patterns"])
    assert sum(d["areas"]) == pytest.approx(BOX_AREA)
    assert "Regions(count=" in repr(regions)
    assert regions[-1].pattern == tuple(int(b) for b in regions.patterns[-1])
    with pytest.raises(IndexError):
        regions[len(regions)]


# ----------------------------------------------------------------------------------------------------
# Figures
# ----------------------------------------------------------------------------------------------------


def _fake_run(hidden=(8, 8), seeds=(0, 5, 9), **fields):
    models = [_model(seed=s, hidden=list(hidden), **fields) for s in seeds]
    snaps = {k: np.stack([m.state_dict()[k].numpy() for m in models]) for k, _ in models[0].named_parameters()}
    steps = np.arange(len(seeds)) * 10
    return models, Run(spec={"model": models[0].spec.model_dump()}, snapshots=snaps, frame_steps=steps)


@pytest.mark.parametrize("color", ["pattern", "output"])
def test_region_map_draws_every_region_once_and_the_exact_boundary(color):
    from mlplab.viz.regions import PALETTE_SIZE, OUTPUT_LEVELS, boundary_segments, region_map

    model = _model(seed=4, hidden=[10, 10])
    with torch.no_grad():
        model.net[-1].bias.zero_()  # put the decision boundary inside the box
    regions = linear_regions(model, BOX)
    X = np.random.default_rng(0).uniform(-1, 1, size=(40, 2))
    y = (X[:, 0] > 0).astype(np.int64)
    fig = region_map(regions, (X, y), color=color)
    fills = [t for t in fig.data if t.fill == "toself"]
    assert len(fills) == (PALETTE_SIZE if color == "pattern" else OUTPUT_LEVELS)
    assert sum(sum(v is None for v in t.x) for t in fills) == len(regions)  # one gap after each polygon
    names = [t.name for t in fig.data]
    assert names.count("class 0") == names.count("class 1") == 1
    hover = next(t for t in fig.data if t.name == "regions")
    assert len(hover.hovertext) == len(regions) and "pattern" in hover.hovertext[0]
    seg = boundary_segments(regions)
    assert len(seg) > 0
    ends = seg.reshape(-1, 2)
    np.testing.assert_allclose(_logits(model, ends)[:, 0], 0, atol=1e-9)  # on the zero level set
    line = next(t for t in fig.data if t.name == "decision boundary")
    assert sum(v is None for v in line.x) == len(seg)


def _neighbours_by_probing(model, regions, box) -> set[tuple[int, int]]:
    """Region pairs across each edge, found by evaluating the network just outside the edge's midpoint."""
    index = {p.tobytes(): i for i, p in enumerate(regions.patterns)}
    scale = np.hypot(box[0][1] - box[0][0], box[1][1] - box[1][0])
    pairs = set()
    for i, poly in enumerate(regions.polygons()):
        d = np.roll(poly, -1, axis=0) - poly
        length = np.linalg.norm(d, axis=1)
        ok = length > 1e-3 * scale
        mid = (poly + d / 2)[ok]
        out = np.stack([d[ok, 1], -d[ok, 0]], 1) / length[ok, None]  # counter-clockwise: outward normal
        for sign, step in ((-1, 1e-7), (1, 1e-7)):
            probe = mid + sign * step * scale * out
            inside = ((probe[:, 0] > box[0][0]) & (probe[:, 0] < box[0][1]) & (probe[:, 1] > box[1][0])
                      & (probe[:, 1] < box[1][1]))
            owners = [index.get(p.tobytes(), -1) for p in activation_patterns(model, probe[inside])]
            if sign < 0:
                assert all(o == i for o in owners)  # just inside the edge: the region itself
            else:
                pairs |= {(min(i, o), max(i, o)) for o in owners if o != i}
    return pairs


@pytest.mark.parametrize("hidden, seed", [([10, 10], 4), ([16, 16], 1), ([8, 8, 8], 0)])
def test_neighbouring_regions_never_share_a_colour_on_the_map(hidden, seed):
    from mlplab.geometry.adjacency import region_adjacency
    from mlplab.viz.regions import region_map

    model = _model(seed=seed, hidden=hidden)
    regions = linear_regions(model, BOX)
    probed = _neighbours_by_probing(model, regions, BOX)
    assert len(probed) > len(regions) / 2  # a real map, with many neighbours
    assert probed <= {tuple(p) for p in region_adjacency(regions).tolist()}
    # the colours as drawn: each fill trace is one colour; find each drawn polygon's region by the
    # pattern the network has at its centre
    fig = region_map(regions)
    index = {p.tobytes(): i for i, p in enumerate(regions.patterns)}
    colour = {}
    for trace in (t for t in fig.data if t.fill == "toself"):
        xs = np.array([np.nan if v is None else v for v in trace.x], dtype=np.float64)
        ys = np.array([np.nan if v is None else v for v in trace.y], dtype=np.float64)
        for chunk in np.split(np.stack([xs, ys], 1), np.flatnonzero(np.isnan(xs)) + 1):
            chunk = chunk[~np.isnan(chunk[:, 0])][:-1]  # drop the gap and the closing repeat
            if len(chunk):
                (pattern,) = activation_patterns(model, chunk.mean(0, keepdims=True))
                colour[index[pattern.tobytes()]] = trace.fillcolor
    assert len(colour) == len(regions)
    assert all(colour[i] != colour[j] for i, j in probed)
    assert len(set(colour.values())) <= 8


def test_a_map_of_four_regions_shows_four_colours_and_says_region_in_the_singular():
    from mlplab.viz.regions import region_map

    model = build_model(in_dim=2, hidden=[2], out_dim=1)
    with torch.no_grad():
        model.net[0].weight.copy_(torch.eye(2))
        model.net[0].bias.zero_()
    fig = region_map(linear_regions(model))
    assert fig.layout.title.text == "4 linear regions"
    fills = [t for t in fig.data if t.fill == "toself" and t.x]
    assert len(fills) == 4 and len({t.fillcolor for t in fills}) == 4
    with torch.no_grad():
        model.net[0].bias.fill_(5.0)  # both lines leave the box: one region
    assert region_map(linear_regions(model)).layout.title.text == "1 linear region"


def test_a_regression_map_has_no_decision_boundary_and_names_its_point_colours():
    from mlplab.viz.regions import region_map

    model = _model(seed=0, hidden=[8], out_dim=2)
    X = np.random.default_rng(0).uniform(-1, 1, size=(30, 2))
    Y = X @ np.array([[0.0, 1.0], [-1.0, 0.0]])  # 2-D targets
    fig = region_map(linear_regions(model, BOX), (X, Y))
    line = next(t for t in fig.data if t.name == "decision boundary")
    assert len(line.x) == 0 and not line.showlegend
    points = fig.data[-1]
    assert points.name == "training inputs, coloured by target y1"
    assert points.marker.colorbar.title.text == "target y1"
    np.testing.assert_allclose(points.marker.color, Y[:, 0].astype(np.float32))


def test_region_map_rejects_an_unknown_colouring():
    from mlplab.viz.regions import region_map

    with pytest.raises(SpecError, match="color"):
        region_map(linear_regions(_model(hidden=[4])), color="rainbow")


def test_region_animation_and_count_figure_follow_the_snapshots():
    from mlplab.geometry import bounds
    from mlplab.viz.regions import region_animation, region_count_figure

    models, run = _fake_run()
    fig = region_animation(run, box=BOX)
    assert [f.name for f in fig.frames] == ["0", "10", "20"]
    assert len(fig.layout.sliders[0].steps) == 3
    assert len({len(f.data) for f in fig.frames}) == 1  # every frame swaps the same traces
    counts = region_count_figure(run, box=BOX)
    assert list(counts.data[0].y) == [len(linear_regions(m, BOX)) for m in models]
    assert counts.data[1].y[0] == bounds(2, [8, 8])["serra2018_upper"]


def test_a_residual_runs_count_is_drawn_against_the_residual_bound_never_serras():
    from mlplab.geometry import bounds, residual_upper
    from mlplab.viz.regions import region_count_figure

    models, run = _fake_run(hidden=(2, 2), residual=True, init="normal", init_std_b=1.0, seeds=(48, 3, 7))
    box = ((-20.0, 20.0), (-20.0, 20.0))
    fig = region_count_figure(run, box=box)
    counts = [len(linear_regions(m, box)) for m in models]
    assert list(fig.data[0].y) == counts and max(counts) > bounds(2, [2, 2])["serra2018_upper"]
    assert fig.data[1].y[0] == residual_upper(2, [2, 2]) >= max(counts)
    assert "residual" in fig.data[1].name and "Serra" not in fig.data[1].name
    # counts are integers: ticks at whole numbers, written as such
    axis = fig.layout.yaxis  # 13 against 16: a linear axis from 0, every count and the bound in view
    assert axis.type == "linear" and axis.range[0] == 0 and axis.range[1] > 16
    assert float(axis.dtick).is_integer() and axis.tickformat == "d" and fig.layout.xaxis.tickformat == "d"


def test_counts_far_below_their_bound_get_a_log_axis_with_integer_ticks_only():
    from mlplab.viz.regions import count_axis

    axis = count_axis([30, 45, 61], [1369])
    assert axis["type"] == "log" and axis["minor"]["ticks"] == ""
    assert all(float(v).is_integer() for v in axis["tickvals"])
    assert axis["ticktext"] == [f"{int(v):,}" for v in axis["tickvals"]]
    assert min(axis["tickvals"]) <= 30 * 1.5 and max(axis["tickvals"]) >= 1369 / 1.5
    assert count_axis([1, 1, 1])["type"] == "linear"  # one region all along: 0, 1 in view


# ----------------------------------------------------------------------------------------------------
# The layer-at-once arrangement against the unit-by-unit clipping it replaced
# ----------------------------------------------------------------------------------------------------


def _by_pattern(regions) -> dict[bytes, float]:
    return {p.tobytes(): a for p, a in zip(regions.patterns, regions.areas)}


def _clipped(model, monkeypatch, box=BOX):
    """The same enumeration with every layer cut unit by unit (half-plane clipping)."""
    from mlplab.geometry import regions as mod

    with monkeypatch.context() as m:
        m.setattr(mod, "_split_layer", mod._split_layer_clipping)
        return linear_regions(model, box)


@pytest.mark.parametrize(
    "fields",
    [
        dict(hidden=[12, 10]),
        dict(hidden=[8, 8, 8], init="kaiming"),
        dict(hidden=[10, 10], activation="leaky_relu", leaky_slope=0.1),
        dict(hidden=[8, 8], residual=True, norm="batch"),
        dict(hidden=[70]),  # sign vectors of two 64-bit words, hashed keys
        dict(hidden=[70, 12], init="kaiming"),
    ],
)
def test_arrangement_matches_unit_by_unit_clipping(fields, monkeypatch):
    from mlplab.geometry import regions as mod

    model = _model(seed=7, **fields)
    fallbacks = []
    clip = mod._split_layer_clipping
    monkeypatch.setattr(mod, "_split_layer_clipping", lambda *a: fallbacks.append(1) or clip(*a))
    fast = linear_regions(model, BOX)
    assert fallbacks == []  # random weights are in general position: the arrangement path ran
    monkeypatch.undo()
    slow = _clipped(model, monkeypatch)
    assert len(fast) == len(slow) > 20
    a, b = _by_pattern(fast), _by_pattern(slow)
    assert a.keys() == b.keys()
    np.testing.assert_allclose([a[k] for k in a], [b[k] for k in a], rtol=1e-9, atol=1e-15)
    # every polygon is convex and counter-clockwise: all turns to the left
    for v in fast.polygons():
        e = np.roll(v, -1, axis=0) - v
        assert (e[:, 0] * np.roll(e[:, 1], -1) - e[:, 1] * np.roll(e[:, 0], -1) > 0).all()


def test_hash_collisions_fall_back_to_exact_grouping(monkeypatch):
    from mlplab.geometry import regions as mod

    model = _model(seed=1, hidden=[70, 70])
    sorts = []
    lexsort = np.lexsort
    monkeypatch.setattr(mod.np, "lexsort", lambda keys: sorts.append(1) or lexsort(keys))
    honest = linear_regions(model, BOX)
    assert sorts == []  # the hashes of distinct sign vectors did not collide
    monkeypatch.setattr(mod, "_MIX", np.zeros(4, np.uint64))  # every row hashes to 0
    colliding = linear_regions(model, BOX)
    assert len(sorts) == 2  # one full sort per layer
    assert len(colliding) == len(honest)
    assert _by_pattern(colliding).keys() == _by_pattern(honest).keys()


def _layer(W, b):
    model = build_model(in_dim=2, hidden=[len(W)], out_dim=1)
    with torch.no_grad():
        model.net[0].weight.copy_(torch.tensor(W, dtype=torch.float32))
        model.net[0].bias.copy_(torch.tensor(b, dtype=torch.float32))
    return model.eval()


@pytest.mark.parametrize(
    "W, b, areas",
    [
        ([[1, -1], [1, 1], [1, 0]], [0, 0, 0], [0.5, 0.5, 0.5, 0.5, 1, 1]),  # three lines through one point
        ([[1, 0.5], [1, 0.5], [0, 1]], [0.25, 0.25, 0], [0.5, 1, 1, 1.5]),  # a repeated unit
        ([[1, 0.5], [-1, -0.5], [0, 1]], [0.25, -0.25, 0], [0.5, 1, 1, 1.5]),  # and a flipped one
        ([[1, -1], [0, 1]], [0, 0], [0.5, 0.5, 1.5, 1.5]),  # a line through two corners
        ([[1, 1], [1, -1]], [0, -2], [2, 2]),  # the second line only touches a corner
    ],
)
def test_lines_not_in_general_position(W, b, areas, monkeypatch):
    model = _layer(W, b)
    regions = linear_regions(model)
    np.testing.assert_allclose(np.sort(regions.areas), areas, atol=1e-12)
    assert _by_pattern(regions).keys() == _by_pattern(_clipped(model, monkeypatch, ((-1, 1), (-1, 1)))).keys()
    X = np.random.default_rng(0).uniform(-1, 1, size=(20000, 2))
    assert {p.tobytes() for p in activation_patterns(model, X)} == set(_by_pattern(regions))


def test_an_animated_region_map_keeps_each_regions_colour_from_frame_to_frame():
    """A region whose activation pattern was on screen in the frame before keeps its colour (recolouring
    every frame afresh changed about a quarter of them: flicker that means nothing); neighbours still never
    share one, and the animation draws exactly these colours."""
    import mlplab
    from mlplab.geometry.adjacency import region_adjacency
    from mlplab.viz.regions import _snapshots, region_animation, region_colours, stable_colours

    run = mlplab.run("xor-mlp", epochs=200, progress=False, train={"snapshots": True, "frames": 30})
    maps = [r for _, r in _snapshots(run, None, 30)]
    assert max(len(r) for r in maps) > 16  # more regions than colours

    def kept(colourings):
        same = total = 0
        for a, b, ca, cb in zip(maps, maps[1:], colourings, colourings[1:]):
            before = {p.tobytes(): c for p, c in zip(a.pattern_bits, ca)}
            for p, c in zip(b.pattern_bits, cb):
                if p.tobytes() in before:
                    total, same = total + 1, same + (before[p.tobytes()] == c)
        return same / total

    stable = stable_colours(maps)
    assert kept(stable) >= 0.95 and kept(stable) > kept([region_colours(r) for r in maps])
    for r, c in zip(maps, stable):
        assert all(c[i] != c[j] for i, j in region_adjacency(r)) and c.max() < 8
    fig = region_animation(run, max_frames=30)
    for frame, c in zip(fig.frames, stable):
        fills = [t for t in frame.data if getattr(t, "fill", None) == "toself"]
        drawn = [sum(v is None for v in t.x) for t in fills]  # one None gap after each polygon
        assert drawn == np.bincount(c, minlength=len(fills)).tolist()
