"""Views: animations, static figures, reports and exports, on Runs built by hand (and one real run)."""

from __future__ import annotations

import base64
import importlib
import re

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from mlplab.data import Dataset
from mlplab.errors import MlplabError, SpecError
from mlplab.models import build_model
from mlplab.specs import ModelSpec
from mlplab.training.run import Run, load_run
from mlplab import viz

# ``mlplab.viz.animate`` is the function; the module of the same name is reached through importlib.
A = importlib.import_module("mlplab.viz.animate")
F = importlib.import_module("mlplab.viz.figures")
E = importlib.import_module("mlplab.viz.export")
I = importlib.import_module("mlplab.viz.images")


def arr(x) -> np.ndarray:
    """A trace attribute as a numpy array (a list, a tuple, an array, or plotly's base64 typed-array dict)."""
    if isinstance(x, dict) and "bdata" in x:
        x = np.frombuffer(base64.b64decode(x["bdata"]), dtype=np.dtype(x["dtype"]))
    return np.asarray(x, dtype=np.float64)


def mapping_run(k: int = 7, n: int = 40, seed: int = 0, **kw) -> Run:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2)).astype(np.float32)
    Y = (X @ np.array([[0, 1], [-1, 0]], np.float32) + 3).astype(np.float32)
    frames = np.stack([X + (Y - X) * t for t in np.linspace(0.1, 1, k)]).astype(np.float32)  # (k, n, 2)
    return Run(spec={"name": "rot", "kind": "train", "title": "Rotation", **kw},
               losses=np.geomspace(1, 1e-3, 30).astype(np.float32), frames=frames,
               frame_steps=np.linspace(0, 29, k).round().astype(np.int64),
               data=Dataset(X=X, y=Y, task="regression", name="rot"))


# ---------------------------------------------------------------- animate: mapping


def test_frame_indices_keep_first_and_last_and_are_even():
    idx = A.frame_indices(5001, 100)
    assert idx[0] == 0 and idx[-1] == 5000 and len(idx) == 100
    gaps = np.diff(idx)
    assert gaps.max() - gaps.min() <= 1
    assert list(A.frame_indices(3, 100)) == [0, 1, 2]
    with pytest.raises(SpecError, match="frames"):
        A.frame_indices(10, 1)


def test_mapping_animation_starts_at_inputs_and_follows_recorded_frames():
    run = mapping_run(k=7)
    fig = viz.animate(run, frames=100, frame_duration=30)
    assert len(fig.data) == 2  # the moving points and ALL targets in one trace
    np.testing.assert_array_equal(arr(fig.data[1].x), run.data.y[:, 0])
    assert len(fig.frames) == 1 + 7
    f0 = fig.frames[0]
    assert f0.name == "inputs X" and list(f0.traces) == [0]
    np.testing.assert_array_equal(arr(f0.data[0].x), run.data.X[:, 0])
    for j, frame in enumerate(fig.frames[1:]):
        np.testing.assert_array_equal(arr(frame.data[0].y), run.frames[j][:, 1])
        assert frame.name == f"step {run.frame_steps[j]}"
    # Fixed axes that contain every point of every frame, the inputs and the targets.
    lo, hi = fig.layout.xaxis.range
    allx = np.concatenate([run.data.X[:, 0], run.data.y[:, 0], run.frames[..., 0].ravel()])
    assert lo < allx.min() and hi > allx.max() and fig.layout.xaxis.autorange is False
    lo, hi = fig.layout.yaxis.range
    ally = np.concatenate([run.data.X[:, 1], run.data.y[:, 1], run.frames[..., 1].ravel()])
    assert lo < ally.min() and hi > ally.max()
    # Controls: play/pause, a slider step per frame, the requested duration.
    buttons = fig.layout.updatemenus[0].buttons
    assert [b.label for b in buttons] == ["▶ play", "❚❚ pause"]
    assert buttons[0].args[1]["frame"]["duration"] == 30
    assert [s.label for s in fig.layout.sliders[0].steps] == [f.name for f in fig.frames]


def test_animate_subsamples_to_the_requested_number_of_frames():
    run = mapping_run(k=250)
    fig = viz.animate(run, frames=50)
    assert len(fig.frames) == 1 + 50
    assert fig.frames[-1].name == f"step {run.frame_steps[-1]}"
    with pytest.raises(SpecError, match="frame_duration"):
        viz.animate(run, frame_duration=0)


def test_animation_is_float32_and_smaller_than_float64():
    fig = viz.animate(mapping_run(k=20, n=200))
    text = fig.to_json()
    assert '"dtype":"f4"' in text and '"dtype":"f8"' not in text


def test_animate_needs_frames_and_data():
    run = mapping_run()
    run.frames = None
    with pytest.raises(SpecError, match="run.frames"):
        viz.animate(run)
    run = mapping_run()
    run.data = None
    with pytest.raises(SpecError, match="run.data"):
        viz.animate(run)


def test_animate_a_run_loaded_from_disk(tmp_path):
    run = mapping_run(k=5)
    run.save(tmp_path / "r")
    back = load_run(tmp_path / "r", with_model=False)
    assert back.model is None
    fig = viz.animate(back)
    assert len(fig.frames) == 6
    np.testing.assert_array_equal(arr(fig.frames[-1].data[0].x), run.frames[-1][:, 0])


