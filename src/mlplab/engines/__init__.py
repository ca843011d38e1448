"""Engines: what computes a training step. `choose` picks one by ``train.engine`` (see `base.Engine`)."""

from __future__ import annotations

from typing import Any

from torch import nn

from ..errors import SpecError
from .base import Engine
from .compiled import CompiledEngine
from .fused import FusedEngine, StackedEngine
from .scratch import ScratchEngine
from .torch import TorchEngine

ENGINES: dict[str, type[Engine]] = {
    "torch": TorchEngine, "fused": FusedEngine, "numpy": ScratchEngine, "stacked": StackedEngine,
    "compiled": CompiledEngine,
}
AUTO = (CompiledEngine, FusedEngine)  # "auto" tries these in turn, then torch


def choose(name: str, model: nn.Module, spec: Any, task: str) -> type[Engine]:
    """The engine ``name`` asks for, or for "auto" the fastest one that runs this model: the compiled
    engine (where numba is installed), else the fused NumPy engine, else torch. An engine asked for by
    name that cannot run the spec is refused, never swapped."""
    if name == "auto":
        for cls in AUTO:
            if cls.refuses(model, spec, task) is None:
                return cls
        name = "torch"  # runs every model; refused below only for what no engine runs
    if name not in ENGINES:
        raise SpecError("train.engine", f"one of auto, {', '.join(ENGINES)}", name)
    cls = ENGINES[name]
    why = cls.refuses(model, spec, task)
    if why is not None:
        raise SpecError("train.engine", f"an engine that can train this spec ({name!r} cannot: {why})", name,
                        hint="use engine = 'auto' to let mlplab pick one that can")
    return cls


__all__ = ["ENGINES", "CompiledEngine", "Engine", "FusedEngine", "ScratchEngine", "StackedEngine", "TorchEngine", "choose"]
