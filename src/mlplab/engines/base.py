"""What an engine is: the small object the one training loop drives. Engines compute; they never record,
print, or decide when to stop.

The loop calls, per step, ``step(idx) -> (loss, out)`` (forward and backward at the current weights, on
the rows ``idx`` or on all rows when ``idx`` is None) and then ``update()`` (one optimizer step). Between
the two, callbacks see the step's loss and outputs, and the models still hold the weights that produced
them. ``predict`` is an evaluation-mode forward pass; ``lr`` can be changed between steps;
``state_dict`` gives parameters and float buffers by name. Every engine keeps its torch models in step
with its own weights (shared memory, or a copy at each read), so anything that reads a model sees the
current values. ``finish`` gives the models their own memory back.

Shapes: one run, X (n, d_in) -> outputs (n, d_out), loss a NumPy float32 scalar. The stacked engine has
a leading run axis: X (R, n, d_in) -> (R, n, d_out), loss (R,).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Sequence

import numpy as np
from torch import nn


class Engine(ABC):
    name = "engine"
    stacked = False  # True: a leading run axis (several runs at once)

    @classmethod
    def refuses(cls, model: nn.Module, spec: Any, task: str) -> str | None:
        """Why this engine cannot train ``model`` as ``spec`` says (None: it can)."""
        return None

    @abstractmethod
    def __init__(self, models: Sequence[nn.Module], spec: Any, X: np.ndarray, Y: np.ndarray,
                 lr: Sequence[float] | None = None, weight_decay: Sequence[float] | None = None):
        """Take the models' weights (the models then show the engine's values) and the data."""

    @abstractmethod
    def step(self, idx: np.ndarray | None) -> tuple[Any, np.ndarray | None]:
        """Forward and backward at the current weights: (loss, outputs or None)."""

    @abstractmethod
    def update(self) -> None:
        """One optimizer step with the gradients of the last `step`."""

    @abstractmethod
    def predict(self, X: np.ndarray) -> np.ndarray:
        """Evaluation-mode outputs of the current weights."""

    @property
    @abstractmethod
    def lr(self) -> Any:
        """The learning rate; settable between steps."""

    @abstractmethod
    def state_dict(self) -> dict[str, np.ndarray]:
        """Parameters and float buffers by name (views: copy to keep)."""

    @abstractmethod
    def optimizer_state(self) -> Any:
        """What `load_optimizer_state` needs to continue exactly (resume)."""

    @abstractmethod
    def load_optimizer_state(self, state: Any) -> None:
        """Continue from `optimizer_state`."""

    def finish(self) -> None:
        """The training is over: the torch models hold the final weights in memory of their own."""