# ---------------------------------------------------------------- animate: curve


def curve_data(n: int = 20) -> Dataset:
    x = np.linspace(0, 1, n, dtype=np.float32)[:, None]
    return Dataset(X=x, y=np.sin(2 * np.pi * x), task="regression", name="sine",
                   grid=np.linspace(-0.05, 1.05, 50, dtype=np.float32)[:, None])


def test_curve_uses_recorded_1d_grid_frames():
    data = curve_data()
    g = np.linspace(-0.1, 1.1, 30, dtype=np.float32)
    gf = np.stack([np.full((30, 1), t, np.float32) + g[:, None] * t for t in range(4)])  # (k, m, 1)
    run = Run(spec={"name": "c"}, losses=np.ones(10, np.float32), frames=np.zeros((4, 20, 1), np.float32),
              frame_steps=np.array([0, 3, 6, 9]), grid_frames=gf, grid_axes=(g, g), data=data)
    fig = viz.animate(run)
    assert A.animation_kind(run) == "curve"
    line = fig.frames[0].traces[0]
    assert fig.data[line].mode == "lines"
    np.testing.assert_array_equal(arr(fig.data[line].x), g)
    for j, frame in enumerate(fig.frames):
        np.testing.assert_array_equal(arr(frame.data[0].y), gf[j, :, 0])
    lo, hi = fig.layout.yaxis.range  # the data's y-range (as notebook 003 draws it), not the curves'
    assert lo < data.y.min() and hi > data.y.max() and hi < gf.max()


def test_curve_rebuilds_the_model_from_snapshots():
    data = curve_data()
    spec = ModelSpec(in_dim=1, out_dim=1, hidden=[8], activation="tanh")
    models = [build_model(spec, seed=s) for s in (1, 2, 3)]
    snaps = {k: np.stack([m.state_dict()[k].numpy() for m in models]) for k in models[0].state_dict()}
    run = Run(spec={"name": "c", "model": spec.model_dump()}, losses=np.ones(3, np.float32),
              frames=np.zeros((3, 20, 1), np.float32), frame_steps=np.array([0, 1, 2]), snapshots=snaps, data=data)
    fig = viz.animate(run)
    line = fig.frames[0].traces[0]
    np.testing.assert_allclose(arr(fig.data[line].x), data.grid[:, 0])
    for j, m in enumerate(models):
        with torch.no_grad():
            want = m(torch.from_numpy(data.grid))[:, 0].numpy()
        np.testing.assert_allclose(arr(fig.frames[j].data[0].y), want, rtol=1e-6, atol=1e-6)


def test_curve_falls_back_to_training_predictions_sorted_by_x():
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, size=(15, 1)).astype(np.float32)
    data = Dataset(X=x, y=x ** 2, task="regression", name="sq")
    frames = np.stack([x * t for t in (0.0, 1.0)]).astype(np.float32)
    run = Run(spec={"name": "c"}, losses=np.ones(2, np.float32), frames=frames, frame_steps=np.array([0, 1]), data=data)
    fig = viz.animate(run)
    line = fig.frames[0].traces[0]
    order = np.argsort(x[:, 0])
    np.testing.assert_array_equal(arr(fig.data[line].x), x[order, 0])
    np.testing.assert_array_equal(arr(fig.frames[1].data[0].y), x[order, 0])


# ---------------------------------------------------------------- animate: boundary and fit


def blobs(n: int = 30, classes: int = 2) -> Dataset:
    rng = np.random.default_rng(2)
    y = np.arange(n) % classes
    X = rng.normal(size=(n, 2)).astype(np.float32) + y[:, None] * 2.0
    return Dataset(X=X, y=y, task="binary" if classes == 2 else "multiclass", name="blobs")


def test_boundary_heatmap_shows_probabilities_of_logits():
    data = blobs()
    g = 12
    gx = np.linspace(-3, 5, g, dtype=np.float32)
    gy = np.linspace(-2, 4, g, dtype=np.float32)
    logits = np.stack([np.broadcast_to(gx[None, :] * t, (g, g)) for t in (0.0, 1.0, 2.0)])[..., None]  # (k, g, g, 1)
    run = Run(spec={"name": "b", "model": {"out_activation": "none"}, "train": {"loss": "bce_logits"}},
              losses=np.ones(5, np.float32), frames=np.zeros((3, 30, 1), np.float32), frame_steps=np.array([0, 2, 4]),
              grid_frames=logits.astype(np.float32), grid_axes=(gx, gy), data=data)
    fig = viz.animate(run)
    assert isinstance(fig.data[0], go.Heatmap)
    assert sum(isinstance(t, go.Scatter) for t in fig.data) == 2  # one trace per class
    z = arr(fig.frames[2].data[0].z)  # whole percents, one byte a cell
    assert fig.frames[2].data[0].z.dtype == np.uint8
    np.testing.assert_allclose(z, 100 / (1 + np.exp(-2 * np.broadcast_to(gx, (g, g)))), atol=0.5 + 1e-6)
    assert fig.frames[0].data[0].z[0][0] == 50
    assert (fig.data[0].zmin, fig.data[0].zmax) == (0, 100)
    assert list(fig.data[0].colorbar.ticktext) == ["0", "0.25", "0.5", "0.75", "1"]
    assert fig.layout.updatemenus[0].buttons[0].args[1]["frame"]["redraw"] is True


