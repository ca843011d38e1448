"""The notebooks' numbers on the default path: a preset that reproduces a notebook cell, run as a user runs
it (`mlplab.run(NAME)`, the engine left to the preset), ends at the loss the notebook's own code reaches on
the same data from the same initial weights (tests/seed_reference.py holds that code).

The batch-norm presets are the runs where this can fail: their Adam steps along batch norm's flat
directions are the signs of float32 rounding noise, so only the notebooks' own operations reach the
notebooks' numbers (see the comment on `_NOTEBOOK_ENGINE` in mlplab/presets.py). The fused NumPy engine
ends them 0.1-5% away (piecewise-residual-bn: 5.23 against 5.005, measured).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import mlplab
from mlplab.training.loop import threads_for

import seed_reference as ref

# preset -> (the notebook's model, our module name -> theirs)
_NOTEBOOK_000 = {"net.0": "fc1", "net.1": "bn1", "net.2": "r1", "net.3": "bn2", "net.4": "r2", "net.5": "bn3", "net.6": "fc2"}
BATCH_NORM_PRESETS = {
    "piecewise-residual-bn": (lambda: ref.SeedResidual(2, 2, 2, bn=True), _NOTEBOOK_000),
    "practice-residual-bn": (lambda: ref.SeedResidual(2, 2, 2, bn=True), _NOTEBOOK_000),
    "piecewise-residual-bn-no-bn1": (lambda: ref.SeedResidual(2, 2, 2, bn=True, bn1=False), {
        "net.0": "fc1", "net.1": "r1", "net.2": "bn2", "net.3": "r2", "net.4": "bn3", "net.5": "fc2"}),
}


def _notebook_losses(name: str, epochs: int) -> np.ndarray:
    """The notebook's model, started from the preset's initial weights, trained by the notebook's train_model
    on the preset's data (under mlplab's thread policy: a reduction's bits depend on the thread count)."""
    exp = mlplab.experiment(name)
    ours = mlplab.build_model(exp.model, seed=exp.train.seed)
    make, mapping = BATCH_NORM_PRESETS[name]
    theirs = make()
    state = {}
    for key, value in ours.state_dict().items():
        head = next(p for p in mapping if key == p or key.startswith(p + "."))
        state[mapping[head] + key[len(head):]] = value.clone()
    missing, unexpected = theirs.load_state_dict(state, strict=False)
    assert not unexpected and all(k.startswith("bn1.") for k in missing), (missing, unexpected)  # no-bn1: bn1 unused
    data = mlplab.make_dataset(exp.data)
    X, y = torch.from_numpy(data.X), torch.from_numpy(data.y)
    with threads_for(theirs, len(X)):
        losses = ref.seed_train_model(theirs, X, y, lr=exp.train.lr, epochs=epochs)
    return np.asarray(losses, dtype=np.float32)


@pytest.mark.parametrize("name", list(BATCH_NORM_PRESETS))
def test_batch_norm_presets_follow_the_notebooks_steps(name):
    """The first 300 steps, step by step (another engine is 1e-5 to 1e-3 away within them)."""
    run = mlplab.run(name, epochs=300, progress=False)
    np.testing.assert_allclose(run.losses, _notebook_losses(name, 300), rtol=1e-4, err_msg=run.engine)


@pytest.mark.slow  # two full-length runs per preset (3000-5000 steps): about 1 minute in all on a quiet machine
@pytest.mark.parametrize("name", list(BATCH_NORM_PRESETS))
def test_batch_norm_presets_print_the_notebooks_final_loss(name):
    epochs = mlplab.experiment(name).train.epochs
    run = mlplab.run(name, progress=False)
    assert run.status == "finished" and run.steps == epochs
    expected = float(_notebook_losses(name, epochs)[-1])
    assert run.final_loss == pytest.approx(expected, rel=1e-4), (run.engine, run.final_loss, expected)
