"""How many epochs a resumed run trains when the caller does not say: the rest of an interrupted one."""

from __future__ import annotations

from typing import Any

from ..errors import SpecError


def resume_epochs(run: Any, epochs: int | None) -> int:
    """``epochs`` when given; else what the run's last part had left when it was interrupted (the partial
    epoch it stopped in counts as one, as `train(resume=...)` finishes that epoch first)."""
    if epochs is not None:
        return epochs
    if run.training_state is None:
        raise SpecError("resume", "a run folder with its training state (state.npz)", run.name,
                        hint="runs saved by mlplab 0.x before resumable runs can only be trained again")
    last = run.segments[-1] if run.segments else {}
    planned = (last.get("train") or {}).get("epochs") or (last.get("changed") or {}).get("epochs")
    if run.status != "interrupted" or not planned:
        raise SpecError("--epochs", "how many epochs to add (the run finished what it was asked to do)", None)
    per_epoch = batches_per_epoch(run)
    left = planned * per_epoch - int(last.get("steps", 0))
    return max(1, -(-left // per_epoch))


def batches_per_epoch(run: Any) -> int:
    """Optimizer steps in one epoch of ``run``, as its training settings cut its training rows."""
    n = len(run.data.X) if run.data is not None else 0
    batch = min((run.spec.get("train") or {}).get("batch_size") or n, n)
    return max(1, -(-n // max(batch, 1)))