def test_boundary_multiclass_shows_the_argmax_class():
    data = blobs(classes=3)
    g = 5
    out = np.random.default_rng(0).normal(size=(2, g, g, 3)).astype(np.float32)
    run = Run(spec={"name": "b3"}, losses=np.ones(2, np.float32), frames=np.zeros((2, 30, 3), np.float32),
              frame_steps=np.array([0, 1]), grid_frames=out, grid_axes=(np.arange(g, dtype=np.float32),) * 2, data=data)
    fig = viz.animate(run)
    np.testing.assert_array_equal(arr(fig.frames[1].data[0].z), out[1].argmax(-1))


def test_boundary_without_grid_colours_points_by_prediction():
    data = blobs()
    probs = np.stack([np.full((30, 1), 0.5), (data.y[:, None] * 0.8 + 0.1)]).astype(np.float32)
    run = Run(spec={"name": "p", "model": {"out_activation": "sigmoid"}}, losses=np.ones(2, np.float32),
              frames=probs, frame_steps=np.array([0, 1]), data=data)
    fig = viz.animate(run)
    np.testing.assert_allclose(arr(fig.frames[1].data[0].marker.color), probs[1, :, 0], atol=1e-6)


def test_fit_view_for_other_regressions_and_error_for_high_dim_classification():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(25, 3)).astype(np.float32)
    y = X.sum(1, keepdims=True)
    frames = np.stack([y * 0, y]).astype(np.float32)
    run = Run(spec={"name": "f"}, losses=np.ones(2, np.float32), frames=frames, frame_steps=np.array([0, 1]),
              data=Dataset(X=X, y=y, task="regression", name="sum"))
    fig = viz.animate(run)
    assert A.animation_kind(run) == "fit"
    np.testing.assert_allclose(arr(fig.frames[1].data[0].y), y[:, 0])
    clf = Run(spec={"name": "d"}, losses=np.ones(2, np.float32), frames=np.zeros((2, 25, 3), np.float32),
              frame_steps=np.array([0, 1]), data=Dataset(X=X, y=np.arange(25) % 3, task="multiclass", name="d"))
    with pytest.raises(SpecError, match="input columns"):
        viz.animate(clf)
    assert viz.figure_for_run(clf).layout.title.text == "Training loss"  # falls back to the loss


# ---------------------------------------------------------------- static figures


def test_loss_curve_exact_values_one_line_per_run_and_epoch_metrics():
    a, b = mapping_run(), mapping_run(seed=1)
    b.spec = {**b.spec, "name": "other"}
    b.epoch_metrics = {"val_loss": np.array([0.5, 0.2, 0.1]), "val_accuracy": np.array([0.5, 0.75, 1.0])}
    fig = viz.loss_curve([a, b])
    lines = [t for t in fig.data if t.name in ("rot", "other")]
    assert len(lines) == 2
    np.testing.assert_array_equal(arr(lines[0].y), a.losses)
    assert lines[0].x is None and (lines[0].x0, lines[0].dx) == (1, 1)  # steps 1, 2, ... implied, not sent
    assert fig.layout.yaxis.type == "log"
    val = next(t for t in fig.data if t.name == "other: validation loss")
    np.testing.assert_array_equal(arr(val.x), [10, 20, 30])  # 30 steps over 3 epochs: metric at each epoch's end
    acc = next(t for t in fig.data if t.name == "other: validation accuracy")
    assert acc.yaxis == "y2"
    # several runs: a run keeps its colour, its metrics differ by dash
    assert val.line.color == acc.line.color == lines[1].line.color and val.line.dash != acc.line.dash
    assert viz.loss_curve(a, log=False).layout.yaxis.type == "linear"


def test_a_long_loss_curve_is_thinned_and_then_sends_its_steps():
    run = mapping_run()
    run.losses = np.geomspace(1, 1e-3, F.MAX_LOSS_POINTS * 2 + 7).astype(np.float32)
    line = viz.loss_curve(run).data[0]
    x = arr(line.x)
    assert len(x) <= F.MAX_LOSS_POINTS + 1 and x[0] == 1 and x[-1] == len(run.losses)
    np.testing.assert_array_equal(arr(line.y), run.losses[x.astype(int) - 1])


