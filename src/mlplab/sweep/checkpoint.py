"""Checkpoints of a sweep's long runs: a run trained one by one saves its training state every
`CHECKPOINT_S` seconds, and a sweep started again continues it from there instead of from step 0.

The mechanism is `Run.resume`: a `Deadline` callback ends the `train` call at the first epoch end past
the interval (status "checkpoint"), the run is saved with its `TrainingState` into the store's
``checkpoints/<run id>/``, and training goes on with ``run.resume`` for the epochs left. Continuing a
run is exact (bit for bit on its engine), so a checkpointed run equals one trained in one go; its record
is collapsed into the one segment it is. A sweep killed by kill -9 finds the folder and goes on from
the last checkpoint; one stopped by Ctrl-C saves the interrupted run itself, which is resumed the same way.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any, Sequence

from ..errors import MlplabError
from ..specs import Experiment
from ..training.callbacks import Callback, StopTraining
from ..training.resume import batches_per_epoch
from ..training.run import Run, load_run

# A run saves its state this often (seconds). One save costs a few milliseconds to a few hundred (the
# arrays of the run so far): far below 5% of a minute (docs/sweeps.md, "Checkpoints", has the numbers).
CHECKPOINT_S = 60.0
CHECKPOINT = "checkpoint"  # the status of a train call that a Deadline ended


class Deadline(Callback):
    """Ends the train call at the first epoch end ``seconds`` after it started (status "checkpoint")."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def on_train_start(self, t) -> None:
        self.until = time.perf_counter() + self.seconds

    def on_epoch_end(self, t, epoch: int) -> None:
        if time.perf_counter() >= self.until and epoch + 1 < t.spec.epochs:
            raise StopTraining(CHECKPOINT, f"checkpoint after {t.steps_done} steps")


def folder_for(store_dir: str | Path, run_id: str) -> Path:
    return Path(store_dir) / "checkpoints" / run_id


def train_checkpointed(exp: Experiment, callbacks: Sequence[Any], folder: Path | None,
                       every_s: float = CHECKPOINT_S, saved: Path | None = None) -> Run:
    """``exp`` trained as `api.run_experiment` trains it, saving a checkpoint into ``folder`` every
    ``every_s`` seconds; continued from the checkpoint there (or from an interrupted run saved in
    ``saved``, whichever went further) when one exists."""
    from ..api import run_experiment

    cbs = list(callbacks)
    start = _latest(exp, [folder, folder and _aside(folder), saved])
    if start is None:
        run = run_experiment(exp, progress=False, callbacks=cbs + [Deadline(every_s)])
    else:
        run = _go_on(start, exp, cbs, every_s)
    while run.status == CHECKPOINT:
        _save(run, folder)
        run = _go_on(run, exp, cbs, every_s)
    if folder is not None:
        for f in (folder, _aside(folder)):
            shutil.rmtree(f, ignore_errors=True)
    return _as_one_segment(run, exp)


def _aside(folder: Path) -> Path:
    return folder.with_name(folder.name + ".previous")


def _save(run: Run, folder: Path) -> None:
    """Save a checkpoint whole or not at all: the run's four files must belong to one step (weights from
    one save beside a training state from another would continue a trajectory that never was). The new
    one is written beside, then swapped in; a kill at any point leaves ``folder`` or its ``.previous``
    complete, and `_latest` reads either."""
    new = folder.with_name(folder.name + ".new")
    shutil.rmtree(new, ignore_errors=True)
    run.save(new)
    old = _aside(folder)
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    new.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


def _go_on(run: Run, exp: Experiment, callbacks: list[Any], every_s: float) -> Run:
    """Resume ``run`` for the epochs ``exp`` has left, with frames spread as one run would have them."""
    planned = run.segments[0]["train"]  # as the first call ran it (a preset may set its own epochs)
    per_epoch = batches_per_epoch(run)
    done = -(-run.steps // per_epoch)  # a partial epoch (Ctrl-C) is finished by the resume and counts as one
    left = max(1, planned["epochs"] - done)
    frames = max(1, round(planned["frames"] * left / planned["epochs"])) if planned["frames"] else 0
    return run.resume(left, frames=frames, callbacks=callbacks + [Deadline(every_s)])


def _latest(exp: Experiment, folders: list[Path | None]) -> Run | None:
    """The saved run of ``exp`` that went furthest and can be continued, or None."""
    best = None
    for folder in folders:
        if folder is None or not (folder / "state.npz").is_file():
            continue
        try:
            run = load_run(folder)
        except MlplabError:  # a damaged checkpoint is ignored: the run starts again
            continue
        if run.training_state is None or run.status not in (CHECKPOINT, "interrupted"):
            continue
        if (run.spec.get("model") != exp.model.model_dump() or run.spec.get("data") != exp.data.model_dump()
                or {k: v for k, v in run.spec.get("train", {}).items() if k not in ("epochs", "frames", "engine")}
                != {k: v for k, v in exp.train.model_dump().items() if k not in ("epochs", "frames", "engine")}):
            continue  # another experiment under this id (cannot happen with content ids, but never resume it)
        if best is None or run.steps > best.steps:
            best = run
    return best


def _as_one_segment(run: Run, exp: Experiment) -> Run:
    """A checkpointed run trained one setting throughout: its record says so, with the planned settings."""
    if len(run.segments) > 1:
        first = run.segments[0]
        run.spec = {**run.spec, "train": first["train"]}
        run.segments = [{**first, "steps": run.steps, "status": run.status, "checkpoints": len(run.segments) - 1}]
    return run
