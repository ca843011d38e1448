"""Which runs of a sweep can train together on the stacked engine, and in which groups.

Runs in a group may differ in seed (data and initialisation), learning rate, weight decay, data noise
and init; everything that sets a shape or the code path (architecture, epochs, optimizer kind, loss)
must be equal (`group_key`). Runs whose spec asks for a particular engine other than stacked train
one by one on it.
"""

from __future__ import annotations

import json
from typing import Sequence

from ..specs import Experiment

# Fields that may differ inside one stacked group: they change values, never shapes or code paths.
PER_RUN = {
    "data": ("seed", "noise"),
    "model": ("init", "init_std_w", "init_std_b", "init_value"),
    "train": ("seed", "lr", "weight_decay"),
}


def may_stack(exp: Experiment) -> bool:
    """A training run whose engine is left to mlplab ("auto") or asked to be stacked."""
    return exp.kind == "train" and exp.train.engine in ("auto", "stacked")


def group_key(exp: Experiment) -> str:
    """Runs with equal keys can share one stacked model (equal shapes and code path)."""
    spec = exp.model_dump(exclude={"name", "title", "description", "notebook", "view"})
    for section, fields in PER_RUN.items():
        for f in fields:
            spec[section].pop(f, None)
    return json.dumps(spec, sort_keys=True, default=str)


def split_groups(experiments: Sequence[Experiment]) -> list[list[int]]:
    """Indices of ``experiments`` grouped by `group_key` (stackable ones) or alone (the rest), in order."""
    groups: dict[str, list[int]] = {}
    for i, e in enumerate(experiments):
        key = group_key(e) if may_stack(e) else f"alone:{i}"
        groups.setdefault(key, []).append(i)
    return list(groups.values())


def chunks(indices: list[int], size: int) -> list[list[int]]:
    return [indices[i : i + size] for i in range(0, len(indices), size)]