def test_one_runs_curves_of_different_meaning_have_different_colours_and_readable_names():
    run = mapping_run()
    run.epoch_metrics = {"train_loss": np.array([0.4, 0.3, 0.2]), "val_loss": np.array([0.5, 0.2, 0.1]),
                         "val_accuracy": np.array([0.5, 0.75, 1.0])}
    fig = viz.loss_curve(run)
    names = [t.name for t in fig.data]
    assert names == ["training loss (each step)", "training loss", "validation accuracy", "validation loss"]
    loss_panel = [t for t in fig.data if t.yaxis in (None, "y")]
    acc_panel = [t for t in fig.data if t.yaxis == "y2"]
    assert len({t.line.color for t in loss_panel}) == len(loss_panel) == 3  # different meanings, different colours
    assert [t.name for t in acc_panel] == ["validation accuracy"]
    assert acc_panel[0].line.color == loss_panel[2].line.color  # one colour per split across the two panels
    # the loss axis: log, ticks only where labelled, each label a plain number (no minor-tick digits)
    axis = fig.layout.yaxis
    assert axis.type == "log" and len(axis.tickvals) == len(axis.ticktext) and axis.minor.ticks == ""
    read = [10.0 ** int(t[7:-6]) if t.startswith("10<sup>") else float(t) for t in axis.ticktext]
    assert read == pytest.approx(list(axis.tickvals))
    values = np.concatenate([run.losses, *run.epoch_metrics.values()])
    assert min(axis.tickvals) <= values[values > 0].max() and max(axis.tickvals) >= values.min()


def test_decision_boundary_matches_a_hand_built_model():
    model = torch.nn.Sequential(torch.nn.Linear(2, 1), torch.nn.Sigmoid())
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[2.0, 0.0]]))
        model[0].bias.zero_()
    fig = viz.decision_boundary(model, blobs(), grid=21, box=(-1, 1, -2, 2))
    z = arr(fig.data[0].z)  # (g, g): rows follow y, columns follow x
    xs = np.linspace(-1, 1, 21)
    np.testing.assert_allclose(z, np.broadcast_to(1 / (1 + np.exp(-2 * xs)), (21, 21)), atol=6e-4)
    assert fig.data[0].colorscale is not None and fig.layout.xaxis.range == (-1, 1)
    with pytest.raises(SpecError, match="box"):
        viz.decision_boundary(model, blobs(), box=(1, 0, 0, 1))


def test_fitted_curve_is_the_model_on_the_grid():
    data = curve_data()
    model = build_model(in_dim=1, out_dim=1, hidden=[5], activation="tanh", seed=4)
    fig = viz.fitted_curve(model, data)
    line = next(t for t in fig.data if t.name == "model")
    with torch.no_grad():
        want = model(torch.from_numpy(data.grid))[:, 0].numpy()
    np.testing.assert_allclose(arr(line.y), want, rtol=1e-6, atol=1e-7)


def test_activation_gradients_match_closed_forms_and_finite_differences():
    x = np.linspace(-4, 4, 81) + 0.0125  # avoid relu's kink at exactly 0
    c = F.activation_curves(("relu", "sigmoid", "tanh"), x)
    s = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(c["sigmoid_grad"], s * (1 - s), rtol=1e-12)
    np.testing.assert_allclose(c["tanh_grad"], 1 - np.tanh(x) ** 2, rtol=1e-12)
    np.testing.assert_array_equal(c["relu_grad"], (x > 0).astype(float))
    h = 1e-6
    for name in ("sigmoid", "tanh"):
        fd = (F.activation_curves([name], x + h)[name] - F.activation_curves([name], x - h)[name]) / (2 * h)
        np.testing.assert_allclose(c[name + "_grad"], fd, atol=1e-8)
    fig = viz.activations()
    assert len(fig.data) == 6 and fig.data[1].xaxis == "x2"
    with pytest.raises(SpecError, match="names"):
        viz.activations(["swish2"])


def test_prior_samples_are_seeded_models():
    spec = ModelSpec(in_dim=1, out_dim=1, hidden=[50], activation="sigmoid", init="normal",
                     init_std_w=5.0, init_std_b=5.0)
    x = np.linspace(-5, 5, 40, dtype=np.float32)
    xs, samples = F.prior_draws(spec, n=3, x=x, seed=7)
    for i in range(3):
        with torch.no_grad():
            want = build_model(spec, seed=7 + i)(torch.from_numpy(x[:, None]))[:, 0].numpy()
        np.testing.assert_allclose(samples[i], want, rtol=1e-6)
    assert not np.allclose(samples[0], samples[1])
    fig = viz.prior_samples(spec, n=4, x=x)
    assert fig.data[0].x is None and fig.data[0].x0 == pytest.approx(x[0]) and fig.data[0].dx == pytest.approx(x[1] - x[0])
    assert len(fig.data) == 4
    factory_fig = viz.prior_samples(lambda s: build_model(spec, seed=s), n=2, x=x, seed=7)
    np.testing.assert_allclose(arr(factory_fig.data[0].y), samples[0], rtol=1e-6)


def test_mapping_before_after():
    run = mapping_run()
    fig = viz.mapping(run)
    pts = [t for t in fig.data if t.name in ("inputs X", "predictions")]
    np.testing.assert_array_equal(arr(pts[0].x), run.data.X[:, 0])
    np.testing.assert_array_equal(arr(pts[1].y), run.frames[-1][:, 1])


