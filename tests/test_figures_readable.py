"""What the report figures draw, read from the plotly figure dicts: tick values, legend entries, trace
names, titles and point counts (issue 21), not only that a figure exists."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

import mlplab
from mlplab.cli import main
from mlplab.geometry import linear_pieces_1d, upper_bound


def _quiet_run(name, **overrides):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dead-unit warnings: not what these tests read
        return mlplab.run(name, **overrides)


@pytest.fixture(scope="module")
def sine_relu():
    return _quiet_run("sine-relu", train={"epochs": 1500})


@pytest.fixture(scope="module")
def spectral():
    return _quiet_run("spectral-bias")


def test_a_1d_relu_fit_is_drawn_piece_by_piece_with_its_exact_breakpoints(sine_relu):
    from mlplab.viz.panels import extra_figures

    figs = {fig.layout.title.text: fig for _, fig in extra_figures(sine_relu)}
    title = next(t for t in figs if "linear pieces on" in t)
    pieces = linear_pieces_1d(sine_relu.model, (-0.05, 1.05))  # the recorded grid's extent
    assert title.startswith(f"{len(pieces)} linear pieces on [-0.05, 1.05]") and "at most 11 pieces" in title
    data = figs[title].data
    names = [t.name for t in data]
    assert names == ["training data", "pieces 1, 3, 5, ...", "pieces 2, 4, 6, ...", f"breakpoints ({len(pieces) - 1})"]
    np.testing.assert_allclose(data[-1].x, pieces.breakpoints)
    gaps = sum(int(np.isnan(np.asarray(t.x, float)).sum()) for t in data[1:3])
    assert gaps == len(pieces)  # each piece drawn once, then a gap
    count = next(f for t, f in figs.items() if "pieces of the curve" in t).data
    assert len(count[0].y) == len(sine_relu.frames) and max(count[0].y) <= 11
    assert count[1].name.endswith(": 11") and list(count[1].y) == [11, 11]


def test_regions_command_counts_a_1d_model_against_the_1d_bound(tmp_path, capsys):
    assert main(["regions", "sine-relu", "-o", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    count = int(re.search(r"sine-relu: (\d+) linear pieces? on \[-0\.05, 1\.05\], (\d+) breakpoints", out).group(1))
    assert 1 <= count <= 11 and "one hidden layer of 10 units: at most 11 pieces" in out
    html = (tmp_path / "sine-relu" / "regions.html").read_text()
    assert "breakpoints (" in html and "linear pieces on" in html
    assert main(["regions", "sine-mlp-2", "-o", str(tmp_path)]) == 2  # tanh: no pieces, the layer is named
    assert "Tanh" in capsys.readouterr().err


def test_spectral_bias_panel_shows_each_frequency_fitted_in_order(spectral):
    from mlplab.viz.panels import extra_figures

    panels = dict((fig.layout.title.text, fig) for _, fig in extra_figures(spectral))
    fig = panels["Residual amplitude at each frequency of the target, over its amplitude at step 0"]
    named = [t for t in fig.data if t.name]
    assert [t.name.split(" (")[0] for t in named] == ["1 cycle per unit", "4 cycles per unit", "8 cycles per unit"]
    halved = [int(re.search(r"halved at step ([\d,]+)", t.name).group(1).replace(",", "")) for t in named]
    assert halved[0] < halved[1] < halved[2], halved
    for t in named:  # each curve starts at 1 (nothing fitted) and has a point per recorded frame
        assert len(t.y) == len(spectral.frames) and t.y[0] == pytest.approx(1.0)
    assert list(fig.layout.yaxis.tickvals) == [0, 0.25, 0.5, 0.75, 1]
    assert upper_bound(1, [64, 64, 64])[0] == 65**3  # the 1-D bound its pieces figure is drawn against


# ---------------------------------------------------------------- issue 21, item 1: figures that misled


def test_live_curve_accuracy_axis_has_its_own_ticks_and_the_legend_sits_below():
    from mlplab.viz import LiveCurve

    live = LiveCurve(interval=0.0)
    mlplab.train(mlplab.build_model(hidden=[8], out_activation="sigmoid"), mlplab.make_dataset("moons", n=200),
                 optimizer="adam", lr=0.05, loss="bce", epochs=3, batch_size=50, val_fraction=0.25, callbacks=[live])
    layout = live.figure.layout
    assert layout.yaxis.type == "log" and layout.yaxis2.title.text == "accuracy"
    assert layout.yaxis2.tickmode == "array" and list(layout.yaxis2.tickvals) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert list(layout.yaxis2.ticktext) == ["0", "0.2", "0.4", "0.6", "0.8", "1"]  # not the loss grid's values
    assert layout.legend.orientation == "h" and layout.legend.y < 0  # under the axes: clear of title and right axis


def test_depth_gradients_summary_keeps_the_ratio_slash():
    from mlplab.viz.report import summary_rows

    labels = [label for label, _ in summary_rows(_quiet_run("depth-gradients"))]
    ratios = [label for label in labels if "last layer" in label]
    assert ratios and all("first / last layer" in label for label in ratios), ratios
    from mlplab.viz.figures import metric_label

    assert metric_label("fit/val_loss") == "fit validation loss"  # a "/" without spaces still joins key parts


def test_prior_figure_names_the_networks_it_draws():
    from mlplab.viz.animate import figure_for_run

    title = figure_for_run(mlplab.run("prior-mlp", progress=False)).layout.title.text
    assert "1-1000-1 sigmoid MLPs" in title and "N(0, 5^2)" in title and "tanh" not in title


def _health_pair():
    from mlplab import analysis as A

    plain = _quiet_run("xor-mlp", train={"snapshots": True, "epochs": 30})
    residual = _quiet_run("piecewise-residual-bn", train={"snapshots": True, "epochs": 3})
    return A.health(plain), A.health(residual)


def test_layer_health_names_each_variants_layers_apart_and_dead_fraction_spans_0_to_1():
    from mlplab import analysis as A

    plain, residual = _health_pair()
    fig = A.figure([plain, residual], titles=["xor", "residual-bn"])
    entries = [t for t in fig.data if t.showlegend]
    names = [t.name for t in entries]
    assert len(names) == len(set(names)) and not any("/" in n.split("(")[-1] for n in names)  # no merged kinds
    assert len({t.line.color for t in entries}) == len(entries)  # no two layers share a colour
    for title, result in (("xor", plain), ("residual-bn", residual)):
        t = result.table
        for layer in dict.fromkeys(t["layer"]):
            kind = t["kind"][t["layer"] == layer].iloc[0]
            assert f"{title}: {layer} ({kind})" in names  # each variant's own layers, with their own kind
    dead_rows = [k for k in fig.layout if k.startswith("yaxis") and fig.layout[k].range is not None
                 and tuple(fig.layout[k].range) == (-0.03, 1.03)]
    assert dead_rows  # the dead-fraction row spans 0..1
    many = A.figure([plain, residual] * 3, titles=list("abcdef"))  # more entries than any fixed palette holds
    entries = [t for t in many.data if t.showlegend]
    assert len(entries) > 18 and len({t.line.color for t in entries}) == len(entries)
    one = A.figure(residual)  # no dead unit at all in 3 steps: still 0..1, not plotly's -1..1
    axis = next(one.layout[k] for k in one.layout if k.startswith("yaxis") and one.layout[k].range is not None)
    assert tuple(axis.range) == (-0.03, 1.03) and list(axis.tickvals) == [0, 0.25, 0.5, 0.75, 1]


def test_optimizer_study_says_its_wall_times_compare_engines():
    from mlplab.viz.panels import extra_figures

    run = _quiet_run("sine-optimizers")
    [(caption, fig)] = extra_figures(run)
    engines = {name.split(", ")[-1].rstrip(")") for name in (t.name for t in fig.data) if name and "engine" in name}
    if len(engines) > 1:
        assert "not like for like" in caption and all(e.split()[0] in caption for e in engines)
    else:
        assert "same engine" in caption
    assert "ms a step" in caption


def test_d2l_summary_names_the_data_sets_own_test_split():
    from mlplab.viz.report import summary_rows

    run = _quiet_run("d2l-mlp", train={"epochs": 1})
    rows = dict(summary_rows(run))
    assert "test_fraction" not in rows["data"]
    assert f"test split: the data set&#x27;s own ({len(run.data.X_test):,} rows)" in rows["data"]
    assert any("test" in label for label in rows)  # the test accuracy it explains


def test_residual_bound_says_whose_proof_and_where():
    bound, name = upper_bound(2, [8, 8], residual=True)
    assert "mlplab's own proof" in name and "docs/architecture.md" in name
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "architecture.md").read_text()
    assert "## Geometry" in doc and "residual_upper" in doc and "with its proof" in doc


def test_hairline_regions_are_outlined_and_counted_in_the_title():
    from mlplab.geometry import default_box, linear_regions, snapshot_models
    from mlplab.viz.regions import region_map, thin_regions

    run = _quiet_run("piecewise-residual-bn", train={"snapshots": True, "epochs": 2})
    step, model = next(iter(snapshot_models(run)))
    regions = linear_regions(model, default_box(run))
    thin = int(thin_regions(regions).sum())
    assert step == 0 and len(regions) == 9 and thin >= 1  # the step-0 map the issue saw: slivers between quadrants
    fig = region_map(regions, run.data)
    assert fig.layout.title.text.startswith(f"9 linear regions ({thin} too thin to see filled: outlined in black)")
    outline = next(t for t in fig.data if t.name.startswith("thin regions"))
    assert outline.name == f"thin regions, outlined ({thin})" and outline.showlegend
    assert sum(v is None for v in outline.x) == thin and outline.line.color == "#222"  # one closed outline each


def test_sklearn_early_stop_is_explained():
    from mlplab.viz.panels import extra_figures

    settings = {"label": "(32,), sgd, lr 0.2", "hidden_layer_sizes": [32], "solver": "sgd", "batch_size": 100,
                "learning_rate_init": 0.2, "max_iter": 1000}
    run = _quiet_run("moons-sklearn", extras={"runs": [], "sklearn": [settings]})
    done = len(run.extras["loss/scikit-learn (32,), sgd, lr 0.2"])
    assert done < 1000
    caption, curves = extra_figures(run)[0]
    assert f"stopped after {done} of max_iter=1000 iterations" in caption
    assert "tol=0.0001" in caption and "n_iter_no_change=10" in caption
    assert [t.name for t in curves.data] == [f"scikit-learn (32,), sgd, lr 0.2 (stopped at {done} of 1000 iterations)"]
