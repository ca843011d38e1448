"""The from-scratch engine: `mlplab.autograd`'s NumPy MLP, whose every operation has its VJP written
beside it. It is the teaching engine: slower than `FusedEngine`, and readable step by step.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from ..autograd.mlp import MLP
from ..errors import SpecError
from ..optim import make_optimizer
from .base import Engine


class ScratchEngine(Engine):
    name = "numpy"

    @classmethod
    def refuses(cls, model: nn.Module, spec: Any, task: str) -> str | None:
        if spec.optimizer == "lbfgs":
            return "an optimizer it has code for (L-BFGS runs on the torch engine)"
        try:
            MLP.from_torch(model)
        except SpecError as exc:
            return f"layers the NumPy engine has code for ({exc})"
        return None

    def __init__(self, models: Sequence[nn.Module], spec: Any, X: np.ndarray, Y: np.ndarray,
                 lr: Sequence[float] | None = None, weight_decay: Sequence[float] | None = None):
        (self.model,) = models
        self.net = MLP.from_torch(self.model)
        self._bind()
        self.X, self.Y, self.loss_kind = X, Y, spec.loss
        self.opt = make_optimizer(spec)
        self._errstate = np.errstate(over="ignore", invalid="ignore", divide="ignore")
        self._errstate.__enter__()

    def _bind(self) -> None:
        """The torch model's parameters and buffers become views of the engine's arrays (shared memory)."""
        for name, p in self.model.named_parameters():
            p.data = torch.from_numpy(self.net.params[name])
        for name, value in self.net.buffers.items():
            module_name, _, attr = name.rpartition(".")
            if value.dtype == np.float32:
                setattr(self.model.get_submodule(module_name), attr, torch.from_numpy(value))

    def step(self, idx: np.ndarray | None) -> tuple[Any, np.ndarray | None]:
        xb, yb = (self.X, self.Y) if idx is None else (self.X[idx], self.Y[idx])
        loss, _ = self.net.loss_and_grads(xb, yb, self.loss_kind)
        return np.float32(loss), (self.net.last_output if idx is None else None)

    def update(self) -> None:
        self.opt.step(self.net.flat, self.net.last_flat_grad)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.net.forward(np.asarray(X, np.float32))

    @property
    def lr(self) -> Any:
        return self.opt.lr

    @lr.setter
    def lr(self, value: Any) -> None:
        self.opt.lr = value

    def state_dict(self) -> dict[str, np.ndarray]:
        return {**self.net.params, **{k: v for k, v in self.net.buffers.items() if v.dtype.kind == "f"}}

    def optimizer_state(self) -> Any:
        return self.opt.state_dict()

    def load_optimizer_state(self, state: Any) -> None:
        self.opt.load_state_dict(state)

    def finish(self) -> None:
        nbt = {k: v for k, v in self.net.buffers.items() if k.endswith("num_batches_tracked")}
        state = self.model.state_dict()
        for k, v in nbt.items():
            state[k].fill_(int(v))
        for p in self.model.parameters():
            p.data = p.data.clone()
        for m in self.model.modules():
            if isinstance(m, nn.BatchNorm1d):
                m.running_mean, m.running_var = m.running_mean.clone(), m.running_var.clone()
        self._errstate.__exit__(None, None, None)
