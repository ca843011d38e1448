"""The outputs and the linear regions animated together: same steps, same model in both panels."""

import numpy as np
import pytest

import mlplab
from mlplab.geometry import default_box, linear_regions, regions_over_training
from mlplab.viz.synced import regions_and_outputs


def test_frames_follow_the_snapshots():
    run = mlplab.run("moons-mlp", epochs=60)
    fig = regions_and_outputs(run, max_frames=6)
    counts = regions_over_training(run)
    steps = list(run.frame_steps)
    assert len(fig.frames) == 6
    for frame in fig.frames:
        step = int(frame.name)
        assert f"{counts[steps.index(step)]} linear regions" in frame.layout.title.text
        heat = frame.data[0]  # the decision boundary: the recorded grid probabilities at that step
        np.testing.assert_allclose(heat.z, np.round(run.grid_frames[steps.index(step)][..., 0], 3), atol=1e-6)
    final = linear_regions(run.model, default_box(run))
    assert fig.frames[-1].layout.title.text.endswith(f"{len(final)} linear regions")


def test_mapping_runs_animate_predictions():
    run = mlplab.run("piecewise-mlp", epochs=40)
    fig = regions_and_outputs(run, max_frames=3)
    moving = fig.frames[1].data[0]
    i = list(run.frame_steps).index(int(fig.frames[1].name))
    np.testing.assert_allclose(np.asarray(moving.x, dtype=np.float32), run.frames[i][:, 0])


def test_needs_snapshots():
    run = mlplab.run("moons-manual-step", epochs=5)
    with pytest.raises(mlplab.SpecError, match="snapshots=True"):
        regions_and_outputs(run)
