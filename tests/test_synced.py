"""The outputs and the linear regions animated together: same steps, same model in both panels.

The oracle for the frame at step s is a second, independent run trained for exactly s full-batch
steps: its model must give the frame's probabilities, predictions and region count.
"""

import numpy as np
import pytest
import torch

import mlplab
from mlplab.geometry import activation_patterns, default_box, linear_regions
from mlplab.viz.synced import regions_and_outputs


def _trained_for(name: str, steps: int):
    """A fresh run of the full-batch preset ``name`` stopped after ``steps`` updates (its final model)."""
    run = mlplab.run(name, epochs=steps, progress=False)
    assert run.steps == steps
    return run.model.double().eval()


def _polygons(frame_traces) -> int:
    """Polygons drawn in a frame's region fills: each is followed by one gap (NaN)."""
    fills = [t for t in frame_traces if getattr(t, "fill", None) == "toself"]
    return int(sum(np.isnan(np.asarray(t.x, dtype=np.float64)).sum() for t in fills))


def test_each_frame_shows_the_model_trained_for_that_many_steps():
    run = mlplab.run("moons-mlp", epochs=60, progress=False)
    fig = regions_and_outputs(run, max_frames=4)
    box = default_box(run)
    gx, gy = (np.asarray(a, np.float64) for a in (fig.data[0].x, fig.data[0].y))  # the heatmap's own lattice
    grid = np.stack(np.meshgrid(gx, gy), -1).reshape(-1, 2)  # rows follow y, as the heatmap draws them
    checked = 0
    for frame in fig.frames:
        step = int(frame.name)
        if step == 0:
            continue  # no run trains for zero steps; step 0 is the untrained model
        model = _trained_for("moons-mlp", step)
        with torch.no_grad():  # the recorder evaluates in float32
            p = model.float()(torch.from_numpy(grid).float()).double().numpy().reshape(len(gy), len(gx))
        model.double()
        heat = np.asarray(frame.data[0].z, dtype=np.float64)  # whole percents
        np.testing.assert_allclose(heat, p * 100, atol=0.5 + 1e-3)
        exact = linear_regions(model, box)
        assert frame.layout.title.text.startswith(f"step {step}: {len(exact)} linear regions")  # (and how many are thin)
        assert _polygons(frame.data) == len(exact)
        checked += 1
    assert checked == len(fig.frames) - 1
    assert int(fig.frames[-1].name) == int(run.frame_steps[-1])  # the slider ends on the last recorded model


def test_mapping_frames_move_the_predictions_of_the_model_at_that_step():
    run = mlplab.run("piecewise-mlp", epochs=40, progress=False)
    fig = regions_and_outputs(run, max_frames=3)
    frame = fig.frames[1]
    step = int(frame.name)
    model = _trained_for("piecewise-mlp", step)
    X = np.asarray(run.data.X, np.float64)
    with torch.no_grad():
        expected = model(torch.from_numpy(X)).numpy()
    moving = frame.data[0]
    np.testing.assert_allclose(np.asarray(moving.x, np.float64), expected[:, 0], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.asarray(moving.y, np.float64), expected[:, 1], rtol=1e-4, atol=1e-4)
    # a regression map has no decision boundary, and its left panel says what it shows
    line = next(t for t in frame.data if t.name == "decision boundary")
    assert len(line.x) == 0
    assert fig.layout.annotations[0].text == "outputs: predictions (blue) and targets (red)"
    # the region panel's count agrees with the activation patterns the model shows on a dense grid
    exact = linear_regions(model, default_box(run))
    (x0, x1), (y0, y1) = default_box(run)
    g = np.stack(np.meshgrid(np.linspace(x0, x1, 300), np.linspace(y0, y1, 300)), -1).reshape(-1, 2)
    assert len({p.tobytes() for p in activation_patterns(model, g)}) <= len(exact) == _polygons(frame.data)


def test_needs_snapshots():
    run = mlplab.run("moons-manual-step", epochs=5, progress=False)
    with pytest.raises(mlplab.SpecError, match="snapshots=True"):
        regions_and_outputs(run)