def test_confusion_matrix_and_per_class_accuracy_by_hand():
    t = [0, 0, 1, 1, 2, 2, 2]
    p = [0, 1, 1, 1, 0, 2, 2]
    counts = I.confusion_counts(t, p)
    np.testing.assert_array_equal(counts, [[1, 1, 0], [0, 2, 0], [1, 0, 2]])
    np.testing.assert_allclose(I.class_accuracies(t, p), [0.5, 1.0, 2 / 3])
    fig = viz.confusion_matrix(t, p, ["a", "b", "c"])
    np.testing.assert_array_equal(np.asarray(fig.data[0].z), counts)
    bars = viz.per_class_accuracy(t, p)
    np.testing.assert_allclose(arr(bars.data[0].y), [0.5, 1.0, 2 / 3])
    assert np.isnan(I.class_accuracies([0, 0], [0, 1], n_classes=3)[2])


def test_images_grid_tiles_images_and_marks_mistakes():
    imgs = np.arange(5 * 4 * 4, dtype=np.float32).reshape(5, 16) / 80  # (N, H*W) square
    fig = viz.images_grid(imgs, [0, 1, 2, 3, 4], preds=[0, 1, 0, 3, 4], shape=(2, 3))
    z = arr(fig.data[0].z)
    cap = (z.shape[0] // 2) - 4  # caption band above each 4x4 image
    assert z.shape == (2 * (4 + cap), 3 * 5) and cap >= 1
    np.testing.assert_allclose(z[4 + 2 * cap: 4 + 2 * cap + 4, 0:4], imgs[3].reshape(4, 4), atol=5e-4)  # row 1, col 0
    assert np.isnan(z[:cap]).all()
    notes = fig.layout.annotations
    wrong = "2<br><span style='color:#d62728'>0</span>"  # the label, the wrong prediction in red below it
    assert [a.text for a in notes] == ["0", "1", wrong, "3", "4"]


def test_image_captions_do_not_overlap_even_with_long_class_names():
    names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    labels = np.arange(64) % 10
    fig = viz.images_grid(np.zeros((64, 28, 28)), labels, preds=(labels + 1) % 10, class_names=names)  # all wrong
    lay, z = fig.layout, arr(fig.data[0].z)
    cols, rows = 8, 8
    # the axes keep pixels square and fit the plotting area: screen pixels per mosaic pixel
    unit = min((lay.width - lay.margin.l - lay.margin.r) / z.shape[1], (lay.height - lay.margin.t - lay.margin.b) / z.shape[0])
    cell_w, cell_h = unit * z.shape[1] / cols, unit * z.shape[0] / rows
    band = cell_h - unit * 28  # screen height of the caption band above each image
    size = lay.annotations[0].font.size
    for note in lay.annotations:
        text_lines = re.sub(r"<span[^>]*>|</span>", "", note.text).split("<br>")
        widest = max(len(t) for t in text_lines) * 0.62 * size  # a generous width per character
        assert widest < cell_w - 4, note.text  # neighbours' captions stay apart
        assert len(text_lines) * size * 1.3 <= band, note.text  # two lines fit above the image
    assert {n.text.split("<br>")[0] for n in lay.annotations} == set(names)
    with pytest.raises(SpecError, match="images"):
        viz.images_grid(np.zeros((2, 15)), [0, 1])


def test_figure_for_run_by_kind():
    x = np.linspace(-5, 5, 9)
    prior = Run(spec={"name": "p", "kind": "prior"}, extras={"x": x, "samples": np.ones((3, 9))})
    assert len(viz.figure_for_run(prior).data) == 3
    c = F.activation_curves(("relu", "sigmoid", "tanh"))
    act = Run(spec={"name": "a", "kind": "activations"}, extras=c)
    assert [t.name for t in viz.figure_for_run(act).data[::2]] == ["relu", "sigmoid", "tanh"]
    assert viz.figure_for_run(mapping_run()).frames
    assert viz.figure_for_run(Run(spec={"name": "empty"})) is None
    html = mapping_run()._repr_html_()
    assert "rot" in html and "Plotly.newPlot" in html


# ---------------------------------------------------------------- reports


def no_external_refs(html: str) -> str:
    """The page without the inlined plotly.js, checked for references to anything outside the file."""
    from plotly.offline import get_plotlyjs

    rest = html.replace(get_plotlyjs(), "")
    for bad in ('src="http', "src='http", 'href="http', "href='http", "cdn", "@import"):
        assert bad not in rest.lower(), bad
    return rest


def test_report_is_self_contained_and_complete(tmp_path):
    from plotly.offline import get_plotlyjs

    run = mapping_run(description="Points rotated by 90 degrees.\n\nA linear model <fits> them.",
                      notebook="08 - MLPs")
    run.metrics, run.timings = {"train_r2": 0.987654321}, {"train_s": 1.5, "steps_per_s": 2345.6}
    run.status, run.message = "stopped early", "validation loss stalled"
    extra = viz.activations()
    path = viz.write_report(run, tmp_path / "out", figures=[("Activations & gradients", extra)])
    assert path == tmp_path / "out" / "report.html"
    html = path.read_text()
    assert html.count(get_plotlyjs()) == 1
    rest = no_external_refs(html)
    assert "<h1>Rotation</h1>" in rest and "08 - MLPs" in rest
    assert "A linear model &lt;fits&gt; them." in rest  # escaped, not injected
    assert "0.987654" in rest and "time: train</th><td>1.500 s" in rest and "steps per second</th><td>2,346" in rest and "validation loss stalled" in rest
    assert f"{run.final_loss:.6g}" in rest
    assert "Activations &amp; gradients" in rest
    assert rest.count("Plotly.newPlot") == 3  # headline animation, loss curve, the extra figure
    assert "Plotly.addFrames" in rest


def test_gallery_reports_share_one_plotly_js_beside_them(tmp_path):
    from plotly.offline import get_plotlyjs

    from mlplab.viz.report import PLOTLY_JS, write_plotlyjs

    shared = write_plotlyjs(tmp_path)
    assert shared == tmp_path / PLOTLY_JS and shared.read_text(encoding="utf-8") == get_plotlyjs()
    stamp = shared.stat().st_mtime_ns
    assert write_plotlyjs(tmp_path).stat().st_mtime_ns == stamp  # an identical copy is left alone
    path = viz.write_report(mapping_run(), tmp_path / "rot" / "report.html", plotly_js=f"../{PLOTLY_JS}")
    html = no_external_refs(path.read_text(encoding="utf-8"))
    assert get_plotlyjs()[:2000] not in html and len(html) < 500_000
    (src,) = re.findall(r'<script type="text/javascript" src="([^"]+)"></script>', html)
    assert (path.parent / src).resolve() == shared.resolve()  # the relative path reaches the shared copy
    assert html.index(src) < html.index("Plotly.newPlot")  # loaded before any figure is drawn


def test_report_title_override_and_bad_figures(tmp_path):
    path = viz.write_report(mapping_run(), tmp_path / "x.html", title="My title")
    assert path.name == "x.html" and "<title>My title</title>" in path.read_text()
    with pytest.raises(SpecError, match=r"figures\[0\]"):
        viz.write_report(mapping_run(), tmp_path / "y.html", figures=[go.Figure()])


def test_gallery_cards_link_to_reports(tmp_path):
    runs = [mapping_run(), Run(spec={"name": "p", "kind": "prior", "title": "Prior"},
                               extras={"x": np.linspace(-1, 1, 5), "samples": np.ones((2, 5))})]
    path = viz.write_gallery(runs + [{"name": "bare", "final_loss": 0.5}], tmp_path, title="All runs")
    html = path.read_text()
    assert path == tmp_path / "index.html"
    no_external_refs(html)
    for name in ("rot", "p", "bare"):
        assert f'href="{name}/report.html"' in html
    assert html.count("<svg") == 3  # rot: picture + loss sparkline; p: samples; bare: nothing
    assert "Plotly" not in html and "<h1>All runs</h1>" in html and "3 runs" in html
    assert re.search(r"final loss 0\.001", html)


# ---------------------------------------------------------------- a real training run


def test_views_of_a_real_training_run(tmp_path, one_thread):
    from mlplab.training.loop import train

    data = curve_data()
    model = build_model(in_dim=1, out_dim=1, hidden=[8], activation="tanh", seed=0)
    run = train(model, data, epochs=30, lr=0.05, frames=10, grid=25)
    fig = viz.animate(run)
    m = len(run.grid_axes[0])
    assert len(fig.frames) == len(run.frames) and run.grid_frames.shape == (len(run.frames), m, 1)
    untrained = build_model(in_dim=1, out_dim=1, hidden=[8], activation="tanh", seed=0)
    with torch.no_grad():  # frame 0 is the model before its first update
        first = untrained(torch.from_numpy(run.grid_axes[0][:, None]))[:, 0].numpy()
    np.testing.assert_allclose(arr(fig.frames[0].data[0].y), first, rtol=1e-5, atol=1e-6)
    # the last frame is the model after that many updates: train a second one for exactly that long
    last = int(run.frame_steps[-1])
    again = train(build_model(in_dim=1, out_dim=1, hidden=[8], activation="tanh", seed=0), data, epochs=last,
                  lr=0.05, frames=0)
    with torch.no_grad():
        trained = again.model(torch.from_numpy(run.grid_axes[0][:, None]))[:, 0].numpy()
    np.testing.assert_allclose(arr(fig.frames[-1].data[0].y), trained, rtol=1e-5, atol=1e-6)
    assert not np.allclose(trained, first, atol=1e-3)
    # the report carries that animation: every frame, by name, with plotly.js inlined
    html = viz.write_report(run, tmp_path).read_text(encoding="utf-8")
    names = re.findall(r'"name":"(step \d+)"', html)
    assert names[-len(fig.frames):] == [f.name for f in fig.frames]
    assert len(re.findall(r"<script[^>]*\bsrc=", html)) == 0 and "Plotly.newPlot" in html and len(html) > 3_000_000


# ---------------------------------------------------------------- exports


def tiny_animation() -> go.Figure:
    return viz.animate(mapping_run(k=4, n=20))  # 1 + 4 = 5 frames


def test_export_html_inlines_plotly(tmp_path):
    from plotly.offline import get_plotlyjs

    path = viz.export_animation(tiny_animation(), tmp_path / "a.html")
    html = path.read_text()
    assert html.count(get_plotlyjs()) == 1
    no_external_refs(html)


def test_export_png_gif_mp4(tmp_path):
    import imageio.v3 as iio
    import imageio_ffmpeg

    fig = tiny_animation()
    png = viz.export_png(fig, tmp_path / "a.png", width=320, height=240)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert iio.imread(png).shape[:2] == (240, 320)
    first = viz.export_png(fig, tmp_path / "first.png", width=320, height=240, frame=0)
    assert not np.array_equal(iio.imread(first), iio.imread(png))  # the default is not the untrained state
    gif = viz.export_animation(fig, tmp_path / "a.gif", fps=5, width=320, height=320)
    assert gif.read_bytes()[:6] == b"GIF89a"
    frames = iio.imread(gif, index=None)
    assert frames.shape[0] == 5 and not np.array_equal(frames[0], frames[-1])
    mp4 = viz.export_animation(fig, tmp_path / "a.mp4", fps=5, width=320, height=320)
    assert mp4.read_bytes()[4:8] == b"ftyp"
    n, _ = imageio_ffmpeg.count_frames_and_secs(str(mp4))
    assert n == 5


def test_frame_figures_merge_each_frame_into_the_base():
    fig = tiny_animation()
    stills = E.frame_figures(fig)
    assert len(stills) == 5
    assert "sliders" not in stills[0]["layout"] and "updatemenus" not in stills[0]["layout"]
    np.testing.assert_array_equal(arr(stills[-1]["data"][0]["x"]), arr(fig.frames[-1].data[0].x))
    np.testing.assert_array_equal(arr(stills[-1]["data"][1]["x"]), arr(fig.data[1].x))  # targets untouched
    assert stills[2]["layout"]["title"]["text"].endswith(fig.frames[2].name)


def test_a_still_of_an_animation_shows_the_trained_result_unless_a_frame_is_chosen():
    run = mapping_run(k=4, n=20)
    fig = viz.animate(run)
    still = E.still_figure(fig)
    # the moving trace holds the predictions recorded last, not the inputs the animation starts from
    np.testing.assert_array_equal(arr(still["data"][0]["x"]), run.frames[-1][:, 0].astype(np.float32))
    assert not np.array_equal(arr(still["data"][0]["x"]), arr(fig.data[0].x))
    assert "sliders" not in still["layout"] and still["layout"]["title"]["text"].endswith(fig.frames[-1].name)
    np.testing.assert_array_equal(arr(E.still_figure(fig, 0)["data"][0]["x"]), arr(fig.data[0].x))
    np.testing.assert_array_equal(arr(E.still_figure(fig, fig.frames[2].name)["data"][0]["x"]), arr(fig.frames[2].data[0].x))
    for bad in (99, "step 12345", True):
        with pytest.raises(SpecError, match="frame"):
            E.still_figure(fig, bad)


def test_export_errors_name_the_fix(tmp_path, monkeypatch):
    with pytest.raises(SpecError, match="fmt"):
        viz.export_animation(tiny_animation(), tmp_path / "a.avi")
    with pytest.raises(SpecError, match="fps"):
        viz.export_animation(tiny_animation(), tmp_path / "a.gif", fps=0)
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "no-such-chrome"))
    with pytest.raises(MlplabError, match="apt-get install -y chromium"):
        viz.export_png(go.Figure(), tmp_path / "a.png")
    monkeypatch.delenv("BROWSER_PATH")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MlplabError, match="BROWSER_PATH"):
        E.find_browser()


