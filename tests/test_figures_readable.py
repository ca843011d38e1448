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