def test_sine_poly_keeps_the_datas_y_range_and_says_what_the_model_is():
    import mlplab
    from mlplab.viz.report import summary_rows

    run = mlplab.run("sine-poly", progress=False)  # notebook 003: degree 100, Adam, 10000 steps
    fig = viz.figure_for_run(run)
    lo, hi = fig.layout.yaxis.range
    y = run.data.y[:, 0]
    assert lo < y.min() and hi > y.max() and hi - lo < 1.5 * (y.max() - y.min())  # the data fill the view
    curve = arr(fig.frames[-1].data[-1].y)
    assert curve.min() < lo - 10 * (hi - lo)  # the polynomial explodes somewhere: it leaves the view ...
    assert np.mean((curve >= lo) & (curve <= hi)) > 0.5  # ... and is drawn where the data are
    fitted = viz.fitted_curve(run.model, run.data)
    assert fitted.layout.yaxis.range == fig.layout.yaxis.range
    assert dict(summary_rows(run))["model"] == "polynomial, degree 100 (a linear layer on x, x^2, ..., x^100)"


# ---------------------------------------------------------------- sweep reports (mlplab.sweep.report)


def _sweep_frame(variants: int = 5, seeds: int = 2):
    import pandas as pd

    rows, runs = [], {}
    for v in range(variants):
        for s in range(seeds):
            run = mapping_run(seed=10 * v + s)
            run.losses = (np.geomspace(1, 10.0 ** -(v + 1), 30) * (1 + 0.1 * s)).astype(np.float32)
            rid = f"r{v}{s}"
            runs[rid] = run
            rows.append(dict(run_id=rid, variant=f"lr={v}", name=rid, status="finished", final_loss=float(run.losses[-1])))
    return pd.DataFrame(rows), runs


def test_sweep_animation_controls_sit_below_the_axes_tick_labels():
    from mlplab.sweep.report import animation_grid

    frame, runs = _sweep_frame()
    fig = animation_grid(frame, runs)
    lay = fig.layout
    plot_px = lay.height - lay.margin.t - lay.margin.b
    for control in (lay.updatemenus[0], lay.sliders[0]):
        assert control.yanchor == "top"
        assert -control.y * plot_px >= 30  # the top of the controls is at least 30 px under the axes
    assert lay.margin.b >= 100  # and the margin holds them, instead of the plot


def test_sweep_log_axes_label_only_readable_ticks():
    from mlplab.sweep.report import dot_plot, loss_curves

    frame, runs = _sweep_frame()
    for axis in (loss_curves(frame, runs).layout.yaxis, dot_plot(frame).layout.xaxis):
        assert axis.type == "log" and axis.minor.ticks == ""
        assert len(axis.tickvals) == len(axis.ticktext) <= 10
        assert all(t.startswith("10<sup>") or float(t) > 0 for t in axis.ticktext)


@pytest.mark.parametrize("values,integer", [([0.60, 0.74], False), ([0.6, 0.61], False), ([3.0, 4.2], False),
                                            ([1e-3, 0.5], False), ([120, 131], True), ([1, 4000], True)])
def test_a_log_axis_labels_at_least_two_readable_values_inside_any_range(values, integer):
    """A loss between 0.60 and 0.74 lies inside one 1-2-5 step: the axis once showed no label at all."""
    from mlplab.viz.figures import log_axis

    axis = log_axis(np.array(values), integer=integer)
    inside = [(v, t) for v, t in zip(axis["tickvals"], axis["ticktext"]) if min(values) <= v <= max(values)]
    assert 2 <= len(inside) <= 10
    for v, t in inside:  # each label is the number it marks, written short
        number = float(t.replace(",", "")) if "<sup>" not in t else 10.0 ** int(t[7:-6])
        assert number == pytest.approx(v, rel=1e-9) and len(t) <= 16


def test_animation_controls_sit_under_the_x_axis_title_not_on_it():
    figs = [viz.animate(mapping_run()), viz.animate(mapping_run(k=3, n=10), frames=2)]
    for fig in figs:
        lay = fig.layout
        plot_px = lay.height - lay.margin.t - lay.margin.b
        for control in (lay.updatemenus[0], lay.sliders[0]):
            assert control.yanchor == "top" and -control.y * plot_px >= 55  # tick labels and title fit above
        assert lay.margin.b >= 110


def test_gallery_thumbnails_draw_every_point_in_its_class_colour_compactly():
    run = mapping_run(n=300)
    svg = viz.report.thumbnail_svg(run)
    paths = re.findall(r'<path stroke="([^"]+)"[^>]*d="([^"]+)"', svg)
    assert {c for c, _ in paths} == {"rgba(214,39,40,.45)", "#1f77b4"}  # targets and predictions
    dots = [d.count("M") for _, d in paths]
    assert dots == [300, 300] and len(svg) < 12 * 600 + 500  # about a dozen bytes a dot


def test_a_report_sharing_plotly_js_draws_every_figure_in_a_browser(tmp_path):
    from playwright.sync_api import sync_playwright

    from mlplab.viz.report import PLOTLY_JS, write_plotlyjs

    write_plotlyjs(tmp_path)
    path = viz.write_report(mapping_run(), tmp_path / "rot" / "report.html", figures=[("curves", viz.activations())],
                            plotly_js=f"../{PLOTLY_JS}")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(path.as_uri())
            page.wait_for_function("document.querySelectorAll('.js-plotly-plot .main-svg').length >= 3")
            drawn = page.evaluate("[...document.querySelectorAll('.js-plotly-plot')].map(d => d.data.length)")
        finally:
            browser.close()
    assert errors == [] and drawn == [2, 1, 6]  # animation (predictions, targets), loss, the 3 x 2 curves


def test_init_scale_bars_label_their_log_ticks_in_full():
    import pandas as pd

    from mlplab.viz.init_scales import init_scales_figure

    df = pd.DataFrame(dict(init=["default", "default", "normal", "normal"], layer=[0, 1, 0, 1], n_in=[64, 256] * 2,
                           n_out=[256, 10] * 2, act_std=[0.55, 0.28, 0.08, 0.007], predicted_std=[0.56, 0.27, 0.08, 0.009],
                           weight_grad_std=[0.004, 0.02, 0.001, 0.002]))
    fig = init_scales_figure(df)
    for axis, values in ((fig.layout.yaxis, df[["act_std", "predicted_std"]].to_numpy()),
                         (fig.layout.yaxis2, df["weight_grad_std"].to_numpy())):
        assert axis.type == "log" and axis.minor.ticks == "" and len(axis.tickvals) == len(axis.ticktext)
        assert [float(t) for t in axis.ticktext] == pytest.approx(list(axis.tickvals))  # "0.005", not "5"
        assert min(axis.tickvals) <= values.max() and max(axis.tickvals) >= values.min()
